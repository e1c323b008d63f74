"""`tradeoff bench`: a fresh-process re-measurement, per-requirement verdicts, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from tradeoff.cli import app
from tradeoff.families import to_onnx

runner = CliRunner()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bench") / "model.onnx"
    path.write_bytes(
        to_onnx(
            nn.Sequential(nn.Flatten(), nn.Linear(40, 32), nn.ReLU(), nn.Linear(32, 10)), (40, 1)
        )
    )
    return path


def _bench(*args: str):
    return runner.invoke(app, ["bench", *args, "--quick", "--json"])


def test_bench_an_onnx_file_checks_the_given_limits(model_file):
    result = _bench(str(model_file), "--max-latency-ms", "1000", "--max-size-mb", "0.000001")
    assert result.exit_code == 1, result.output  # the size limit does not hold
    report = json.loads(result.output)
    assert report["kind"] == "ONNX file" and report["input_shape"] == [40, 1]
    checks = {c["requirement"].split()[0]: c["holds"] for c in report["checks"]}
    assert checks == {"p95": True, "size": False}
    latency = report["latency"]
    assert latency["p95_interval_ms"][1] >= latency["p95_ms"] > 0
    assert latency["method"]["runtime"].startswith("onnxruntime")
    assert report["peak_rss_mb"] > 0 and report["throughput_rows_per_s"] > 0


def test_bench_a_bundle_uses_the_card_requirements(model_file, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(model_file.read_bytes())
    (bundle / "card.json").write_text(json.dumps({"requirements": {"max_size_mb": 1.0}}))
    result = _bench(str(bundle))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "bundle"
    assert [c["holds"] for c in report["checks"]] == [True]


@pytest.mark.parametrize(
    ("make", "culprit"),
    [
        (lambda p: p / "missing.onnx", "no such file"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "expected a .onnx"),
        (
            lambda p: (p / "bad.onnx").write_text("not onnx") and p / "bad.onnx",
            "not a readable ONNX",
        ),
        (lambda p: p, "not a run folder"),
    ],
)
def test_bench_bad_input_is_one_line_and_exit_2(tmp_path, make, culprit):
    target = make(tmp_path)
    result = runner.invoke(app, ["bench", str(target), "--quick"])
    assert result.exit_code == 2
    assert culprit in result.output and "Traceback" not in result.output


def test_bench_a_run_folder_measures_its_selected_model(tmp_path):
    import tradeoff
    from tradeoff.measure import QUICK_PROTOCOL
    from tradeoff.search import SearchSettings, run_search

    out = tmp_path / "run"
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=1,
        families=("linear",),
        protocol=QUICK_PROTOCOL,
        compression=None,
    )
    req = tradeoff.Requirements(max_size_mb=1.0)
    run_search(tradeoff.datasets.load("breast_cancer"), req, out, settings, show_progress=False)
    result = _bench(str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"].startswith("run folder, selected trial #0")
    assert report["input_shape"] == [30]
    assert [c["requirement"] for c in report["checks"]] == ["size <= 1.0 MB"]

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
    from tradeoff.searcher import SearchSettings, run_search

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


def _compressed_bundle(data, out, tolerance: str = "1%"):
    """A bundle whose pick is an int8 variant: its fp32 parent breaks a size limit int8 meets
    (and int8 loses at most ``tolerance`` of its validation accuracy)."""
    import tradeoff
    from tradeoff.compress import QualityTolerance
    from tradeoff.families import deployable, get_family
    from tradeoff.inputs.table import as_shipped
    from tradeoff.measure import QUICK_PROTOCOL
    from tradeoff.prepare import prepare
    from tradeoff.searcher import SearchSettings, run_search
    from tradeoff.searcher.compression import CompressionSettings

    prepared = prepare(data, seed=0)
    mlp = get_family("mlp")
    default = deployable(
        mlp, mlp.defaults(prepared.input_shape), prepared.input_shape, 2, prepared.scaling
    )
    fp32_mb = len(as_shipped(to_onnx(default, prepared.input_shape), prepared)[0]) / 1e6
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=1,  # the MLP at its defaults: a near miss on size, trained for int8 to rescue
        families=("mlp",),
        protocol=QUICK_PROTOCOL,
        compression=CompressionSettings(
            passes=("int8_dynamic",), tolerance=QualityTolerance.parse(tolerance)
        ),
    )
    req = tradeoff.Requirements(max_size_mb=round(0.6 * fp32_mb, 4))
    run_search(data, req, out, settings, prepared=prepared, show_progress=False)
    pick = tradeoff.Run.open(out).select()
    assert pick is not None and pick.compression["pass"] == "int8_dynamic"
    return tradeoff.export(out, out.parent / "model")


@pytest.fixture(scope="module")
def compressed_bundle(tmp_path_factory):
    import tradeoff

    data = tradeoff.datasets.load("breast_cancer")
    return _compressed_bundle(data, tmp_path_factory.mktemp("compressed") / "run")


def test_bench_rechecks_a_compressed_bundles_classes_on_its_check_rows(compressed_bundle):
    card = json.loads((compressed_bundle / "card.json").read_text())
    recipe = card["lineage"]["compression"]["settings"]["recipe"]
    assert {"reduce_range", "isa", "why"} <= set(recipe) and "flags" in recipe["isa"]
    # Check rows come from the validation split (never the test split): up to 256 of them.
    assert card["check"]["split"] == "validation"
    assert card["check"]["rows"] == min(256, card["metrics"]["validation"]["n"]) > 50
    assert card["check"]["agreement"] >= 0.9
    result = _bench(str(compressed_bundle))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["agreement"]["agreement"] == card["check"]["agreement"]  # same CPU: same classes
    assert report["agreement"]["holds"] is True


def _with_flipped_classes(bundle, copy):
    """A copy of ``bundle`` as a CPU whose kernels differ would see it: a tenth of its check
    rows' reference classes no longer match the parent's."""
    import shutil

    import numpy as np

    shutil.copytree(bundle, copy)
    with np.load(copy / "check.npz", allow_pickle=False) as arrays:
        saved = {k: arrays[k] for k in arrays.files}
    n = len(saved["reference_classes"])
    saved["reference_classes"][: n // 10] = 1 - saved["reference_classes"][: n // 10]
    np.savez_compressed(copy / "check.npz", **saved)
    return copy


def test_bench_fails_in_one_line_when_agreement_falls_below_the_recorded_one(
    compressed_bundle, tmp_path
):
    copy = _with_flipped_classes(compressed_bundle, tmp_path / "model")
    result = runner.invoke(app, ["bench", str(copy), "--quick"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "below the" in lines[0] and "recorded at export" in lines[0]


def test_bench_on_a_target_rechecks_the_classes_there(compressed_bundle, tmp_path):
    """The check rows travel to the agent: the int8 kernels that matter are the target's."""
    from agent_process import agent_process

    token = tmp_path / "token"
    token.write_text("t" * 32)
    tampered = _with_flipped_classes(compressed_bundle, tmp_path / "model")
    with agent_process(tmp_path / "agent") as (url, _):
        target = ["--agent", url, "--agent-token-file", str(token), "--quick"]
        result = runner.invoke(app, ["bench", str(compressed_bundle), *target, "--json"])
        assert result.exit_code == 0, result.output
        [there] = json.loads(result.output)["agreements"]
        card = json.loads((compressed_bundle / "card.json").read_text())
        assert there["where"] == f"agent {url}" and there["holds"]
        assert there["agreement"] == card["check"]["agreement"]  # loopback: this CPU's kernels
        # Classes that no longer match on the target: exit 1, one line naming it.
        result = runner.invoke(app, ["bench", str(tampered), *target])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"agent {url}" in lines[0] and "below the" in lines[0]


def test_bench_on_a_target_rechecks_a_table_bundle_of_raw_columns_there(tmp_path):
    """A bundle taking a table's raw columns (numbers and a text category): each input's
    check rows travel to the agent by name."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    import tradeoff
    from agent_process import agent_process

    frame = load_breast_cancer(as_frame=True).frame
    frame["site"] = np.random.default_rng(0).choice(["north", "south", "east"], len(frame))
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    data = tradeoff.datasets.load(tmp_path / "cancer.csv", target="target")
    # 91 validation rows: a variant flipping 2 of them is within 10 %, not within 1 %.
    bundle = _compressed_bundle(data, tmp_path / "run", tolerance="10%")
    card = json.loads((bundle / "card.json").read_text())
    assert [i["dtype"] for i in card["input"]["inputs"]] == ["float32", "string"]
    token = tmp_path / "token"
    token.write_text("t" * 32)
    with agent_process(tmp_path / "agent") as (url, _):
        target = ["--agent", url, "--agent-token-file", str(token), "--quick", "--json"]
        result = runner.invoke(app, ["bench", str(bundle), *target])
    assert result.exit_code == 0, result.output
    [there] = json.loads(result.output)["agreements"]
    assert there["where"] == f"agent {url}" and there["holds"]
    assert there["agreement"] == card["check"]["agreement"]  # loopback: this CPU's kernels
    assert there["rows"] == card["check"]["rows"] > 50

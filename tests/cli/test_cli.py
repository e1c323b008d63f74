"""The command line: bad flags exit 2 with one line; --json prints one object for scripts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tradeoff.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["search", "mnist1d", "--max-latency-ms", "-1", "--out", "{out}"], "--max-latency-ms"),
        (["search", "mnist1d", "--max-size-mb", "0", "--out", "{out}"], "--max-size-mb"),
        (["search", "nope", "--out", "{out}"], "unknown data set 'nope'"),
        (["search", "mnist1d", "--families", "cnn,foo", "--out", "{out}"], "unknown family 'foo'"),
        (["search", "breast_cancer", "--families", "cnn", "--out", "{out}"], "does not serve"),
        (["search", "mnist1d", "--time-budget", "soon", "--out", "{out}"], "--time-budget"),
        (["search", "mnist1d", "--metric", "vibes", "--out", "{out}"], "--metric"),
        (["search", "mnist1d"], "--out"),
        (["search", "--resume", "{out}"], "no run.json"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, culprit):
    out = tmp_path / "run"
    result = runner.invoke(app, [a.replace("{out}", str(out)) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert culprit in lines[0]
    assert not out.exists()


def test_search_json_reports_the_pick_and_counts(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "search",
            "--quick-latency",
            "mnist1d",
            "--families",
            "linear",
            "--trials",
            "2",
            "--max-size-mb",
            "1",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    pick = summary["pick"]
    assert pick["family"] == "linear" and isinstance(pick["trial"], int)
    assert 0.0 < pick["val_metric"] <= 1.0 and 0.0 < pick["test_metric"] <= 1.0
    assert pick["p95_ms"] > 0 and 0 < pick["size_mb"] <= 1
    assert summary["counts"]["trials"] == 2
    assert summary["counts"]["train_seconds_on_cost_infeasible"] == 0.0
    assert (out / "study.db").exists() and (out / "run.json").exists()


def test_every_command_has_help():
    for command in ("demo", "search", "families", "datasets"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output

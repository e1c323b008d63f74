""" "Nothing meets the requirements" is an answer: exit 1, the cheapest figures, the least relaxations."""

from __future__ import annotations

import json
import subprocess
import sys

from tradeoff.searcher import open_study
from tradeoff.searcher.gates import MIN_MEASURED

# --cv off: breast_cancer's validation split is small enough for --cv auto to rank on folds,
# which these tests do not need (tests/searcher/test_cv.py does).
FAST = ["--quick-latency", "--no-compress", "--max-epochs", "3", "--cv", "off"]


def test_an_impossible_limit_exits_1_early_with_the_cheapest_figures_and_relaxations(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "tradeoff", "search", "mnist1d", *FAST]
        + ["--families", "linear,mlp,ensemble", "--max-latency-ms", "1e-6"]
        + ["--time-budget", "10m", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pick"] is None
    answer = summary["no_pick"]
    # Screening showed within its first candidates that nothing comes near: the budget is not spent.
    assert "none came within" in answer["stopped_early"]
    trials = open_study(out).get_trials(deepcopy=False)
    measured = [t for t in trials if "cost" in t.user_attrs]
    assert MIN_MEASURED <= len(measured) <= MIN_MEASURED + 2
    fastest = min(t.user_attrs["cost"]["p95_ms"] for t in measured)
    smallest = min(t.user_attrs["cost"]["size_mb"] for t in measured)
    assert answer["fastest_p95_ms"]["value"] == fastest
    assert answer["smallest_size_mb"]["value"] == smallest
    [latency] = answer["relaxations"]  # the only requirement set
    assert latency["flag"] == "--max-latency-ms" and latency["current"] == 1e-6
    assert latency["needed"] >= fastest and latency["needs_training"] and latency["pick"] is None
    # An ensemble is never drawn while it has no members: only its queued default ran (skipped).
    assert sum(t.params.get("family") == "ensemble" for t in trials) <= 1


def test_when_only_quality_fails_the_relaxation_names_what_select_would_pick(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "tradeoff", "search", "breast_cancer", *FAST]
        + ["--families", "linear", "--min-quality", "1.01", "--trials", "2"]
        + ["--out", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    [quality] = json.loads(result.stdout)["no_pick"]["relaxations"]
    assert quality["flag"] == "--min-quality" and not quality["needs_training"]
    trained = [t for t in open_study(out).get_trials() if t.user_attrs.get("val_metric")]
    best = max(trained, key=lambda t: t.user_attrs["val_metric"])
    assert quality["pick"] == best.number
    assert quality["needed"] <= best.user_attrs["val_metric"]

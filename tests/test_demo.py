"""The main job, end to end, as a user runs it (slow: the demo's full default budget)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tradeoff.cli.search import DEMO_REQUIREMENTS


@pytest.mark.slow
def test_demo_picks_an_accurate_model_that_meets_its_requirements(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tradeoff", "demo", "--out", str(tmp_path / "demo"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(result.stdout)
    pick = summary["pick"]
    assert pick["p95_ms"] <= DEMO_REQUIREMENTS.max_latency_ms
    assert pick["size_mb"] <= DEMO_REQUIREMENTS.max_size_mb
    assert pick["test_metric"] >= 0.90
    counts = summary["counts"]
    # No network found infeasible was trained; gbdt's cost is only known after fitting it.
    assert counts["train_seconds_on_cost_infeasible"] == counts["fit_seconds_before_cost_known"]
    assert summary["counts"]["infeasible_untrained"] >= 1  # the requirements bind

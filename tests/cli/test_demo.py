"""The main job: limits derived on the machine at hand, a pick under them, and the demo end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

import tradeoff
from conftest import QUICK_PROTOCOL
from tradeoff.cli.search import (
    DEMO_LATENCY_FACTOR,
    DEMO_MAX_SIZE_MB,
    demo_requirements,
    measure_reference,
)
from tradeoff.measure import REFERENCE_NAME, Latency
from tradeoff.searcher import SearchSettings, load_run_info, run_search


def _reference(p50_ms: float, p95_ms: float) -> Latency:
    return Latency(p50_ms, p95_ms, p95_ms, p50_ms, 2000, {"threads": 1, "batch": 1})


def test_demo_latency_limit_is_a_multiple_of_the_reference_measured_here():
    slow, fast = _reference(0.0105, 0.031), _reference(0.0049, 0.0062)  # two machines, issue 12
    (req_slow, origin), (req_fast, _) = demo_requirements(slow), demo_requirements(fast)
    assert req_slow.max_latency_ms == pytest.approx(DEMO_LATENCY_FACTOR * 0.031, rel=1e-2)
    assert req_fast.max_latency_ms == pytest.approx(DEMO_LATENCY_FACTOR * 0.0062, rel=1e-2)
    assert req_slow.max_size_mb == req_fast.max_size_mb == DEMO_MAX_SIZE_MB  # size: same anywhere
    how = origin["max_latency_ms"]
    assert how["reference_p95_ms"] == 0.031 and how["factor"] == DEMO_LATENCY_FACTOR
    assert REFERENCE_NAME in how["rule"] and how["method"] == {"threads": 1, "batch": 1}


def test_limits_derived_here_admit_a_pick_and_are_recorded(tmp_path, mnist1d):
    # Enough calls that p95's upper bound is not the noise of a hundred calls on a busy machine.
    protocol = replace(QUICK_PROTOCOL, min_calls=1000, min_seconds=1.0)
    req, origin = demo_requirements(measure_reference(protocol))
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=3,
        families=("linear", "transformer"),
        max_epochs=3,
        protocol=protocol,
        compression=None,
        requirements_origin=origin,
    )
    run_search(mnist1d, req, tmp_path / "run", settings, show_progress=False)
    run = tradeoff.Run.open(tmp_path / "run")
    assert run.select() is not None  # the linear model fits limits derived from this machine
    assert load_run_info(tmp_path / "run")["requirements_origin"] == origin


@pytest.mark.slow
def test_demo_picks_an_accurate_model_that_meets_its_requirements(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "tradeoff", "demo", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(result.stdout)
    req = summary["requirements"]
    assert summary["requirements_origin"] == load_run_info(out)["requirements_origin"]
    pick = summary["pick"]
    assert pick["p95_high_ms"] <= req["max_latency_ms"]
    assert pick["size_mb"] <= req["max_size_mb"]
    # What fits a limit derived from timings depends on the machine's load (a pick near the
    # limit once scored 0.622 in CI), so the verdict is on what does not: the pick is the most
    # accurate candidate meeting the limits, and the search trained accurate models.
    run = tradeoff.Run.open(out)
    trials = run.trials()
    assert pick["trial"] == run.select().number
    assert max(r.val_metric for r in trials if r.trained) >= 0.90
    assert 0.0 <= pick["test_metric"] <= 1.0
    counts = summary["counts"]
    # No network found infeasible was trained; gbdt's cost is only known after fitting it.
    assert counts["train_seconds_on_cost_infeasible"] == counts["fit_seconds_before_cost_known"]
    assert summary["counts"]["infeasible_untrained"] >= 1  # the requirements bind

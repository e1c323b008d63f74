"""The benchmark harness's pieces on tiny budgets (benchmarks/ is not shipped; run from the repo root)."""

from __future__ import annotations

import pytest

import tradeoff
from tradeoff.prepare import prepare
from tradeoff.requirements import Requirements
from tradeoff.searcher import records

contenders = pytest.importorskip("benchmarks.contenders")
bench_run = pytest.importorskip("benchmarks.run")


@pytest.fixture(scope="module")
def cancer():
    data = tradeoff.datasets.load("breast_cancer")
    return data, prepare(data, seed=0)


def test_naive_search_trains_every_candidate_and_counts_the_waste(cancer, tmp_path):
    data, prepared = cancer
    # A size limit no MLP at its smallest meets, while the linear model does.
    req = Requirements(max_latency_ms=1.0, max_size_mb=0.002)
    study, store = contenders.run_naive(
        "nsga2", prepared, req, ["linear", "mlp"], budget_s=6, seed=0, out=tmp_path, max_epochs=3
    )
    result = contenders.outcome("nsga2", study, store, prepared, req, 6.0, q_ref=0.5)
    assert result.trials == result.trained >= 2  # nothing is screened out before training
    broken = [t for t in study.trials if t.user_attrs["cost"]["size_mb"] > req.max_size_mb]
    assert broken, "expected some MLP to break the size limit"
    wasted = sum(t.user_attrs["train_seconds"] for t in broken)
    assert result.wasted_train_s == pytest.approx(wasted) and wasted > 0
    for trial in study.trials:  # what NSGA-II's constraints_func reads: <= 0 within the limits
        latency, size, *_ = trial.user_attrs[contenders.CONSTRAINTS]  # each cost axis, quality
        assert (size > 0) == (trial.user_attrs["cost"]["size_mb"] > req.max_size_mb)
    if result.feasible:
        assert result.pick_family == "linear" and 0.5 < result.test.value <= 1.0
        assert 0.0 < result.hypervolume <= 1.0


def test_tradeoff_contender_spends_no_training_on_cost_infeasible_networks(cancer, tmp_path):
    data, prepared = cancer
    req = Requirements(max_latency_ms=1.0, max_size_mb=0.002)
    study, store = contenders.run_tradeoff(
        data, prepared, req, 60, 0, tmp_path / "run", families=("linear", "mlp"), n_trials=4,
        max_epochs=3,
    )  # fmt: skip
    result = contenders.outcome("tradeoff", study, store, prepared, req, 1.0, q_ref=0.5)
    statuses = [r.status for r in records(study)]
    assert "infeasible" in statuses  # the default MLP (0.08 MB) is screened out
    assert result.pick_family == "linear" and result.wasted_train_s == 0.0


def test_results_section_is_replaced_not_duplicated(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Other\n\nkept\n")
    bench_run.write_section(path, ["## Search vs. alternatives", "first"])
    bench_run.write_section(path, ["## Search vs. alternatives", "second"])
    text = path.read_text()
    assert "kept" in text and "second" in text and "first" not in text
    assert text.count(bench_run.START) == 1

"""The shared rules (tradeoff.rules); the search and report under a lower-is-better metric; a
memory limit seen by every rule that looks at limits.

Metric direction used to be re-derived in each part (``sign * value``); two parts missed it:
compression offered distillation only to the *worst* parent under log loss, and the report's
hypervolume was 0 for every lower-is-better metric. The searches here are small and real.
"""

from __future__ import annotations

import pytest

import tradeoff
from conftest import QUICK_PROTOCOL, small_mnist1d
from tradeoff.frontier import Run
from tradeoff.records import TrialRecord
from tradeoff.report import build_report
from tradeoff.report.build import _progress
from tradeoff.requirements import COST_LIMITS, Requirements
from tradeoff.rules import (
    Objective,
    constraint_values,
    cost_figures,
    dominates,
    meets,
    pareto_fronts,
)
from tradeoff.searcher import SearchSettings, open_study, run_search
from tradeoff.searcher.gates import MIN_MEASURED, STOPPED_EARLY
from tradeoff.selection import pareto_front


def test_objective_follows_the_metrics_direction():
    loss, accuracy = Objective(higher_is_better=False), Objective(higher_is_better=True)
    assert loss.better(0.2, 0.3) and not loss.better(0.3, 0.2)
    assert accuracy.better(0.3, 0.2) and not accuracy.better(0.2, 0.2)
    assert loss.best([0.4, 0.2, 0.3]) == 0.2 and accuracy.best([0.4, 0.2, 0.3]) == 0.4
    assert loss.best([]) is None
    assert sorted([0.4, 0.2, 0.3], key=loss.key, reverse=True) == [0.2, 0.3, 0.4]
    assert Objective.of(Requirements(metric="rmse")) == loss
    assert Objective.of(Requirements()) == accuracy  # the task defaults: accuracy, R²


def test_pareto_order_and_domination():
    assert dominates((0.9, 1.0), (0.8, 1.0)) and dominates((0.9, 1.0), (0.9, 2.0))
    assert not dominates((0.9, 1.0), (0.9, 1.0)) and not dominates((0.9, 2.0), (0.8, 1.0))
    points = [(0.9, 2.0), (0.8, 1.0), (0.7, 3.0), (0.6, 4.0)]
    assert pareto_fronts(points, lambda p: p) == [
        [(0.9, 2.0), (0.8, 1.0)],
        [(0.7, 3.0)],
        [(0.6, 4.0)],
    ]
    # Under a loss the front keeps the lowest losses: 0.2 at 2 ms, 0.3 at 1 ms.
    records = [
        TrialRecord(n, "trained", "mlp", val_metric=q, p95_ms=c, size_mb=0.1)
        for n, (q, c) in enumerate([(0.2, 2.0), (0.3, 1.0), (0.5, 3.0)])
    ]
    assert [r.number for r in pareto_front(records, higher_is_better=False)] == [1, 0]
    assert [r.number for r in pareto_front(records, higher_is_better=True)] == [1, 2]


def _record(**figures) -> TrialRecord:
    base = {"val_metric": 0.9, "p95_ms": 1.0, "p95_high_ms": 1.2, "size_mb": 1.0}
    return TrialRecord(0, "trained", "mlp", **(base | figures))


def test_every_cost_axis_is_seen_by_meets_and_the_constraints():
    req = Requirements(
        max_latency_ms=1.1,
        max_size_mb=2.0,
        max_memory_mb=50.0,
        min_throughput=1000.0,
        throughput_batch=8,
    )
    fits = dict(inference_rss_mb=40.0, throughput_rows_per_s=2000.0, throughput_batch=8)
    # Latency is checked on p95's upper bound (1.2 > 1.1).
    assert cost_figures(_record(**fits), req) == {
        "latency": 1.2,
        "size": 1.0,
        "memory": 40.0,
        "throughput": 2000.0,
    }
    assert not meets(_record(**fits), req)
    assert meets(_record(**fits, p95_high_ms=1.05), req)
    assert not meets(_record(**(fits | {"inference_rss_mb": 60.0}), p95_high_ms=1.05), req)
    assert not meets(_record(**(fits | {"throughput_batch": 1}), p95_high_ms=1.05), req)
    values = constraint_values(req, cost_figures(_record(**fits), req), 0.5)
    assert set(values) == {*COST_LIMITS, "quality"}
    assert values["latency"] == pytest.approx(0.1) and values["size"] == -1.0
    assert values["memory"] == -10.0 and values["throughput"] == -1000.0  # a floor: limit - figure
    over = constraint_values(req, {"memory": 80.0, "throughput": 400.0}, None)
    assert over["memory"] == 30.0 and over["throughput"] == 600.0
    assert over["latency"] == 0.0 and over["quality"] == 0.0  # not measured: within
    floor = Requirements(metric="log_loss", min_quality=0.5)
    assert constraint_values(floor, {}, 0.7)["quality"] == pytest.approx(0.2)  # 0.2 over a loss cap
    assert constraint_values(floor, {}, 0.4)["quality"] == pytest.approx(-0.1)


def _hypervolumes(run: Run) -> list[float]:
    frozen = {t.number: t for t in run.study.get_trials(deepcopy=False)}
    _, hv, _ = _progress(run.trials(), frozen, run.requirements)
    return hv


def test_log_loss_search_distils_for_the_best_parent_and_the_report_has_area(tmp_path):
    out = tmp_path / "run"
    run = tradeoff.search(
        small_mnist1d(),
        Requirements(metric="log_loss"),
        out=out,
        n_trials=2,  # the defaults: a linear model, then a CNN (3x slower: a clear teacher)
        time_budget=None,
        families=["linear", "cnn"],
        max_epochs=8,
        quick_latency=True,
        compress=["distill"],
        cv=None,
        show_progress=False,
    )
    trials = run.trials()
    by_number = {r.number: r for r in trials}
    variants = [r for r in trials if r.parent_trial is not None]
    assert variants and {v.compression["pass"] for v in variants} == {"distill"}
    for v in variants:
        parent = by_number[v.parent_trial]
        earlier = [
            r for r in trials if r.trained and r.parent_trial is None and r.number < parent.number
        ]
        assert earlier, "a student is an earlier, cheaper trained candidate"
        # The best log loss so far (the lowest) teaches.
        assert all(parent.val_metric < r.val_metric for r in earlier)
        assert v.compression["settings"]["student_trial"] in {r.number for r in earlier}
    hv = _hypervolumes(run)
    assert hv[-1] > 0.0
    assert build_report(run).exists()


def test_rmse_search_report_has_area(tmp_path):
    run = tradeoff.search(
        "diabetes",
        Requirements(metric="rmse"),
        out=tmp_path / "run",
        n_trials=2,
        time_budget=None,
        families=["linear", "mlp"],
        max_epochs=8,
        quick_latency=True,
        cv=None,
        show_progress=False,
    )
    assert any(r.feasible for r in run.trials())
    hv = _hypervolumes(run)
    assert hv[-1] > 0.0 and hv == sorted(hv)  # a front only grows
    assert build_report(run).exists()


def test_a_memory_limit_alone_is_seen_by_the_sampler_the_near_miss_rule_and_the_early_stop(
    tmp_path,
):
    out = tmp_path / "run"
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=MIN_MEASURED + 6,
        families=("linear", "mlp"),
        protocol=QUICK_PROTOCOL,
        max_epochs=2,
    )
    # No latency or size limit: an inference process adds megabytes, far over 0.01 MB.
    req = Requirements(max_memory_mb=0.01)
    run_search(small_mnist1d(), req, out, settings, show_progress=False)
    study = open_study(out)
    trials = study.get_trials(deepcopy=False)
    assert trials and all(t.user_attrs["status"] == "infeasible" for t in trials)
    for t in trials:
        # Measured and rejected on memory; more than 2x over, so never trained as a near miss
        # (compression is on: networks within its margin would be trained).
        assert t.user_attrs["train_seconds"] == 0.0
        assert [v["axis"] for v in t.user_attrs["violations"]] == ["memory"]
        memory = t.user_attrs["cost"]["inference_rss_mb"]
        assert t.constraints["memory"] == pytest.approx(memory - 0.01)
        assert t.constraints["memory"] > 0.0
        assert t.constraints["latency"] == t.constraints["size"] == 0.0
    # The early stop saw it: it stopped after MIN_MEASURED, not the trials asked for.
    assert len(trials) < MIN_MEASURED + 6
    assert "inference memory" in study.user_attrs[STOPPED_EARLY]


def test_near_misses_are_judged_on_every_cost_axis():
    from tradeoff.searcher.settings import CompressionSettings, worth_training

    settings = CompressionSettings()
    floor = Requirements(min_throughput=1000.0)
    assert worth_training(settings, floor, {"throughput": 800.0})  # within 1/1.3 of the floor
    assert not worth_training(settings, floor, {"throughput": 700.0})
    cap = Requirements(max_memory_mb=10.0, max_latency_ms=1.0)
    assert worth_training(settings, cap, {"latency": 1.2, "memory": 12.0})
    assert not worth_training(settings, cap, {"latency": 1.2, "memory": 14.0})
    assert worth_training(settings, cap, {"latency": 1.2})  # memory not measured: within
    assert not worth_training(None, cap, {"latency": 1.2})  # compression off

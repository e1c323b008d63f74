from __future__ import annotations

from tradeoff import Requirements
from tradeoff.frontier import pareto_front, select
from tradeoff.searcher import TrialRecord


def rec(number, quality, p95, size=0.1, status="trained"):
    return TrialRecord(
        number=number, status=status, family="mlp", val_metric=quality, p95_ms=p95, size_mb=size
    )


def test_pareto_front_keeps_only_non_dominated_trained_candidates():
    records = [
        rec(0, 0.90, 0.10),
        rec(1, 0.80, 0.05),
        rec(2, 0.85, 0.20),  # dominated by 0
        rec(3, 0.95, 0.30),
        rec(4, None, 0.01, status="infeasible"),
    ]
    assert [r.number for r in pareto_front(records)] == [1, 0, 3]


def test_select_takes_the_most_accurate_within_every_limit():
    records = [rec(0, 0.90, 0.10, size=2.0), rec(1, 0.80, 0.05), rec(3, 0.95, 0.30)]
    assert select(records, Requirements(max_latency_ms=0.2)).number == 0
    assert select(records, Requirements(max_latency_ms=0.2, max_size_mb=1.0)).number == 1
    assert select(records, Requirements()).number == 3
    assert select(records, Requirements(max_latency_ms=0.01)) is None
    assert select(records, Requirements(min_quality=0.99)) is None


def test_select_breaks_ties_by_latency():
    records = [rec(0, 0.9, 0.2), rec(1, 0.9, 0.1)]
    assert select(records, Requirements()).number == 1

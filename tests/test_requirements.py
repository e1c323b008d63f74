from __future__ import annotations

import math

import pytest

from tradeoff import Requirements, TradeoffError
from tradeoff.requirements import Violation


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"max_latency_ms": -1}, "--max-latency-ms"),
        ({"max_latency_ms": 0}, "--max-latency-ms"),
        ({"max_latency_ms": math.inf}, "--max-latency-ms"),
        ({"max_size_mb": math.nan}, "--max-size-mb"),
        ({"min_quality": math.nan}, "--min-quality"),
        ({"metric": "vibes"}, "--metric"),
    ],
)
def test_invalid_requirements_name_the_flag(kwargs, flag):
    with pytest.raises(TradeoffError, match=flag):
        Requirements(**kwargs)


def test_cost_violations_name_each_broken_limit():
    req = Requirements(max_latency_ms=0.1, max_size_mb=1.0)
    assert req.cost_violations(0.05, 0.5) == []
    reasons = req.cost_violations(0.2, 2.0)
    assert reasons == [Violation("latency", 0.2, 0.1), Violation("size", 2.0, 1.0)]
    assert [str(v) for v in reasons] == ["p95 latency 0.200 ms > 0.1 ms", "size 2.000 MB > 1.0 MB"]


def test_a_violation_reads_back_from_the_study_and_from_old_sentences():
    req = Requirements(max_latency_ms=0.1, max_size_mb=1.0, min_quality=0.9, metric="f1")
    for v in req.violations(0.2, 2.0, 0.5):
        assert Violation.from_stored(v.to_dict()) == v
        assert Violation.from_stored(str(v)) == v
    assert req.violations(0.2, 2.0, 0.5)[-1] == Violation("quality", 0.5, 0.9, "f1")


def test_quality_floor():
    req = Requirements(min_quality=0.9)
    assert req.quality_violation(0.95) is None
    assert req.quality_violation(0.85) == Violation("quality", 0.85, 0.9)
    assert "misses 0.9" in str(req.quality_violation(0.85))

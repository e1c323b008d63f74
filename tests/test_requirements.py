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


def test_memory_and_throughput_requirements_are_validated_and_checked():
    req = Requirements(max_memory_mb=50, min_throughput=1000, throughput_batch=8)
    assert req.batch_for_throughput == 8
    assert Requirements(min_throughput=10).batch_for_throughput == 1
    assert Requirements().batch_for_throughput is None
    assert req.cost_violations(0.1, 0.1, memory_mb=40, throughput=2000) == []
    reasons = req.cost_violations(0.1, 0.1, memory_mb=60, throughput=500)
    assert reasons == [
        Violation("memory", 60, 50),
        Violation("throughput", 500, 1000, batch=8),
    ]
    assert [str(v) for v in reasons] == [
        "inference memory 60.000 MB > 50 MB",
        "throughput 500.000 rows/s at batch 8 < 1000 rows/s",
    ]
    # A throughput floor is a floor: more rows per second than asked is no violation.
    assert req.cost_violations(0.1, 0.1, throughput=1001) == []
    # Unmeasured (None) memory or throughput is not judged here (meets() refuses it).
    assert req.cost_violations(0.1, 0.1) == []
    for v in reasons + req.cost_violations(0.1, 0.1, 60, 500, where="agent http://a:1"):
        assert Violation.from_stored(v.to_dict()) == v
        assert Violation.from_stored(str(v)) == v
        assert v.is_cost
    # Sentences the branch recorded before violations were typed still read back.
    old = Violation.from_stored("throughput 500 rows/s at batch 8 < 1,000 rows/s on agent x")
    assert old == Violation("throughput", 500, 1000, where="agent x", batch=8)
    refused = Violation.from_stored("target http://a:1: model is over the agent's cap of 1 MB")
    assert refused.axis == "refused" and refused.is_cost
    for kwargs, flag in [
        ({"max_memory_mb": 0}, "--max-memory-mb"),
        ({"min_throughput": -1}, "--min-throughput"),
        ({"min_throughput": 1, "throughput_batch": 0}, "--throughput-batch"),
        ({"min_throughput": 1, "throughput_batch": 2.5}, "--throughput-batch"),
        ({"throughput_batch": 4}, "--throughput-batch: give --min-throughput"),
    ]:
        with pytest.raises(TradeoffError, match=flag):
            Requirements(**kwargs)
    # Unset, they stay out of the recorded dict: runs recorded before them compare equal.
    assert "max_memory_mb" not in Requirements(max_latency_ms=1).to_dict()
    assert req.to_dict()["throughput_batch"] == 8

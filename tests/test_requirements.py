from __future__ import annotations

import math

import pytest

from tradeoff import Requirements, TradeoffError


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
    assert len(reasons) == 2 and "latency" in reasons[0] and "size" in reasons[1]


def test_quality_floor():
    req = Requirements(min_quality=0.9)
    assert req.quality_violation(0.95) is None
    assert "misses 0.9" in req.quality_violation(0.85)


def test_memory_and_throughput_requirements_are_validated_and_checked():
    req = Requirements(max_memory_mb=50, min_throughput=1000, throughput_batch=8)
    assert req.batch_for_throughput == 8
    assert Requirements(min_throughput=10).batch_for_throughput == 1
    assert Requirements().batch_for_throughput is None
    assert req.cost_violations(0.1, 0.1, memory_mb=40, throughput=2000) == []
    reasons = req.cost_violations(0.1, 0.1, memory_mb=60, throughput=500)
    assert reasons == [
        "inference memory 60.0 MB > 50 MB",
        "throughput 500 rows/s at batch 8 < 1,000 rows/s",
    ]
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

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

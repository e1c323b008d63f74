"""The p95 interval a sequential latency verdict rests on, on synthetic samples (no timing)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tradeoff.measure import QUICK_PROTOCOL
from tradeoff.measure.latency import (
    MIN_BOOTSTRAP_BLOCKS,
    _bootstrap_percentiles,
    _decisive,
    p95_bounds,
)


def _binom_cdf(j: int, n: int, p: float = 0.95) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(j + 1))


def test_few_blocks_get_order_statistic_bounds_many_get_the_bootstrap():
    ms = np.random.default_rng(0).exponential(1.0, 200)  # 8 blocks of 25: too few to resample
    low, high = p95_bounds(ms, 200)
    ordered = np.sort(ms)
    k = next(j for j in range(200) if _binom_cdf(j, 200) >= 0.975)
    i = max(j for j in range(200) if _binom_cdf(j, 200) <= 0.025)
    assert high == ordered[k] and low == ordered[i] and low < np.percentile(ms, 95) < high
    many = np.random.default_rng(1).exponential(1.0, 25 * MIN_BOOTSTRAP_BLOCKS)
    assert p95_bounds(many, 200) == tuple(_bootstrap_percentiles(many, 200)[1])


def test_the_order_statistic_upper_bound_covers_the_true_p95():
    """Over many samples of 200 calls, the upper bound is under the true p95 at most 2.5 %
    of the time (with slack for the simulation), as a one-sided 97.5 % bound must be."""
    rng = np.random.default_rng(2)
    true_p95 = -np.log(0.05)  # exponential(1)
    misses = sum(p95_bounds(rng.exponential(1.0, 200), 200)[1] < true_p95 for _ in range(2000))
    assert misses / 2000 <= 0.04


def test_too_few_calls_never_give_a_verdict():
    protocol = dataclasses.replace(QUICK_PROTOCOL, screen_margin=1.5)
    few = np.full(50, 0.01)  # 50 calls: no distribution-free upper bound for p95 exists
    assert np.isnan(p95_bounds(few, 200)[1])
    assert _decisive(few, 1000.0, protocol) is None
    enough = np.random.default_rng(3).uniform(0.01, 0.02, 200)
    assert _decisive(enough, 1000.0, protocol) == "under"
    assert _decisive(enough, 1e-6, protocol) == "over"
    # Near the limit: undecided.
    assert _decisive(enough, float(np.percentile(enough, 95)), protocol) is None

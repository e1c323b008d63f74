"""Shared fixtures: one small real search per test session, reused read-only by many tests."""

from __future__ import annotations

import pytest

import tradeoff
from tradeoff.measure import LatencyProtocol

#: Tight enough that some candidates are rejected on size before training.
SMALL_REQUIREMENTS = tradeoff.Requirements(max_latency_ms=1.0, max_size_mb=0.05)
#: A short latency protocol keeps the suite fast; the search default is used in `demo`.
QUICK_PROTOCOL = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


@pytest.fixture(scope="session")
def mnist1d():
    return tradeoff.datasets.load("mnist1d")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, mnist1d):
    """A finished 10-trial search on MNIST-1D (linear, mlp, cnn), 8 epochs a trial at most."""
    from tradeoff.search import SearchSettings, run_search

    out = tmp_path_factory.mktemp("runs") / "small"
    settings = SearchSettings(
        time_budget_s=None, n_trials=10, seed=0, max_epochs=8, protocol=QUICK_PROTOCOL
    )
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)
    return tradeoff.Run.open(out)


@pytest.fixture(scope="session")
def bundle(small_run, tmp_path_factory):
    """The small run's pick, exported once (a bundle folder: model.onnx + card.json)."""
    return tradeoff.export(small_run, tmp_path_factory.mktemp("bundles") / "model")

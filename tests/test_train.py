"""Training's deadline: it holds inside an epoch, not only between epochs."""

from __future__ import annotations

import itertools
import time
import types

import numpy as np
import torch

import tradeoff.train as training
from tradeoff.datasets import Dataset
from tradeoff.families import get_family
from tradeoff.prepare import prepare
from tradeoff.train import Strategy, train


def _table(rows: int = 2_000) -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 4)).astype(np.float32)
    return Dataset("t", X, (X[:, 0] > 0).astype(np.int64), "binary", "tabular")


def test_a_deadline_that_passes_mid_epoch_stops_that_epoch_after_its_current_batch(monkeypatch):
    prepared = prepare(_table(), seed=0)
    torch.manual_seed(0)
    family = get_family("linear")
    model = family.build(family.defaults(prepared.input_shape), prepared.input_shape, 2)
    # A clock that moves one second each time it is read: the epoch's start reads 0, each
    # batch after the first reads the next second, so at 6 the seventh batch does not start.
    clock = itertools.count()
    monkeypatch.setattr(
        training,
        "time",
        types.SimpleNamespace(monotonic=lambda: float(next(clock)), perf_counter=time.perf_counter),
    )
    batch = 32
    result = train(model, prepared, Strategy(max_epochs=5, batch_size=batch), deadline=6.0)
    assert result.stopped_by == "time budget" and result.epochs == 1
    (point,) = result.curve
    assert point["rows"] == 6 * batch < len(prepared.y_train)
    assert np.isfinite(point["val_loss"])  # the cut epoch is validated, and kept as the best
    assert result.best_epoch == 1

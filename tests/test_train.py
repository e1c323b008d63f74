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
    # A clock that moves one second each time it is read. The epoch's start reads it twice
    # (0, 1); before batch k >= 2 it reads k, and the validation still to come is reserved at
    # the epoch's pace: (k - 1) s for 32 (k - 1) rows, over the validation rows. So the
    # seventh batch does not start: 7 + that reserve reaches the deadline.
    batch = 32
    reserve = len(prepared.y_val) / batch
    clock = itertools.count()
    monkeypatch.setattr(
        training,
        "time",
        types.SimpleNamespace(monotonic=lambda: float(next(clock)), perf_counter=time.perf_counter),
    )
    result = train(
        model, prepared, Strategy(max_epochs=5, batch_size=batch), deadline=7.0 + reserve
    )
    assert result.stopped_by == "time budget" and result.epochs == 1
    (point,) = result.curve
    assert point["rows"] == 6 * batch < len(prepared.y_train)
    assert np.isfinite(point["val_loss"])  # the cut epoch is validated, and kept as the best
    assert result.best_epoch == 1


def test_no_epoch_starts_whose_validation_would_end_past_the_deadline(monkeypatch):
    prepared = prepare(_table(), seed=0)
    family = get_family("linear")
    model = family.build(family.defaults(prepared.input_shape), prepared.input_shape, 2)
    now = [0.0]
    monkeypatch.setattr(
        training,
        "time",
        types.SimpleNamespace(monotonic=lambda: now[0], perf_counter=time.perf_counter),
    )

    real_predict = training.predict_in_batches

    def slow_predict(model, X, batch_size=None):  # each validation takes 10 s of the clock
        now[0] += 10.0
        return real_predict(model, X, batch_size)

    monkeypatch.setattr(training, "predict_in_batches", slow_predict)
    # Epochs take no time on this clock; validations 10 s: after epoch 2 (t = 20), a third
    # would validate until 30, past 25.
    result = train(model, prepared, Strategy(max_epochs=5, patience=10), deadline=25.0)
    assert result.stopped_by == "time budget" and result.epochs == 2

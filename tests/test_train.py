"""Training's deadline: it holds inside an epoch, not only between epochs."""

from __future__ import annotations

import itertools
import time
import types

import numpy as np
import pytest
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


def _ticking(monkeypatch) -> itertools.count:
    """A clock that moves one second each time training reads it."""
    clock = itertools.count()
    monkeypatch.setattr(
        training,
        "time",
        types.SimpleNamespace(monotonic=lambda: float(next(clock)), perf_counter=time.perf_counter),
    )
    return clock


def test_a_first_epoch_the_deadline_cuts_is_not_validated_past_it(monkeypatch):
    prepared = prepare(_table(), seed=0)
    torch.manual_seed(0)
    family = get_family("linear")
    model = family.build(family.defaults(prepared.input_shape), prepared.input_shape, 2)
    # The epoch's start reads the clock twice (0, 1); before batch k >= 2 it reads k, and the
    # validation still to come is reserved at the epoch's pace: (k - 1) s for 32 (k - 1) rows,
    # over the validation rows. So the seventh batch does not start: 7 + that reserve reaches
    # the deadline, and the validation it reserved for would end past it.
    batch = 32
    reserve = len(prepared.y_val) / batch
    _ticking(monkeypatch)
    with pytest.raises(training.NoTimeToValidate, match=f"after {6 * batch} rows"):
        train(model, prepared, Strategy(max_epochs=5, batch_size=batch), deadline=7.0 + reserve)


def test_a_later_epoch_the_deadline_cuts_is_validated_and_kept(monkeypatch):
    prepared = prepare(_table(), seed=0)
    torch.manual_seed(0)
    family = get_family("linear")
    model = family.build(family.defaults(prepared.input_shape), prepared.input_shape, 2)
    # An epoch of 32-row batches reads the clock about once a batch, a validation twice (so
    # it reserves 1 s): the first epoch ends near t = 40, the second is cut before t = 60.
    batches = -(-len(prepared.y_train) // 32)
    assert batches < 55  # the first epoch, with its validation, fits before the deadline
    _ticking(monkeypatch)
    result = train(model, prepared, Strategy(max_epochs=5, batch_size=32), deadline=60.0)
    assert result.stopped_by == "time budget" and result.epochs == 2
    first, cut = result.curve
    assert first["rows"] == len(prepared.y_train) and 0 < cut["rows"] < len(prepared.y_train)
    assert np.isfinite(cut["val_loss"])  # the cut epoch is validated


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

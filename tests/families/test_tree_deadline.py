"""Boosted trees stop adding rounds at the search's deadline and keep the rounds they built."""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest

from tradeoff.families import get_family
from tradeoff.families._base import CUT_BY_DEADLINE
from tradeoff.measure import session

ROUNDS = {"gbdt": "max_iter", "lightgbm": "n_estimators", "xgboost": "n_estimators"}


def _n_trees(onnx_bytes: bytes) -> int:
    """Distinct trees in the model's tree-ensemble node(s)."""
    trees = set()
    for node in onnx.load_from_string(onnx_bytes).graph.node:
        for attribute in node.attribute:
            if attribute.name == "nodes_treeids":
                trees.update(attribute.ints)
    return len(trees)


@pytest.mark.parametrize("name", sorted(ROUNDS))
def test_a_fit_past_its_deadline_keeps_only_the_rounds_it_built(name, prepared_by_modality):
    prepared = prepared_by_modality[("tabular", "regression")]
    family = get_family(name)
    params = {**family.defaults(prepared.input_shape), ROUNDS[name]: 200}
    full = family.fit_until(params, prepared, 0, None)
    stopped = family.fit_until(params, prepared, 0, time.monotonic())  # already passed
    assert _n_trees(full.onnx_model) == full.rounds <= 200  # early stopping may keep fewer
    # gbdt looks at the deadline every ten rounds; the boosters after each round.
    assert 1 <= _n_trees(stopped.onnx_model) == stopped.rounds <= 10
    # The cut is recorded: it ranks with fewer rounds, and says so.
    assert (stopped.stopped_by, full.stopped_by) == (CUT_BY_DEADLINE, None)
    assert stopped.n_params < full.n_params
    sess = session(stopped.onnx_model)
    X = prepared.X_val.reshape(len(prepared.X_val), -1).astype(np.float32)
    outputs = sess.run(None, {sess.get_inputs()[0].name: X})[0]
    assert outputs.shape == (len(X), 1) and np.isfinite(outputs).all()


@pytest.mark.parametrize("name", sorted(ROUNDS))
def test_a_deadline_far_ahead_changes_nothing(name, prepared_by_modality):
    prepared = prepared_by_modality[("tabular", "regression")]
    family = get_family(name)
    params = {**family.defaults(prepared.input_shape), ROUNDS[name]: 30}
    plain = family.fit(params, prepared, 0)
    timed = family.fit_until(params, prepared, 0, time.monotonic() + 3600)
    X = prepared.X_val.reshape(len(prepared.X_val), -1).astype(np.float32)
    a, b = (
        session(m.onnx_model).run(None, {session(m.onnx_model).get_inputs()[0].name: X})[0]
        for m in (plain, timed)
    )
    assert _n_trees(timed.onnx_model) == timed.rounds == plain.rounds
    assert timed.stopped_by is None
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

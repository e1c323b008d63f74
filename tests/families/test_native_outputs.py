"""Every fitted family hands back its model's own outputs (``FittedModel.native``), computed
outside the ONNX graph, so that export can check the graph it ships, a refit on
train+validation included: the ridge baseline (NumPy), the bag-of-n-gram text families
(scikit-learn's counts) and the token networks (PyTorch)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import tradeoff
from text_data import reviews
from tradeoff import Requirements
from tradeoff.families import get_family
from tradeoff.measure import QUICK_PROTOCOL
from tradeoff.parity import native_parity
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, run_search


@pytest.fixture(scope="module")
def text_prepared(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "reviews.csv"
    reviews(300).to_csv(path, index=False)
    return prepare(tradeoff.datasets.load(path, target="sentiment"), seed=0)


@pytest.mark.parametrize(
    "family, key",
    [
        ("ridge", ("tabular", "regression")),
        ("ridge", ("tabular", "binary")),
        ("tfidf", "text"),
        ("hashed", "text"),
        ("text_cnn", "text"),
        ("text_rnn", "text"),
        ("text_attention", "text"),
    ],
)
def test_a_fitted_familys_native_outputs_are_what_its_graph_gives(
    family, key, prepared_by_modality, text_prepared
):
    prepared = text_prepared if key == "text" else prepared_by_modality[key]
    builder = get_family(family)
    params = builder.defaults(prepared.input_shape)
    fitted = builder.fit(params, prepared, seed=0)
    assert fitted.native is not None
    parity = native_parity(fitted.onnx_model, fitted.native, prepared, "itself")
    assert parity.passed, parity.summary()
    assert parity.n == len(prepared.y_val)
    # The check can fail: the outputs of a model fitted to other labels are not these.
    if prepared.task == "regression":
        other_y = prepared.y_train[::-1].copy()
    else:
        other_y = np.roll(prepared.y_train, 7)
    other = builder.fit(params, dataclasses.replace(prepared, y_train=other_y), seed=1)
    assert not native_parity(fitted.onnx_model, other.native, prepared, "another").passed


def test_a_ridge_pick_ranked_by_folds_ships_its_refit_checked_against_its_own_scores(tmp_path):
    """A small table under --cv: the ridge baseline's refit on train+validation is exported,
    checked against the refitted estimator's scores (it used to be refused)."""
    data = tradeoff.datasets.load("diabetes")
    prepared = prepare(data, seed=0, cv=3)
    settings = SearchSettings(
        time_budget_s=None, n_trials=1, families=("ridge",), protocol=QUICK_PROTOCOL
    )
    run_search(
        data, Requirements(), tmp_path / "run", settings, show_progress=False, prepared=prepared
    )
    run = tradeoff.Run.open(tmp_path / "run", prepared=prepared)
    bundle = tradeoff.export(run, tmp_path / "model")
    card = json.loads((bundle / "card.json").read_text())
    assert card["lineage"]["family"] == "ridge"
    assert card["lineage"]["fitted_on"]["splits"] == "train+validation"
    assert card["parity"]["passed"] and card["parity"]["split"] == "val"
    assert card["parity"]["reference"].startswith("the native model refitted on train+validation")

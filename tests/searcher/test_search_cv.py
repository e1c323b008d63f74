"""Cross-validation retrains any family the way the search made it (searcher/cv.py)."""

import pytest

from tradeoff.datasets import load
from tradeoff.errors import TradeoffError
from tradeoff.prepare import prepare
from tradeoff.searcher.cv import cross_validate


@pytest.fixture(scope="module")
def folds():
    return prepare(load("iris"), seed=0, cv=3)


def test_a_fitted_family_is_cross_validated(folds):
    params = {
        "max_iter": 20,
        "max_depth": 3,
        "max_leaf_nodes": 8,
        "learning_rate": 0.1,
        "l2_regularization": 1e-3,
    }
    result = cross_validate(folds, "gbdt", params, {}, seed=0)
    assert len(result.scores) == 3 and result.mean > 0.8
    again = cross_validate(folds, "gbdt", params, {}, seed=0)
    assert again.scores == result.scores  # same seed, same folds: same figures


def test_a_network_is_cross_validated_with_its_strategy(folds):
    params = {"depth": 1, "width": 16, "activation": "relu", "dropout": 0.0}
    result = cross_validate(folds, "mlp", params, {"lr": 1e-2, "max_epochs": 30}, seed=0)
    assert len(result.scores) == 3 and result.mean > 0.6


def test_a_family_combining_trials_has_no_folds(folds):
    with pytest.raises(TradeoffError, match="--cv: 'ensemble'"):
        cross_validate(folds, "ensemble", {"members": 2, "weighting": "rank"}, {}, seed=0)

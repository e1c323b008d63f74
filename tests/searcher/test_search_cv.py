"""Cross-validation retrains any family the way the search made it (tradeoff.retrain)."""

import dataclasses

import numpy as np
import pytest

from tradeoff.datasets import load
from tradeoff.errors import TradeoffError
from tradeoff.prepare import prepare
from tradeoff.retrain import cross_validate, fixed_epochs


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


def test_a_folds_held_out_part_only_scores_it(folds):
    """Training on a fold never looks at its held-out rows: with their labels scrambled, the
    network trained on the fold is the same (early stopping on them, or restoring the epoch
    best on them, would change it)."""
    from tradeoff.families import get_family
    from tradeoff.retrain import outputs_of, train_on_fold

    fold = folds.folds[0]
    scrambled = dataclasses.replace(fold, y_val=np.roll(fold.y_val, 1))
    assert not np.array_equal(scrambled.y_val, fold.y_val)
    mlp = get_family("mlp")
    params = {"depth": 1, "width": 16, "activation": "relu", "dropout": 0.0}
    strategy = fixed_epochs({"lr": 3e-2, "max_epochs": 12}, None)
    outputs = [
        outputs_of(train_on_fold(mlp, params, strategy, f, seed=0), fold.X_val)
        for f in (fold, scrambled)
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_folds_train_for_the_trials_best_epochs():
    curve = [{"val_loss": v} for v in (0.9, 0.5, 0.4, 0.45, 0.6)]
    assert fixed_epochs({"max_epochs": 60, "patience": 10}, curve) == {
        "max_epochs": 3,
        "patience": 4,
    }
    assert fixed_epochs({"max_epochs": 20}, None)["max_epochs"] == 20


def test_a_family_combining_trials_has_no_folds(folds):
    with pytest.raises(TradeoffError, match="--cv: 'ensemble'"):
        cross_validate(folds, "ensemble", {"members": 2, "weighting": "rank"}, {}, seed=0)

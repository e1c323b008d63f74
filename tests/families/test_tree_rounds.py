"""Boosted trees stop adding rounds once the validation loss stops falling, ship the best
round, and the rounds kept are recorded and fitted again by the refit on train+validation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import tradeoff
from tradeoff import Requirements, evaluate
from tradeoff.datasets import load
from tradeoff.families import get_family
from tradeoff.measure import LatencyProtocol, predict_outputs
from tradeoff.measure.quality import score
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, run_search

ROUNDS = {"gbdt": "max_iter", "lightgbm": "n_estimators", "xgboost": "n_estimators"}
QUICK = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


def _n_trees(onnx_bytes: bytes) -> int:
    trees = set()
    for node in onnx.load_from_string(onnx_bytes).graph.node:
        for attribute in node.attribute:
            if attribute.name == "nodes_treeids":
                trees.update(attribute.ints)
    return len(trees)


@pytest.mark.parametrize("name", sorted(ROUNDS))
def test_boosting_stops_past_the_best_validation_round_and_ships_it(name, prepared_by_modality):
    # 442 rows of diabetes, a high learning rate and 400 rounds: it overfits long before.
    prepared = prepared_by_modality[("tabular", "regression")]
    family = get_family(name)
    assert family.rounds_param == ROUNDS[name]
    params = {**family.defaults(prepared.input_shape), ROUNDS[name]: 400, "learning_rate": 0.3}
    fitted = family.fit(params, prepared, 0)
    assert 1 <= fitted.rounds < 400
    assert _n_trees(fitted.onnx_model) == fitted.rounds  # the best round ships, not the last
    # The kept round is the best on validation: the same fit cut shorter is no better there.
    fewer = family.fit({**params, ROUNDS[name]: max(1, fitted.rounds - 3)}, prepared, 0)
    rmse = [
        score("rmse", prepared.y_val, predict_outputs(m.onnx_model, prepared.X_val))
        for m in (fitted, fewer)
    ]
    assert rmse[0] <= rmse[1] + 1e-6


def test_a_search_records_the_rounds_kept_and_the_refit_fits_that_many(tmp_path):
    data = load("breast_cancer")
    prepared = prepare(data, seed=0, cv=3)
    settings = SearchSettings(
        time_budget_s=None, n_trials=3, families=("lightgbm",), protocol=QUICK, max_epochs=3
    )
    run_search(
        data, Requirements(), tmp_path / "run", settings, show_progress=False, prepared=prepared
    )
    run = tradeoff.Run.open(tmp_path / "run", prepared=prepared)
    trained = [r for r in run.trials() if r.trained]
    assert trained
    for record in trained:
        assert 1 <= record.boosting_rounds <= record.params["n_estimators"]
    pick = run.select()
    assert evaluate.refits(pick)
    refit = evaluate.refit(run, pick)
    assert _n_trees(refit.candidate.onnx_model) == pick.boosting_rounds
    assert len(refit.prepared.y_train) == len(prepared.y_train) + len(prepared.y_val)
    assert np.isfinite(predict_outputs(refit.candidate.onnx_model, prepared.X_test)).all()


@pytest.mark.parametrize("name", sorted(ROUNDS))
def test_the_refit_and_the_folds_fit_the_rounds_the_trial_kept(name):
    from tradeoff.retrain import fold_scores, refit

    prepared = prepare(load("breast_cancer"), seed=0, cv=3)
    family = get_family(name)
    params = {**family.defaults(prepared.input_shape), ROUNDS[name]: 300, "learning_rate": 0.3}
    refitted = refit(prepared, name, params, {}, [], seed=0, rounds=7)
    assert _n_trees(refitted.candidate.onnx_model) == 7

    def folds(params, rounds):
        return fold_scores(
            prepared, name, params, {}, seed=0, metric="log_loss", rounds=rounds
        ).scores

    kept = folds(params, 7)
    assert kept == folds({**params, ROUNDS[name]: 7}, None)
    assert kept != folds(params, None)  # 300 rounds score otherwise: the test can tell

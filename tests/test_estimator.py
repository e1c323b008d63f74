"""The scikit-learn estimators: the contract (check_estimator), Pipeline, cross_val_score, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import onnx
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import tradeoff
from tradeoff import Requirements, TradeoffClassifier, TradeoffRegressor

#: The smallest search: one trial (the estimator's sound first point), 20 epochs at most.
TINY = {"n_trials": 1, "max_epochs": 20, "families": ["linear"]}

#: Checks expected to fail, with the reason. None: every check applies and passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(y))[:240]
    return X[rows], np.where(y[rows] == 1, "benign", "malignant")


# 25-33 s each on this 2-core machine: 40-55 checks, most fitting at least once.
@pytest.mark.parametrize("estimator", [TradeoffClassifier, TradeoffRegressor])
def test_check_estimator_passes(estimator):
    results = check_estimator(
        estimator(**TINY), expected_failed_checks=EXPECTED_FAILED_CHECKS, on_fail=None
    )
    not_passed = {r["check_name"]: r["status"] for r in results if r["status"] != "passed"}
    # scikit-learn itself skips its array-API check unless SCIPY_ARRAY_API=1 is set in
    # the environment; the estimators take NumPy input only, so that is the one skip.
    assert not_passed == {"check_array_api_input": "skipped"}
    assert len(results) > 30


def test_pipeline_and_cross_val_score(cancer):
    X, y = cancer
    pipeline = make_pipeline(StandardScaler(), TradeoffClassifier(**TINY))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_fit_predict_proba_score_and_pickle(cancer):
    X, y = cancer
    clf = TradeoffClassifier(requirements=Requirements(max_size_mb=1.0), **TINY).fit(X, y)
    assert clf.classes_.tolist() == ["benign", "malignant"]
    # One candidate, plus any compressed variants of it (trials of their own).
    assert clf.n_features_in_ == 30 and clf.trial_.family == "linear" and clf.n_trials_ >= 1
    proba = clf.predict_proba(X[:20])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(X[:20])).all()
    assert clf.score(X, y) > 0.85
    onnx.checker.check_model(onnx.load_from_string(clf.model_onnx_))  # the pick, as ONNX bytes
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert clf.predict(X[:1]).shape == (1,)  # the live session survived pickling


def test_a_fit_compresses_only_under_a_cost_limit(cancer):
    X, y = cancer
    assert TradeoffClassifier(**TINY).fit(X, y).n_trials_ == 1  # no limit: no variants
    limited = TradeoffClassifier(requirements=Requirements(max_size_mb=1.0), **TINY).fit(X, y)
    assert limited.n_trials_ > 1  # the linear model's compressed variants are trials too


def test_params_follow_the_contract():
    clf = TradeoffClassifier(n_trials=2, max_epochs=5)
    assert clf.get_params()["n_trials"] == 2 and clf.get_params()["prefer"] == "accurate"
    clf.set_params(n_trials=4, families=["mlp"])
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    assert TradeoffRegressor().get_params().keys() == clf.get_params().keys()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_trials": 0}, "n_trials must be"),
        ({"requirements": {"max_latency_ms": 1}}, "requirements must be"),
        ({"n_trials": None, "time_budget": None}, "give n_trials or time_budget"),
        ({"max_epochs": 0}, "max_epochs must be"),
        ({"prefer": "fast"}, "prefer must be one of accurate, cheaper, got 'fast'"),
    ],
)
def test_bad_parameters_are_errors_naming_the_parameter(cancer, params, message):
    X, y = cancer
    with pytest.raises(ValueError, match=message):
        TradeoffClassifier(**{**TINY, **params}).fit(X, y)


def test_requirements_nothing_can_meet_say_so(cancer):
    X, y = cancer
    clf = TradeoffClassifier(requirements=Requirements(max_size_mb=1e-6), **TINY)
    with pytest.raises(tradeoff.TradeoffError, match="no candidate was trained .*cost requirement"):
        clf.fit(X, y)


def test_regressor_fits_predicts_and_scores():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    reg = TradeoffRegressor(**TINY).fit(X, y)
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.5


def test_a_classifier_fits_raw_texts_and_predicts_from_strings():
    from text_data import reviews

    frame = reviews(300)
    X, y = frame["review"].to_numpy(), frame["sentiment"].to_numpy()
    clf = TradeoffClassifier(n_trials=1, families=["tfidf"]).fit(X[:200], y[:200])
    assert clf.text_input_ and clf.n_features_in_ == 1 and clf.trial_.family == "tfidf"
    graph = onnx.load_from_string(clf.model_onnx_).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.STRING  # raw text in
    assert clf.score(X[200:], y[200:]) > 0.8
    # A list, a one-column frame and a Series of strings are all one column of texts.
    proba = clf.predict_proba(list(X[200:205]))
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert (clf.predict(frame[["review"]][200:205]) == clf.predict(frame["review"][200:205])).all()
    again = pickle.loads(pickle.dumps(clf))
    assert (again.predict(X[200:]) == clf.predict(X[200:])).all()
    with pytest.raises(ValueError, match="fitted on texts; X must be one column of strings"):
        clf.predict(np.zeros((3, 1)))
    # Numbers stay numbers, even in an object array.
    numeric = TradeoffClassifier(**TINY).fit(np.arange(40.0).reshape(-1, 1).astype(object), y[:40])
    assert not numeric.text_input_

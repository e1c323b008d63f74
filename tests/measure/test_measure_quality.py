"""Quality metrics against scikit-learn, and their bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tradeoff.errors import TradeoffError
from tradeoff.measure.quality import (
    bootstrap,
    confusion_matrix,
    metric_names,
    score,
    softmax,
)
from tradeoff.requirements import METRICS, Requirements

RNG = np.random.default_rng(0)
Y3 = RNG.integers(0, 3, 300)
LOGITS3 = RNG.standard_normal((300, 3)) + 1.5 * np.eye(3)[Y3]  # informative, not perfect
Y2 = RNG.integers(0, 2, 300)
LOGITS2 = RNG.standard_normal((300, 2)) + np.eye(2)[Y2]
Y_REG = RNG.standard_normal(300) * 10 + 50
PRED_REG = (Y_REG + RNG.standard_normal(300) * 4)[:, None]


def test_every_declared_metric_is_registered():
    assert set(metric_names()) == set(METRICS)
    assert set(metric_names("regression")) == {"r2", "mae", "rmse"}


@pytest.mark.parametrize(("y", "logits"), [(Y2, LOGITS2), (Y3, LOGITS3)], ids=["binary", "3-class"])
def test_classification_metrics_match_scikit_learn(y, logits):
    labels = logits.argmax(1)
    proba = softmax(logits)
    assert score("accuracy", y, logits) == pytest.approx(skm.accuracy_score(y, labels))
    assert score("balanced_accuracy", y, logits) == pytest.approx(
        skm.balanced_accuracy_score(y, labels)
    )
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert score(name, y, logits) == pytest.approx(fn(y, labels, average="macro"))
    expected_auc = (
        skm.roc_auc_score(y, proba[:, 1])
        if logits.shape[1] == 2
        else skm.roc_auc_score(y, proba, multi_class="ovr")
    )
    assert score("roc_auc", y, logits) == pytest.approx(expected_auc)
    assert score("log_loss", y, logits) == pytest.approx(skm.log_loss(y, proba))
    assert confusion_matrix(y, logits) == skm.confusion_matrix(y, labels).tolist()


def test_regression_metrics_match_scikit_learn():
    pred = PRED_REG[:, 0]
    assert score("r2", Y_REG, PRED_REG) == pytest.approx(skm.r2_score(Y_REG, pred))
    assert score("mae", Y_REG, PRED_REG) == pytest.approx(skm.mean_absolute_error(Y_REG, pred))
    assert score("rmse", Y_REG, PRED_REG) == pytest.approx(
        np.sqrt(skm.mean_squared_error(Y_REG, pred))
    )


@pytest.mark.parametrize(
    ("name", "y", "out"),
    [("f1", Y3, LOGITS3), ("roc_auc", Y2, LOGITS2), ("rmse", Y_REG, PRED_REG)],
)
def test_bootstrap_interval_brackets_the_value_and_shrinks_with_more_data(name, y, out):
    small = bootstrap(name, y[:60], out[:60], split="test", n_boot=300)
    large = bootstrap(name, y, out, split="test", n_boot=300)
    for est in (small, large):
        assert est.low <= est.value <= est.high
        assert est.metric == name and est.split == "test"
    assert large.high - large.low < small.high - small.low
    assert large.n == 300


def test_metric_must_fit_the_task():
    with pytest.raises(TradeoffError, match="--metric: 'accuracy' does not apply to regression"):
        Requirements(metric="accuracy").for_task("regression")
    with pytest.raises(TradeoffError, match="--metric: unknown metric 'auc'"):
        Requirements(metric="auc")
    assert Requirements().for_task("regression").metric == "r2"
    assert Requirements().for_task("binary").metric == "accuracy"
    assert not Requirements(metric="log_loss").higher_is_better


def test_accuracy_also_takes_predicted_labels():
    assert score("accuracy", Y3, LOGITS3) == score("accuracy", Y3, LOGITS3.argmax(1))

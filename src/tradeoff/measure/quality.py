"""Quality metrics, found by name, with 95 % bootstrap confidence intervals.

Every metric takes the true targets and the model's raw outputs as they leave
the ONNX graph: logits ``[N, K]`` for a classifier (their softmax is the class
probability), predictions ``[N, 1]`` or ``[N]`` for a regressor. The names and
directions are declared once in :data:`tradeoff.requirements.METRICS`; this
module registers one function per name.

>>> import numpy as np
>>> score("accuracy", np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 1.0]]))
1.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from tradeoff.registry import Registry
from tradeoff.requirements import METRICS

Metric = Callable[[np.ndarray, np.ndarray], float]
#: The function computing each metric of ``requirements.METRICS``.
_METRICS: Registry[Metric] = Registry("metric", "--metric")


def register_metric(name: str) -> Callable[[Metric], Metric]:
    """Register ``fn(y_true, outputs) -> float`` under a name declared in ``METRICS``."""
    if name not in METRICS:
        raise ValueError(f"metric {name!r} is not declared in requirements.METRICS")

    return lambda fn: _METRICS.register(name, fn)


def metric_names(task: str | None = None) -> list[str]:
    """Registered metrics, optionally only those that apply to ``task``."""
    return [n for n in _METRICS.names() if task is None or task in METRICS[n].tasks]


def score(name: str, y_true: np.ndarray, outputs: np.ndarray) -> float:
    """The value of metric ``name`` for raw model ``outputs`` against ``y_true``."""
    return float(_METRICS.get(name)(np.asarray(y_true), np.asarray(outputs)))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits, row by row (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _labels(outputs: np.ndarray) -> np.ndarray:
    # 1-D input: already labels (kept for callers of the earlier accuracy(y_true, y_pred)).
    return outputs if outputs.ndim == 1 else outputs.argmax(axis=1)


def _values(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(len(outputs), -1)[:, 0].astype(np.float64)


@register_metric("accuracy")
def accuracy(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return float(np.mean(y_true == _labels(outputs)))


@register_metric("balanced_accuracy")
def balanced_accuracy(y_true: np.ndarray, outputs: np.ndarray) -> float:
    # Mean recall over the classes present in y_true (sklearn's definition).
    return float(skm.balanced_accuracy_score(y_true, _labels(outputs)))


def _macro(fn, y_true: np.ndarray, outputs: np.ndarray) -> float:
    labels = np.arange(outputs.shape[1])
    return float(fn(y_true, _labels(outputs), labels=labels, average="macro", zero_division=0))


@register_metric("precision")
def precision(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return _macro(skm.precision_score, y_true, outputs)


@register_metric("recall")
def recall(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return _macro(skm.recall_score, y_true, outputs)


@register_metric("f1")
def f1(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return _macro(skm.f1_score, y_true, outputs)


@register_metric("f1_minority")
def f1_minority(y_true: np.ndarray, outputs: np.ndarray) -> float:
    """F1 of the class rarest in ``y_true`` (ties: the higher index, binary's positive class)."""
    counts = np.bincount(np.asarray(y_true, np.int64), minlength=outputs.shape[1])
    present = np.flatnonzero(counts)
    if not len(present):
        return float("nan")
    rarest = present[counts[present] == counts[present].min()].max()
    return float(
        skm.f1_score(y_true, _labels(outputs), labels=[rarest], average="macro", zero_division=0)
    )


@register_metric("roc_auc")
def roc_auc(y_true: np.ndarray, outputs: np.ndarray) -> float:
    """Binary ROC-AUC on the positive class; one-vs-rest macro average for several classes.

    NaN when a resample holds a single class (the bootstrap drops those).
    """
    proba = softmax(outputs)
    present = np.unique(y_true)
    if len(present) < 2:
        return float("nan")
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y_true, proba[:, 1]))
    if len(present) < proba.shape[1]:
        return float("nan")
    return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))


@register_metric("log_loss")
def log_loss(y_true: np.ndarray, outputs: np.ndarray) -> float:
    proba = softmax(outputs)
    return float(skm.log_loss(y_true, proba, labels=np.arange(proba.shape[1])))


@register_metric("r2")
def r2(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return float(skm.r2_score(y_true, _values(outputs)))


@register_metric("mae")
def mae(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return float(skm.mean_absolute_error(y_true, _values(outputs)))


@register_metric("rmse")
def rmse(y_true: np.ndarray, outputs: np.ndarray) -> float:
    return float(np.sqrt(skm.mean_squared_error(y_true, _values(outputs))))


def confusion_matrix(y_true: np.ndarray, outputs: np.ndarray) -> list[list[int]]:
    """Rows: true class, columns: predicted class (every class, even when absent)."""
    labels = np.arange(np.asarray(outputs).shape[1])
    return skm.confusion_matrix(y_true, _labels(np.asarray(outputs)), labels=labels).tolist()


@dataclass(frozen=True)
class Estimate:
    """A metric on one split with its 95 % bootstrap interval."""

    value: float
    low: float
    high: float
    split: str
    n: int
    metric: str = "accuracy"

    def __str__(self) -> str:
        return f"{self.value:.4f} [95% CI {self.low:.4f}, {self.high:.4f}] on {self.split} (n={self.n})"


def bootstrap(
    name: str,
    y_true: np.ndarray,
    outputs: np.ndarray,
    *,
    split: str,
    n_boot: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Metric ``name`` with a percentile bootstrap interval over rows (resamples of equal size).

    >>> import numpy as np
    >>> est = bootstrap("accuracy", np.array([0, 1] * 50), np.tile([[1.0, 0.0]], (100, 1)), split="test")
    >>> est.value, est.low < 0.5 < est.high
    (0.5, True)
    """
    y_true, outputs = np.asarray(y_true), np.asarray(outputs)
    value = score(name, y_true, outputs)
    samples = replicates(name, y_true, outputs, n_boot=n_boot, seed=seed)
    samples = samples[np.isfinite(samples)]
    low, high = np.percentile(samples, [2.5, 97.5]) if len(samples) else (np.nan, np.nan)
    return Estimate(float(value), float(low), float(high), split, len(y_true), name)


def replicates(
    name: str, y_true: np.ndarray, outputs: np.ndarray, *, n_boot: int = 100, seed: int = 0
) -> np.ndarray:
    """Metric ``name`` on ``n_boot`` bootstrap resamples of the rows (NaN where undefined).

    The resamples depend only on the row count and ``seed``: two models scored on the same
    rows get the same resamples, so the spread of their replicates' difference is a paired
    bootstrap of the difference (what :func:`tradeoff.selection.tied` reads).
    """
    y_true, outputs = np.asarray(y_true), np.asarray(outputs)
    rng = np.random.default_rng(seed)
    fn = _METRICS.get(name)
    samples = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(y_true), size=len(y_true))
        samples.append(fn(y_true[rows], outputs[rows]))
    return np.asarray(samples, dtype=np.float64)


def bootstrap_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, split: str, n_boot: int = 2000, seed: int = 0
) -> Estimate:
    """Accuracy of predicted labels with a percentile bootstrap interval over rows."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    rng = np.random.default_rng(seed)
    resampled = correct[rng.integers(0, len(correct), size=(n_boot, len(correct)))].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Estimate(float(correct.mean()), float(low), float(high), split, len(correct))

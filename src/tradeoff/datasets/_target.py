"""The target: infer the task (binary / multiclass / regression) and encode labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError

#: A numeric target with at most this many distinct integer values is read as classes.
MAX_CLASSES_INFERRED = 20


@dataclass(frozen=True)
class Target:
    """Encoded targets: class indices (int64) into ``classes``, or float32 values."""

    y: np.ndarray
    task: str
    classes: tuple[str, ...]
    y_test: np.ndarray | None = None


def infer_task(values: pd.Series) -> str:
    """``regression`` for a numeric target with non-integer or many values, else classes.

    >>> infer_task(pd.Series([0.5, 1.25, 3.0]))
    'regression'
    >>> infer_task(pd.Series(["cat", "dog", "cat"]))
    'binary'
    """
    values = values.dropna()
    n_unique = values.nunique()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "binary" if n_unique <= 2 else "multiclass"
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1.0) == 0.0))
    if integral and n_unique <= MAX_CLASSES_INFERRED:
        return "binary" if n_unique <= 2 else "multiclass"
    return "regression"


def encode_target(
    values: pd.Series,
    *,
    culprit: str,
    task: str | None = None,
    test_values: pd.Series | None = None,
) -> Target:
    """Encode ``values`` (no missing ones) for ``task``, inferred when ``None``.

    ``culprit`` names the target in messages (e.g. ``"data.csv: target 'label'"``).
    Classification needs at least two classes; regression a numeric target.
    """
    if len(values) == 0:
        raise TradeoffError(f"{culprit}: no rows with a target value")
    task = task or infer_task(values)
    if task == "regression":
        try:
            y = pd.to_numeric(values).to_numpy(np.float32)
            y_test = (
                None if test_values is None else pd.to_numeric(test_values).to_numpy(np.float32)
            )
        except (ValueError, TypeError):
            raise TradeoffError(
                f"{culprit}: --task regression needs a numeric target, got values like "
                f"{values.iloc[0]!r}"
            ) from None
        if not np.all(np.isfinite(y)):
            raise TradeoffError(f"{culprit}: the target holds infinite values")
        return Target(y=y, task=task, classes=(), y_test=y_test)

    labels = values.astype(str) if not _numeric(values) else values
    everything = labels if test_values is None else pd.concat([labels, _as_labels(test_values)])
    classes = np.unique(everything.to_numpy())
    if len(np.unique(labels.to_numpy())) < 2:
        raise TradeoffError(
            f"{culprit}: a single class ({_label(classes[0])}); classification needs at least 2"
        )
    if task == "binary" and len(classes) != 2:
        raise TradeoffError(
            f"{culprit}: --task binary needs exactly 2 classes, found {len(classes)}"
        )
    y = np.searchsorted(classes, labels.to_numpy()).astype(np.int64)
    y_test = None
    if test_values is not None:
        y_test = np.searchsorted(classes, _as_labels(test_values).to_numpy()).astype(np.int64)
    return Target(y=y, task=task, classes=tuple(_label(c) for c in classes), y_test=y_test)


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _as_labels(values: pd.Series) -> pd.Series:
    return values if _numeric(values) else values.astype(str)


def _label(value) -> str:
    """A class name as users wrote it: ``1`` rather than ``1.0`` for integral numbers."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)

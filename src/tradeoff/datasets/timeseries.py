"""UCR/UEA time series archives: ``.ts`` files, read with sktime's reader.

A file named ``<name>_TRAIN.ts`` next to a ``<name>_TEST.ts`` brings the
archive's own test split along, as published. Series come out as
``[N, T, C]`` float32 (time steps, then channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.datasets._base import Dataset, register_format
from tradeoff.datasets._target import encode_target
from tradeoff.errors import TradeoffError


def read_ts(path: Path) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """``(X [N, T, C] float32, labels [N] str)`` from one ``.ts`` file.

    Series of unequal length come back as a list of ``[T_i, C]`` arrays (see :func:`pad_series`).
    """
    from sktime.datasets import load_from_tsfile

    try:
        try:
            X, y = load_from_tsfile(str(path), return_data_type="numpy3d")
        except ValueError as error:
            if "same shape" not in str(error):
                raise
            return _read_unequal(path)
    except Exception as error:  # sktime raises a mix of IOError/ValueError/its own types
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if path.stat().st_size == 0:
            message = "the file is empty"
        raise TradeoffError(
            f"{path.name}: cannot read it as a UCR/UEA .ts file ({message[:200]})"
        ) from None
    if len(X) == 0:
        raise TradeoffError(f"{path.name}: holds no series")
    return np.ascontiguousarray(np.asarray(X, np.float32).transpose(0, 2, 1)), np.asarray(y)


def _read_unequal(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Series of unequal length: one ``[T_i, C]`` array each (channels of a series share T_i)."""
    from sktime.datasets import load_from_tsfile

    frame, y = load_from_tsfile(str(path), return_data_type="nested_univ")
    series = []
    for row in range(len(frame)):
        channels = [np.asarray(frame.iat[row, c], np.float32) for c in range(frame.shape[1])]
        if len({len(c) for c in channels}) > 1:
            lengths = ", ".join(str(len(c)) for c in channels)
            raise TradeoffError(
                f"{path.name}: series {row} has channels of different lengths ({lengths}); "
                "tradeoff needs one length per series"
            )
        series.append(np.stack(channels, axis=1))
    return series, np.asarray(y)


def pad_series(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[N, length, C]``: each series continued with its own last step (its level held)."""
    out = np.empty((len(series), length, series[0].shape[1]), np.float32)
    for i, s in enumerate(series):
        out[i, : len(s)] = s
        out[i, len(s) :] = s[-1]
    return out


def declared_task(path: Path) -> str | None:
    """``"regression"`` for a header with ``@targetLabel true``, ``"classes"`` for
    ``@classLabel true ...``, ``None`` when the header declares neither.

    sktime hands both kinds of target back as strings, so the header is the only
    place that says whether ``0.93`` is a value or a class name.
    """
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            words = line.strip().lower().split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "@data":
                break
            if words[0] == "@targetlabel" and words[1:2] == ["true"]:
                return "regression"
            if words[0] == "@classlabel" and words[1:2] == ["true"]:
                return "classes"
    return None


def _task(path: Path, task: str | None) -> str | None:
    """The task to encode with: the header's, or ``--task`` where it agrees with it."""
    declared = declared_task(path)
    if declared == "regression":
        if task not in (None, "regression"):
            raise TradeoffError(
                f"--task: {path.name} declares numeric targets (@targetLabel true), not {task}"
            )
        return "regression"
    if declared == "classes" and task == "regression":
        raise TradeoffError(
            f"--task: {path.name} declares class labels (@classLabel true), not regression"
        )
    return task


def _lengths(X) -> tuple[int, int]:
    if isinstance(X, list):
        return min(len(s) for s in X), max(len(s) for s in X)
    return X.shape[1], X.shape[1]


@register_format(".ts")
def load_ts(
    path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Load a ``.ts`` file (and its ``_TEST.ts`` sibling when ``path`` is a ``_TRAIN.ts``)."""
    if target is not None:
        raise TradeoffError(f"--target: {path.name} carries its own targets; drop --target")
    if modality not in (None, "sequence"):
        raise TradeoffError(f"--modality: {path.name} holds time series (sequence), not {modality}")
    if image_size is not None:
        raise TradeoffError(f"--image-size: {path.name} holds time series, not images")
    task = _task(path, task)
    X, labels = read_ts(path)
    X_test = test_labels = None
    test_path = path.with_name(path.name[: -len("_TRAIN.ts")] + "_TEST.ts")
    if path.name.upper().endswith("_TRAIN.TS") and test_path.is_file():
        X_test, test_labels = read_ts(test_path)
    padded = ""
    if isinstance(X, list) or isinstance(X_test, list):
        # Unequal lengths: every series is held at its last value up to the longest one, in
        # both splits, so that models take one shape; the description says so.
        low, high = _lengths(X)
        if X_test is not None:
            high = max(high, _lengths(X_test)[1])
            low = min(low, _lengths(X_test)[0])
        X = pad_series(X, high) if isinstance(X, list) else pad_series(list(X), high)
        if X_test is not None:
            X_test = pad_series(list(X_test), high)
        padded = f"; lengths {low}-{high}, each padded to {high} by repeating its last step"
    if X_test is not None and X_test.shape[1:] != X.shape[1:]:
        raise TradeoffError(
            f"{test_path.name}: series shaped {X_test.shape[1:]}, but {path.name} has {X.shape[1:]}"
        )
    encoded = encode_target(
        pd.Series(labels),
        culprit=f"{path.name}: {'targets' if task == 'regression' else 'class labels'}",
        task=task,
        test_values=None if test_labels is None else pd.Series(test_labels),
    )
    stem = path.name[: -len("_TRAIN.ts")] if X_test is not None else path.stem
    return Dataset(
        name=stem,
        X=X,
        y=encoded.y,
        X_test=X_test,
        y_test=encoded.y_test,
        task=encoded.task,
        modality="sequence",
        classes=encoded.classes,
        description=f"{stem}: {len(X)} series of {X.shape[1]} steps, {X.shape[2]} channel(s){padded}",
        source={"name": str(path), "task": task},
        target="target value" if encoded.task == "regression" else "class label",
    )

"""Preparation: splits and scaling, fitted on the training split only.

The test split is carved (or taken from the data set) first and never seen by
the search; validation is carved from what remains.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from tradeoff.datasets import Dataset
from tradeoff.errors import TradeoffError


@dataclass(frozen=True)
class Scaling:
    """Standardisation statistics, shaped to broadcast over one example."""

    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class Prepared:
    """The splits a search works on, plus how they were made."""

    data: Dataset
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    scaling: Scaling
    seed: int

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def modality(self) -> str:
        return self.data.modality

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.data.input_shape

    @property
    def n_outputs(self) -> int:
        return 1 if self.task == "regression" else self.data.n_classes

    def fingerprint(self) -> str:
        """A short hash of every split, to tell whether a resumed run sees the same data."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "dataset": self.data.name,
            "task": self.task,
            "modality": self.modality,
            "input_shape": list(self.input_shape),
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "seed": self.seed,
            "scaling": "standardise, fitted on train",
            "fingerprint": self.fingerprint(),
        }


def fit_scaling(X_train: np.ndarray, modality: str) -> Scaling:
    """Per-feature statistics for tables, per-channel for sequences and images."""
    axes = {"tabular": (0,), "sequence": (0, 1), "image": (0, 2, 3)}[modality]
    mean = X_train.mean(axis=axes, keepdims=True)[0]
    std = X_train.std(axis=axes, keepdims=True)[0]
    std = np.where(std > 1e-12, std, 1.0)
    return Scaling(mean=mean.astype(np.float32), std=std.astype(np.float32))


def prepare(
    data: Dataset, *, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> Prepared:
    """Split ``data`` into train/validation/test (stratified for classification) and fit scaling."""
    stratify = data.task != "regression"
    if data.X_test is not None and data.y_test is not None:
        X_rest, y_rest, X_test, y_test = data.X, data.y, data.X_test, data.y_test
    else:
        X_rest, X_test, y_rest, y_test = _split(data.X, data.y, test_fraction, seed, stratify)
    X_train, X_val, y_train, y_val = _split(X_rest, y_rest, val_fraction, seed + 1, stratify)
    return Prepared(
        data=data,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        scaling=fit_scaling(X_train, data.modality),
        seed=seed,
    )


def _split(X, y, fraction, seed, stratify):
    try:
        return train_test_split(
            X, y, test_size=fraction, random_state=seed, stratify=y if stratify else None
        )
    except ValueError as error:
        raise TradeoffError(f"cannot split the data set: {error}") from None

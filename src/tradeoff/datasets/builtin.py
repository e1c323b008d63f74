"""Built-in data sets: generated or shipped locally, never downloaded."""

from __future__ import annotations

import numpy as np

from tradeoff.datasets._base import Dataset, register_dataset


@register_dataset("mnist1d")
def mnist1d(seed: int = 0) -> Dataset:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test sequences of 40 steps, 10 classes.

    Generated offline with the package's default arguments (its own fixed seed);
    the download path of the ``mnist1d`` package is never used.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return Dataset(
        name="mnist1d",
        X=data["x"].astype(np.float32)[:, :, None],
        y=data["y"].astype(np.int64),
        X_test=data["x_test"].astype(np.float32)[:, :, None],
        y_test=data["y_test"].astype(np.int64),
        task="multiclass",
        modality="sequence",
        classes=tuple(str(c) for c in range(10)),
        description="MNIST-1D: digits as 1D signals (40 steps, 1 channel)",
    )


@register_dataset("breast_cancer")
def breast_cancer(seed: int = 0) -> Dataset:
    """scikit-learn's Wisconsin breast cancer table: 569 rows, 30 features, binary."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return Dataset(
        name="breast_cancer",
        X=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        task="binary",
        modality="tabular",
        classes=tuple(str(c) for c in bunch.target_names),
        feature_names=tuple(bunch.feature_names),
        description="Wisconsin diagnostic breast cancer (tabular, binary)",
    )


@register_dataset("diabetes")
def diabetes(seed: int = 0) -> Dataset:
    """scikit-learn's diabetes progression table: 442 rows, 10 features, regression target."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return Dataset(
        name="diabetes",
        X=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.float32),
        task="regression",
        modality="tabular",
        feature_names=tuple(bunch.feature_names),
        description="diabetes disease progression after one year (tabular, regression)",
    )

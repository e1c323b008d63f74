"""Built-in data sets: generated or shipped locally, never downloaded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from tradeoff.datasets._base import Dataset, register_dataset


@register_dataset("mnist1d", origin="generated offline by the mnist1d package")
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


@register_dataset("breast_cancer", origin="bundled with scikit-learn")
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


@register_dataset("iris", origin="bundled with scikit-learn")
def iris(seed: int = 0) -> Dataset:
    """Fisher's iris table: 150 rows, 4 measurements, 3 species."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return Dataset(
        name="iris",
        X=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        task="multiclass",
        modality="tabular",
        classes=tuple(str(c) for c in bunch.target_names),
        feature_names=tuple(bunch.feature_names),
        description="Fisher's iris (tabular, 3 classes)",
    )


@register_dataset("digits", origin="bundled with scikit-learn")
def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits as one-channel images ``[1797, 1, 8, 8]``, 10 classes.

    Pixels are scaled from 0..16 to 0..1.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        name="digits",
        X=(bunch.images.astype(np.float32) / 16.0)[:, None, :, :],
        y=bunch.target.astype(np.int64),
        task="multiclass",
        modality="image",
        classes=tuple(str(c) for c in bunch.target_names),
        description="handwritten digits, 8x8 grey images (image, 10 classes)",
    )


@register_dataset("gunpoint", origin="bundled with the sktime wheel")
def gunpoint(seed: int = 0) -> Dataset:
    """UCR GunPoint: 50 train / 150 test series of 150 steps, 2 classes (Gun-Draw, Point).

    Read from the copy bundled in the sktime wheel with sktime's ``.ts`` reader,
    keeping the archive's own train/test split.
    """
    import sktime.datasets

    from tradeoff.datasets.timeseries import load_ts

    folder = Path(sktime.datasets.__file__).parent / "data" / "GunPoint"
    data = load_ts(folder / "GunPoint_TRAIN.ts")
    return replace(
        data,
        name="gunpoint",
        description="UCR GunPoint: hand motion, 150 steps (sequence, binary)",
        source={},
    )


@register_dataset("diabetes", origin="bundled with scikit-learn")
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

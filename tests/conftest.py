"""Small real data sets, prepared once per test session, one per modality and task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tradeoff.datasets import Dataset, load
from tradeoff.prepare import prepare

# Tiny models train fastest on one thread, and the test machine is shared.
torch.set_num_threads(1)


def digits_images(n: int = 400) -> Dataset:
    """scikit-learn's 8x8 digits as a 1-channel image data set (the image modality)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        name="digits-test",
        X=(bunch.images[:n, None, :, :] / 16.0).astype(np.float32),
        y=bunch.target[:n].astype(np.int64),
        task="multiclass",
        modality="image",
        classes=tuple(str(c) for c in range(10)),
    )


def small_mnist1d(n: int = 400) -> Dataset:
    data = load("mnist1d")
    return Dataset(
        name="mnist1d-small",
        X=data.X[:n],
        y=data.y[:n],
        X_test=data.X_test[:200],
        y_test=data.y_test[:200],
        task="multiclass",
        modality="sequence",
        classes=data.classes,
    )


@pytest.fixture(scope="session")
def mnist1d_small() -> Dataset:
    return small_mnist1d()


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return digits_images()


@pytest.fixture(scope="session")
def prepared_by_modality():
    """Prepared splits keyed by (modality, task kind)."""
    return {
        ("tabular", "binary"): prepare(load("breast_cancer")),
        ("tabular", "regression"): prepare(load("diabetes")),
        ("sequence", "multiclass"): prepare(small_mnist1d()),
        ("image", "multiclass"): prepare(digits_images()),
    }

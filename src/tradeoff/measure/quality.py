"""Quality metrics, with bootstrap confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A metric on one split with its 95 % bootstrap interval."""

    value: float
    low: float
    high: float
    split: str
    n: int

    def __str__(self) -> str:
        return f"{self.value:.4f} [95% CI {self.low:.4f}, {self.high:.4f}] on {self.split} (n={self.n})"


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def bootstrap_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, split: str, n_boot: int = 2000, seed: int = 0
) -> Estimate:
    """Accuracy with a percentile bootstrap interval over rows."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    rng = np.random.default_rng(seed)
    resampled = correct[rng.integers(0, len(correct), size=(n_boot, len(correct)))].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Estimate(float(correct.mean()), float(low), float(high), split, len(correct))

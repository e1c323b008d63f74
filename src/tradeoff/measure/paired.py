"""A paired test of quality loss: is a variant's accuracy within tolerance of its parent's?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDrop:
    """Accuracy lost by a variant against its parent on the same rows.

    ``drop`` is parent minus variant accuracy (negative: the variant is better);
    ``drop_high`` is the one-sided 95 % upper bound from a paired bootstrap over
    rows; ``agreement`` is the share of rows where both predict the same class.
    """

    drop: float
    drop_high: float
    agreement: float
    n: int


def paired_accuracy_drop(
    y_true: np.ndarray,
    parent_pred: np.ndarray,
    variant_pred: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedDrop:
    """Paired bootstrap of the accuracy drop: rows are resampled once for both models.

    >>> paired_accuracy_drop(np.array([0, 1, 1]), np.array([0, 1, 1]), np.array([0, 1, 0])).drop
    0.3333333333333333
    """
    y_true, parent_pred, variant_pred = map(np.asarray, (y_true, parent_pred, variant_pred))
    diff = (parent_pred == y_true).astype(np.float64) - (variant_pred == y_true).astype(np.float64)
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    return PairedDrop(
        drop=float(diff.mean()),
        drop_high=float(np.percentile(boot, 95)),
        agreement=float(np.mean(parent_pred == variant_pred)),
        n=len(diff),
    )

"""CrossValidation: the fold scores of one candidate, with the corrected resampled t interval.

The interval is the corrected resampled t-interval of Nadeau and Bengio (2003): folds of
repeated K-fold share training rows, so the plain standard error would be too narrow; the
variance is inflated by ``1/n + n_test/n_train`` (``1/(K-1)`` for K folds). Kept with the
records because selection reads it; retraining on folds is :mod:`tradeoff.retrain`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CrossValidation:
    """Fold scores of one candidate: ``metric`` on each fold's held-out part."""

    metric: str
    scores: tuple[float, ...]
    folds_per_repeat: int = 5

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    @property
    def standard_error(self) -> float:
        """Nadeau-Bengio corrected standard error of the fold mean."""
        n = len(self.scores)
        if n < 2:
            return float("nan")
        ratio = 1.0 / max(self.folds_per_repeat - 1, 1)  # n_test / n_train of one fold
        return float(np.sqrt(np.var(self.scores, ddof=1) * (1.0 / n + ratio)))

    def standard_error_of_difference(self, other: CrossValidation) -> float:
        """Standard error of the mean of ``self - other``, fold by fold (not inflated).

        Candidates of one run are scored on the same folds, so a hard fold is hard for
        both: the paired difference is far less noisy than either mean. Its plain error
        (sd / sqrt(n)) says how much the folds disagree about the difference; the
        Nadeau-Bengio inflation, right for an interval on what either model would score
        on new data, made ties of real differences (see :func:`tradeoff.selection.select`).
        NaN for scores on other folds (another count), which cannot be paired.
        """
        if len(other.scores) != len(self.scores) or other.folds_per_repeat != self.folds_per_repeat:
            return float("nan")
        diff = np.subtract(self.scores, other.scores)
        return float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) >= 2 else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """95 % interval of the fold mean (corrected resampled t)."""
        from scipy.stats import t

        n = len(self.scores)
        half = float(t.ppf(0.975, n - 1)) * self.standard_error if n >= 2 else float("nan")
        return self.mean - half, self.mean + half

    def __str__(self) -> str:
        low, high = self.interval
        return (
            f"{self.mean:.4f} [95% CI {low:.4f}, {high:.4f}] over {len(self.scores)} folds "
            f"({self.folds_per_repeat}-fold x {len(self.scores) // max(self.folds_per_repeat, 1)})"
        )

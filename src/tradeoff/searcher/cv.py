"""Cross-validated ranking of candidates when the validation split is small (``--cv``).

With 36-200 training series the validation split holds 7-40 rows: several candidates tie
at 1.000 and the pick is chosen by luck. With ``prepare(..., cv=K, cv_repeats=R)``, K
stratified folds of train+validation (K-fold for regression), repeated R times, are each
prepared on their own (imputation and scaling fitted on the fold's training part); every
trained candidate's exact configuration (family, structure, strategy, seed) is retrained
on each fold (:func:`tradeoff.retrain.fold_scores`) and scored on the fold's held-out part,
which never steers training. The search ranks on the fold mean, and selection
treats candidates within one standard error of the best as tied, taking the cheapest (see
:func:`tradeoff.selection.select`). The test split is never used.

The fold scores and their corrected resampled t interval are
:class:`tradeoff.records.CrossValidation`.

``--cv auto`` (the CLI's default) turns this on, with 5 folds repeated twice, when the
validation split holds fewer than :data:`AUTO_BELOW_ROWS` rows; with fewer folds where the
rarest class has fewer than 5 rows (down to 2: two training series per class), since a
stratified fold holds out at least one row of each class (:func:`auto_folds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tradeoff.errors import TradeoffError

if TYPE_CHECKING:
    from tradeoff.prepare import Prepared

#: ``--cv auto`` ranks by cross-validation below this many validation rows.
AUTO_BELOW_ROWS = 300
AUTO_FOLDS, AUTO_REPEATS = 5, 2


def prepare_for_search(
    data, *, seed: int, cv: int | str | None = "auto", augment: str | None = "auto"
) -> Prepared:
    """The splits a search ranks on, as the CLI, the Python API and the benchmarks make them:
    ``cv`` K folds of train+validation, ``"off"`` (or None, 0) for the validation split alone,
    or ``"auto"``: folds (:func:`auto_folds`, repeated :data:`AUTO_REPEATS` times) only when
    the validation split has fewer than :data:`AUTO_BELOW_ROWS` rows."""
    from tradeoff.prepare import prepare

    if cv in (None, 0, "off"):
        return prepare(data, seed=seed, augment=augment)
    if cv != "auto":
        if isinstance(cv, bool) or not isinstance(cv, int):
            raise TradeoffError(f"cv: expected a number of folds, 'auto' or 'off', got {cv!r}")
        return prepare(data, seed=seed, cv=cv, augment=augment)
    plain = prepare(data, seed=seed, augment=augment)
    if len(plain.y_val) >= AUTO_BELOW_ROWS:
        return plain
    folds = auto_folds(plain)
    return prepare(data, seed=seed, cv=folds, cv_repeats=AUTO_REPEATS, augment=augment)


def auto_folds(prepared: Prepared) -> int:
    """The folds ``--cv auto`` ranks on: :data:`AUTO_FOLDS`, or fewer when the rarest class of
    train+validation has fewer rows (``prepare`` refuses a class of a single row)."""
    if prepared.task == "regression":
        return AUTO_FOLDS
    y = np.concatenate([prepared.y_train, prepared.y_val]).astype(np.int64)
    counts = np.bincount(y)
    return max(2, min(AUTO_FOLDS, int(counts[counts > 0].min())))

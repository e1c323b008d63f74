"""Cross-validated ranking of candidates when the validation split is small (``--cv``).

With 36-200 training series the validation split holds 7-40 rows: several candidates tie
at 1.000 and the pick is chosen by luck. With ``prepare(..., cv=K, cv_repeats=R)``, K
stratified folds of train+validation (K-fold for regression), repeated R times, are each
prepared on their own (imputation and scaling fitted on the fold's training part); every
trained candidate's exact configuration (family, structure, strategy, seed) is retrained
on each fold and scored on the fold's held-out part. The search ranks on the fold mean,
and selection treats candidates within one standard error of the best as tied, taking the
cheapest (see :func:`tradeoff.frontier.select`). The test split is never used.

The interval is the corrected resampled t-interval of Nadeau and Bengio (2003): folds of
repeated K-fold share training rows, so the plain standard error would be too narrow; the
variance is inflated by ``1/n + n_test/n_train`` (``1/(K-1)`` for K folds).

``--cv auto`` (the CLI's default) turns this on, with 5 folds repeated twice, when the
validation split holds fewer than :data:`AUTO_BELOW_ROWS` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from tradeoff.errors import TradeoffError

if TYPE_CHECKING:
    from tradeoff.prepare import Prepared

# The training stack (torch, families) is imported where it is used: selection reads
# CrossValidation and must stay light.

#: ``--cv auto`` ranks by cross-validation below this many validation rows.
AUTO_BELOW_ROWS = 300
AUTO_FOLDS, AUTO_REPEATS = 5, 2


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


def fold_scores(
    prepared: Prepared, family: str, params: dict, strategy: dict, *, seed: int, metric: str
) -> CrossValidation:
    """Retrain ``family(params)`` (with ``strategy`` for networks) on each of ``prepared.folds``
    and score ``metric`` on each fold's held-out part."""
    import torch

    from tradeoff.families import get_family
    from tradeoff.measure import predict_outputs
    from tradeoff.measure.quality import score

    if not prepared.folds:
        raise TradeoffError("--cv: this run was prepared without folds; search with --cv K")
    builder = get_family(family)
    scores = []
    for fold in prepared.folds:
        if builder.trained_by == "fit":
            outputs = predict_outputs(builder.fit(params, fold, seed).onnx_model, fold.X_val)
        else:
            model = _trained_network(builder, params, strategy, fold, seed)
            with torch.no_grad():
                outputs = model(torch.from_numpy(fold.X_val)).numpy()
        scores.append(score(metric, fold.y_val, outputs))
    k = int(prepared.options.get("cv") or len(prepared.folds))
    return CrossValidation(metric=metric, scores=tuple(scores), folds_per_repeat=k)


def _trained_network(builder, params: dict, strategy: dict, fold: Prepared, seed: int):
    import torch

    from tradeoff.families import deployable
    from tradeoff.train import Strategy, train

    known = {f.name for f in fields(Strategy)}
    chosen = Strategy(**{k: v for k, v in strategy.items() if k in known})
    target = None
    if fold.task == "regression":
        target = (float(fold.y_train.mean()), float(fold.y_train.std()) or 1.0)
    torch.manual_seed(seed)
    model = deployable(builder, params, fold.input_shape, fold.n_outputs, fold.scaling, target)
    train(model, fold, chosen, seed=seed)
    return model.eval()


def cross_validate(
    prepared: Prepared, family: str, params: dict, strategy: dict, *, seed: int
) -> CrossValidation:
    """Fold accuracy of one configuration (kept for ``Run.cross_validation``)."""
    if prepared.task == "regression":
        return fold_scores(prepared, family, params, strategy, seed=seed, metric="rmse")
    return fold_scores(prepared, family, params, strategy, seed=seed, metric="accuracy")


def refit_outputs(
    prepared: Prepared, family: str, params: dict, strategy: dict, curve: list, *, seed: int
) -> np.ndarray:
    """Test outputs of the configuration refitted on train+validation.

    A network trains for the epochs at which its validation figure was best (there is no
    held-out part left to stop on); a fitted family simply fits on the union.
    """
    import torch

    from tradeoff.families import get_family
    from tradeoff.measure import predict_outputs
    from tradeoff.prepare import fit_scaling

    # The splits are already imputed and cleaned (on train): stack them, rescale on the union.
    X_whole = np.concatenate([prepared.X_train, prepared.X_val])
    whole = replace(
        prepared,
        X_train=X_whole,
        y_train=np.concatenate([prepared.y_train, prepared.y_val]),
        scaling=fit_scaling(X_whole, prepared.modality),
        folds=(),
    )
    builder = get_family(family)
    if builder.trained_by == "fit":
        return predict_outputs(builder.fit(params, whole, seed).onnx_model, whole.X_test)
    epochs = _best_epoch(curve) or int(strategy.get("max_epochs", 60))
    fixed = {**strategy, "max_epochs": epochs, "patience": epochs + 1}
    model = _trained_network(builder, params, fixed, whole, seed)
    with torch.no_grad():
        return model(torch.from_numpy(whole.X_test)).numpy()


def _best_epoch(curve: list) -> int | None:
    """The 1-based epoch with the best validation loss in a recorded learning curve."""
    losses = [point.get("val_loss") for point in curve if isinstance(point, dict)]
    losses = [(loss, i) for i, loss in enumerate(losses) if loss is not None]
    return min(losses)[1] + 1 if losses else None

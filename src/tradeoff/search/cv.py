"""K-fold cross-validation of one trained candidate's configuration (``--cv K``).

On small data one validation split is a noisy judge. With ``prepare(..., cv=K)``
each fold of train+validation is prepared on its own (imputation and scaling
fitted on the fold's training part); this module retrains a candidate's exact
configuration (family, structure, strategy, seed) on every fold and scores it
on the fold's held-out part. The test split is never used.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from tradeoff.errors import TradeoffError
from tradeoff.families import deployable, get_family
from tradeoff.measure import accuracy
from tradeoff.prepare import Prepared
from tradeoff.train import Strategy, predict_in_batches, train


@dataclass(frozen=True)
class CrossValidation:
    """Fold scores of one candidate: ``metric`` on each fold's held-out part."""

    metric: str
    scores: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    def __str__(self) -> str:
        folds = ", ".join(f"{s:.4f}" for s in self.scores)
        return f"{self.mean:.4f} ± {self.std:.4f} over {len(self.scores)} folds ({folds})"


def cross_validate(
    prepared: Prepared, family: str, params: dict, strategy: dict, *, seed: int
) -> CrossValidation:
    """Retrain ``family(params)`` with ``strategy`` on each of ``prepared.folds``; score each fold."""
    if not prepared.folds:
        raise TradeoffError("--cv: this run was prepared without folds; search with --cv K")
    if prepared.task == "regression":
        raise TradeoffError("--cv: fold scores are computed for classification only, for now")
    known = {f.name for f in fields(Strategy)}
    chosen = Strategy(**{k: v for k, v in strategy.items() if k in known})
    builder = get_family(family)
    scores = []
    for fold in prepared.folds:
        torch.manual_seed(seed)
        model = deployable(builder, params, fold.input_shape, fold.n_outputs, fold.scaling)
        train(model, fold, chosen, seed=seed)
        predicted = predict_in_batches(model, fold.X_val).argmax(dim=1).numpy()
        scores.append(accuracy(fold.y_val, predicted))
    return CrossValidation(metric="accuracy", scores=tuple(scores))

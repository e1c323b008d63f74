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
from tradeoff.families import get_family
from tradeoff.measure import accuracy, predict_outputs
from tradeoff.prepare import Prepared
from tradeoff.train import Strategy, train


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
    """Retrain ``family(params)`` with ``strategy`` on each of ``prepared.folds``; score each fold.

    The family makes its model as in the search (:meth:`Family.produce`): a network is
    trained with ``strategy``, a family that fits itself fits; nothing is screened.
    """
    if not prepared.folds:
        raise TradeoffError("--cv: this run was prepared without folds; search with --cv K")
    if prepared.task == "regression":
        raise TradeoffError("--cv: fold scores are computed for classification only, for now")
    builder = get_family(family)
    if builder.combines_trials:
        raise TradeoffError(f"--cv: {family!r} combines other trials; it has no folds of its own")
    known = {f.name for f in fields(Strategy)}
    chosen = Strategy(**{k: v for k, v in strategy.items() if k in known})
    scores = []
    for fold in prepared.folds:
        candidate = builder.produce(params, _FoldServices(fold, chosen, seed))
        if candidate.model is not None:  # scored as in the search's training loop
            with torch.no_grad():
                outputs = candidate.model(torch.from_numpy(fold.X_val)).numpy()
        else:
            outputs = predict_outputs(candidate.onnx_model, fold.X_val)
        scores.append(accuracy(fold.y_val, outputs.argmax(axis=1)))
    return CrossValidation(metric="accuracy", scores=tuple(scores))


class _FoldServices:
    """:class:`tradeoff.families.TrialServices` for one fold: train, never screen."""

    def __init__(self, fold: Prepared, strategy: Strategy, seed: int) -> None:
        self.prepared, self.strategy, self.seed = fold, strategy, seed

    def draw_strategy(self) -> None:
        """The strategy is the trial's, given."""

    def screen(self, onnx_model: bytes, **cost) -> None:
        """Cost was measured by the search."""

    def train(self, model: torch.nn.Module) -> None:
        train(model, self.prepared, self.strategy, seed=self.seed)

    def members(self, n: int) -> list[bytes]:
        raise TradeoffError("--cv: a family combining other trials has no folds of its own")

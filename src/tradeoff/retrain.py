"""Training a recorded configuration again, outside the search's trial: on each fold of
``--cv`` (:func:`fold_scores`, which the search ranks on and :mod:`tradeoff.evaluate`
completes for a raced candidate), and on train+validation (:func:`refit`: the model a
CV-ranked pick is tested and shipped as).

The exact configuration (family, structure, strategy, seed) goes through the family's own
:meth:`~tradeoff.families.Family.produce` (a network is trained, a fitted family such as
``gbdt`` or ``rocket`` fits; nothing is screened). No held-out part steers this training: a
network trains for the epochs at which its trial's validation loss was best
(:func:`fixed_epochs`), a boosted family for the rounds its trial kept (:func:`fixed_rounds`).
The test split is never used here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.records import CrossValidation

if TYPE_CHECKING:
    import torch

    from tradeoff.families import Candidate
    from tradeoff.prepare import Prepared
    from tradeoff.train import Strategy

# The training stack (torch, families) is imported where it is used.


class FoldsOutOfTime(Exception):
    """The search's time budget ran out before every fold was retrained: the fold mean of the
    folds done is not comparable with complete ones, so the trial is not ranked."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"time budget: ran out while cross-validating, after {done} of {total} folds"
        )


class FoldsRaced(Exception):
    """A candidate surely worse than a peer as cheap, on the folds done (a
    :class:`~tradeoff.searcher.halving.FoldRace`): the folds left are not trained."""

    def __init__(self, why: str, scores: list[float], total: int, folds_per_repeat: int) -> None:
        super().__init__(f"{why}; {total - len(scores)} of {total} folds not trained")
        self.scores, self.folds_per_repeat = tuple(scores), folds_per_repeat


def fold_scores(
    prepared: Prepared,
    family: str,
    params: dict,
    strategy: dict,
    *,
    seed: int,
    metric: str,
    curve: list | None = None,
    rounds: int | None = None,
    deadline: float | None = None,
    race: Callable[[list[float]], str | None] | None = None,
) -> CrossValidation:
    """Retrain ``family(params)`` (with ``strategy`` for networks) on each of ``prepared.folds``
    through the family's ``produce``, and score ``metric`` on each fold's held-out part.

    A network trains on each fold for the epochs at which its validation loss was best in
    ``curve`` (the trial's learning curve; without one, ``strategy``'s ``max_epochs``), its
    weights chosen by the loss on the fold's own training rows: the held-out part is only
    scored, as the test split is after the refit (:func:`fixed_epochs`). A boosted family
    likewise fits the ``rounds`` its trial kept (:func:`fixed_rounds`).

    With ``deadline`` (``time.monotonic()``), a network's fold training stops there, and a
    :class:`FoldsOutOfTime` is raised once it has passed with folds left or cut short.
    With ``race`` (the scores so far -> why to stop, or None), :class:`FoldsRaced` is raised
    as soon as it gives a reason with folds left.
    """
    from tradeoff.families import get_family
    from tradeoff.measure.quality import score

    if not prepared.folds:
        raise TradeoffError("--cv: this run was prepared without folds; search with --cv K")
    builder = get_family(family)
    if builder.combines_trials:
        raise TradeoffError(f"--cv: {family!r} combines other trials; it has no folds of its own")
    scores = []
    k = int(prepared.options.get("cv") or len(prepared.folds))
    fixed = fixed_epochs(strategy, curve)
    params = fixed_rounds(builder, params, rounds)
    for fold in prepared.folds:
        candidate = train_on_fold(builder, params, fixed, fold, seed, deadline)
        if deadline is not None and time.monotonic() >= deadline:
            raise FoldsOutOfTime(len(scores), len(prepared.folds))
        scores.append(score(metric, fold.y_val, outputs_of(candidate, fold.X_val)))
        why = race(scores) if race is not None and len(scores) < len(prepared.folds) else None
        if why:
            raise FoldsRaced(why, scores, len(prepared.folds), k)
    return CrossValidation(metric=metric, scores=tuple(scores), folds_per_repeat=k)


def cross_validate(
    prepared: Prepared,
    family: str,
    params: dict,
    strategy: dict,
    *,
    seed: int,
    curve: list | None = None,
    rounds: int | None = None,
) -> CrossValidation:
    """Fold accuracy (rmse for regression) of one configuration (:func:`tradeoff.evaluate.cross_validation`)."""
    metric = "rmse" if prepared.task == "regression" else "accuracy"
    return fold_scores(
        prepared, family, params, strategy, seed=seed, metric=metric, curve=curve, rounds=rounds
    )


@dataclass(frozen=True)
class Refit:
    """A configuration refitted on train+validation: the model to test and to ship."""

    candidate: Candidate  # its ONNX model, and for a network the trained torch model
    prepared: Prepared  # train+validation as the training split, scaled on the union


def refit(
    prepared: Prepared,
    family: str,
    params: dict,
    strategy: dict,
    curve: list,
    *,
    seed: int,
    rounds: int | None = None,
) -> Refit:
    """The configuration refitted on train+validation, with the trial's seed.

    A network trains for the epochs at which its validation figure was best (there is no
    held-out part left to stop on); a boosted family for the ``rounds`` its trial kept
    (:func:`fixed_rounds`); another fitted family simply fits on the union.
    """
    from tradeoff.families import get_family
    from tradeoff.prepare import fit_scaling

    # The splits are already imputed and cleaned (on train): stack them, rescale on the union.
    X_whole = np.concatenate([prepared.X_train, prepared.X_val])
    texts = prepared.texts  # a mixed table's raw texts stay row for row with the splits
    whole = replace(
        prepared,
        X_train=X_whole,
        y_train=np.concatenate([prepared.y_train, prepared.y_val]),
        scaling=fit_scaling(X_whole, prepared.modality),
        folds=(),
        texts=texts and replace(texts, train=np.concatenate([texts.train, texts.val])),
    )
    builder = get_family(family)
    fixed = fixed_epochs(strategy, curve)
    return Refit(
        _produce(builder, fixed_rounds(builder, params, rounds), fixed, whole, seed), whole
    )


def _produce(
    builder,
    params: dict,
    strategy: dict,
    fold: Prepared,
    seed: int,
    deadline: float | None = None,
) -> Candidate:
    """The model ``builder.produce`` makes on ``fold`` with ``strategy`` (for networks),
    trained until ``deadline`` at the latest."""
    from tradeoff.train import Strategy

    known = {f.name for f in fields(Strategy)}
    chosen = Strategy(**{k: v for k, v in strategy.items() if k in known})
    return builder.produce(params, _FoldServices(fold, chosen, seed, deadline))


def train_on_fold(
    builder,
    params: dict,
    strategy: dict,
    fold: Prepared,
    seed: int,
    deadline: float | None = None,
) -> Candidate:
    """The model ``builder.produce`` makes on ``fold``'s training part, its held-out part
    hidden: that part scores the fold, so it must not also steer training (early stopping,
    restoring the epoch best on it). It did once, and networks scored 1.000 on every
    BasicMotions fold but as low as 0.725 on test. Training "validates" on its own rows instead.
    """
    blind = replace(
        fold,
        X_val=fold.X_train,
        y_val=fold.y_train,
        texts=fold.texts and replace(fold.texts, val=fold.texts.train),
    )
    return _produce(builder, params, strategy, blind, seed, deadline)


def outputs_of(candidate: Candidate, X: np.ndarray) -> np.ndarray:
    """``candidate``'s outputs on ``X``, as the search scores them (a network in PyTorch,
    anything else in ONNX Runtime)."""
    from tradeoff.measure import predict_outputs
    from tradeoff.train import predict_in_batches

    if candidate.model is not None:  # in batches: a fold of 60,000 images fits in memory
        return predict_in_batches(candidate.model, X).numpy()
    return predict_outputs(candidate.onnx_model, X)


def fixed_epochs(strategy: dict, curve: list | None) -> dict:
    """``strategy`` trained for a fixed number of epochs: those at which the trial's validation
    loss was best (its ``curve``), else its ``max_epochs``. Used where no held-out part may
    steer training: the refit on train+validation, and each fold (whose held-out part scores it).
    """
    epochs = _best_epoch(curve or []) or int(strategy.get("max_epochs", 60))
    return {**strategy, "max_epochs": epochs, "patience": epochs + 1}


def fixed_rounds(builder, params: dict, rounds: int | None) -> dict:
    """``params`` with a boosted family's rounds set to the ``rounds`` its trial kept (early
    stopping on the validation split; ``boosting_rounds``), where no held-out part may steer
    training: the refit on train+validation and each fold, as :func:`fixed_epochs` for
    networks. Their early stopping then looks at rows they train on, whose loss keeps
    falling, so all ``rounds`` are fitted."""
    key = getattr(builder, "rounds_param", None)
    return {**params, key: rounds} if key and rounds else params


def _best_epoch(curve: list) -> int | None:
    """The 1-based epoch with the best validation loss in a recorded learning curve."""
    losses = [point.get("val_loss") for point in curve if isinstance(point, dict)]
    losses = [(loss, i) for i, loss in enumerate(losses) if loss is not None]
    return min(losses)[1] + 1 if losses else None


class _FoldServices:
    """:class:`tradeoff.families.TrialServices` for one fold: train, never screen."""

    def __init__(
        self, fold: Prepared, strategy: Strategy, seed: int, deadline: float | None = None
    ) -> None:
        self.prepared, self.strategy, self.seed, self.deadline = fold, strategy, seed, deadline

    def draw_strategy(self) -> None:
        """The strategy is the trial's, given."""

    def screen(self, onnx_model: bytes, **cost) -> None:
        """Cost was measured by the search."""

    def train(self, model: torch.nn.Module) -> None:
        from tradeoff.train import train

        train(model, self.prepared, self.strategy, seed=self.seed, deadline=self.deadline)

    def members(self, n: int) -> list[bytes]:
        raise TradeoffError("--cv: a family combining other trials has no folds of its own")

"""Successive halving of whole trials by cost band: early stopping for a multi-objective study.

Optuna's pruners refuse multi-objective studies (``NotImplementedError``), and
a plain quality cut-off would be wrong there: a small, fast model learns to a
lower accuracy than a big one, yet it may well be on the Pareto front. So a
trial is compared only with trials that cost about as much or less.

- Cost band: trials whose untrained p95 latency falls in the same factor-of-
  ``band_factor`` interval (``floor(log(p95_ms) / log(band_factor))``).
- Rungs: epochs ``first * eta**k`` below ``max_epochs`` (3, 9, 27 by default). ``first``
  is ``min_epochs`` unless ``max_epochs`` leaves no room for two rungs from there; then it
  is ``max_epochs // eta**2`` (at least 1), as Hyperband anchors its smallest budget to the
  largest: 8 epochs give rungs 1 and 3, not a lone 3.
- Data size is a fidelity too: up to the first rung a trial trains on a
  stratified ``data_fractions[0]`` of the training split (1/9), up to the
  second on ``data_fractions[1]`` (1/3, holding the 1/9), then on all of it;
  so the trials that halving stops early cost a fraction of an epoch each.
  ``rungs`` and ``rung_rows`` (trial attributes) say which rungs a trial
  reached and on how many rows. Seeded trials (queued before the sampler's
  draws) train on all rows: there are no peers yet to stop them with.
- At a rung, a trial's best validation value so far is compared with the values
  that trials of its band or of a cheaper one reached at the same rung on as many
  rows (finished, pruned or still running; a seeded trial, having trained on more
  rows, is no peer of a sampled one there). If at least ``min_peers`` are known
  and it is below their ``1 - 1/eta`` quantile, ``1/eta`` of them are about as
  cheap or cheaper and more accurate so far: the trial is likely dominated, so it stops and
  is recorded as ``pruned`` with its partial learning curve. A trial is never
  judged by costlier ones: the cheapest band's trials only by each other.
- Folds race too (``--cv``): a candidate ranked by cross-validation is retrained fold by
  fold, and :class:`FoldRace` stops it once it is surely worse than the best finished peer
  of its band or a cheaper one, on the same folds: after at least ``race_min_folds``, the
  one-sided ``race_confidence`` upper bound of the paired fold-by-fold difference is below
  0, its spread floored at one held-out row of a fold (so a model one row behind on every
  fold runs 9 folds before it is sure to be worse, rather than 3). As SMAC's
  intensification and F-Race do, a candidate that cannot catch up is not trained on the
  folds left; it is recorded as ``pruned`` with the fold scores it has, and, being worse
  than a peer about as cheap, it would not be picked.

>>> Halving().rungs(60), Halving().rungs(8)
([3, 9, 27], [1, 3])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from tradeoff.records import attrs as rec
from tradeoff.rules import Objective

#: Trial user attributes: the trial's cost band, ``{rung epoch: best value so far}`` and
#: ``{rung epoch: training rows at that epoch}``.
BAND, RUNGS, RUNG_ROWS = "cost_band", "rungs", "rung_rows"


@dataclass(frozen=True)
class Halving:
    """The halving schedule. ``eta``: keep the best 1/eta at each rung."""

    min_epochs: int = 3
    eta: int = 3
    min_peers: int = 3
    band_factor: float = 2.0
    data_fractions: tuple[float, ...] = (1 / 9, 1 / 3)
    #: Fold racing: the confidence that a raced-out candidate is worse (None: every fold).
    race_confidence: float | None = 0.99
    race_min_folds: int = 3

    def rungs(self, max_epochs: int) -> list[int]:
        out, epoch = [], max(1, min(self.min_epochs, max_epochs // self.eta**2))
        while epoch < max_epochs:
            out.append(epoch)
            epoch *= self.eta
        return out

    def fraction_at(self, epoch: int, max_epochs: int) -> float:
        """The share of the training split that epoch ``epoch`` trains on."""
        for rung, fraction in zip(self.rungs(max_epochs), self.data_fractions, strict=False):
            if epoch <= rung:
                return fraction
        return 1.0

    def band(self, p95_ms: float) -> int:
        return math.floor(math.log(max(p95_ms, 1e-6)) / math.log(self.band_factor))

    def should_stop(self, value: float, peers: list[float]) -> bool:
        """``value`` and ``peers`` oriented so that higher is better."""
        if len(peers) < self.min_peers:
            return False
        return value < float(np.quantile(peers, 1.0 - 1.0 / self.eta))


def surely_worse(
    diffs: list[float], confidence: float, min_folds: int, resolution: float = 0.0
) -> bool:
    """Whether fold-by-fold differences ``diffs`` (candidate minus peer, higher is better) say
    the candidate is worse: a one-sided paired t bound at ``confidence`` below 0, after at
    least ``min_folds`` folds, the differences' spread taken as at least ``resolution``.

    >>> surely_worse([-0.30, -0.25, -0.35], 0.99, 3, resolution=0.05)
    True
    >>> surely_worse([-0.05] * 8, 0.99, 3, resolution=0.05)  # one row behind on each fold
    False
    """
    from scipy.stats import t

    k = len(diffs)
    if k < max(min_folds, 2):
        return False
    spread = max(float(np.std(diffs, ddof=1)), resolution)
    return float(np.mean(diffs)) + float(t.ppf(confidence, k - 1)) * spread / math.sqrt(k) < 0


class FoldRace:
    """Says when a candidate's cross-validation may stop: called with its fold scores so far
    (in ``fold_scores``' order), returns why it is surely worse than its peer, or None.

    The peer is chosen once, when the race starts: the finished trial with the best fold mean
    among those within every requirement, of this candidate's cost band or a cheaper one, and
    scored on the same folds. Without one, the candidate runs every fold.
    """

    def __init__(
        self,
        halving: Halving,
        trial: optuna.Trial,
        p95_ms: float,
        n_folds: int,
        higher_is_better: bool,
        resolution: float = 0.0,
    ) -> None:
        self.halving, self.resolution = halving, resolution
        self.objective = Objective(higher_is_better)
        band = halving.band(p95_ms)
        self.peer: tuple[int, list[float]] | None = None
        best = -math.inf
        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            attrs = other.user_attrs
            scores = attrs.get(rec.CV, {}).get("scores", [])
            p95 = attrs.get(rec.COST, {}).get("p95_ms")
            if len(scores) != n_folds or attrs.get(rec.VIOLATIONS) or p95 is None:
                continue
            mean = self.objective.key(float(np.mean(scores)))
            if halving.band(p95) <= band and mean > best:
                best, self.peer = mean, (other.number, list(scores))

    def __call__(self, scores: list[float]) -> str | None:
        confidence = self.halving.race_confidence
        if self.peer is None or confidence is None:
            return None
        number, peer = self.peer
        diffs = [self.objective.key(s - p) for s, p in zip(scores, peer, strict=False)]
        if not surely_worse(diffs, confidence, self.halving.race_min_folds, self.resolution):
            return None
        return (
            f"racing: after {len(scores)} folds, {float(np.mean(diffs)):+.4f} against #{number} "
            f"(its cost band or a cheaper one) on the same folds ({confidence:.0%} one-sided paired t)"
        )


def nested_subsamples(
    y: np.ndarray, fractions: tuple[float, ...], seed: int, stratified: bool
) -> dict[float, np.ndarray]:
    """Row indices of ``y`` for each fraction, nested (the 1/9 inside the 1/3); stratified:
    each class keeps its share (at least one row of every class)."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratified else [np.arange(len(y))]
    orders = [rng.permutation(g) for g in groups]
    return {
        f: np.sort(np.concatenate([o[: max(1, math.ceil(f * len(o)))] for o in orders]))
        for f in fractions
    }


class RungReporter:
    """Follows one trial's epochs; records its rung values and says when to stop it.

    Used as ``train(on_epoch=...)``: returns True when the trial should stop.
    """

    def __init__(
        self,
        halving: Halving,
        trial: optuna.Trial,
        band: int,
        max_epochs: int,
        higher_is_better: bool,
    ):
        self.halving, self.trial, self.band = halving, trial, band
        self.rungs = set(halving.rungs(max_epochs))
        self.objective = Objective(higher_is_better)
        self.best = -math.inf  # signed: higher is better (Objective.key)
        self.reached: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.pruned_at: int | None = None
        trial.set_user_attr(BAND, band)

    def __call__(self, epoch: int, point: dict) -> bool:
        value = point.get("val_metric")
        if value is not None and math.isfinite(value):
            self.best = max(self.best, self.objective.key(value))
        if epoch not in self.rungs:
            return False
        rows = int(point["rows"]) if "rows" in point else None
        peers = self._peers(epoch, rows)
        self.reached[str(epoch)] = self.best
        self.trial.set_user_attr(RUNGS, self.reached)
        if rows is not None:
            self.rows[str(epoch)] = rows
            self.trial.set_user_attr(RUNG_ROWS, self.rows)
        if self.halving.should_stop(self.best, peers):
            self.pruned_at = epoch
            return True
        return False

    def _peers(self, epoch: int, rows: int | None) -> list[float]:
        """The values that other trials of this band or a cheaper one reached at rung ``epoch``
        on ``rows`` rows."""
        values = []
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        for other in self.trial.study.get_trials(deepcopy=False, states=states):
            band = other.user_attrs.get(BAND)
            if other.number == self.trial.number or band is None or band > self.band:
                continue
            reached = other.user_attrs.get(RUNGS, {})
            on_rows = other.user_attrs.get(RUNG_ROWS, {}).get(str(epoch), rows)
            if str(epoch) in reached and on_rows == rows:
                values.append(reached[str(epoch)])
        return values

"""Successive halving of whole trials within cost bands: early stopping for a multi-objective study.

Optuna's pruners refuse multi-objective studies (``NotImplementedError``), and
a plain quality cut-off would be wrong there: a small, fast model learns to a
lower accuracy than a big one, yet it may well be on the Pareto front. So a
trial is compared only with trials of similar cost.

- Cost band: trials whose untrained p95 latency falls in the same factor-of-
  ``band_factor`` interval (``floor(log(p95_ms) / log(band_factor))``).
- Rungs: epochs ``min_epochs * eta**k`` (3, 9, 27, ... by default).
- At a rung, a trial's best validation value so far is compared with the values
  every other trial of its band reached at the same rung (finished, pruned or
  still running); if at least ``min_peers`` are known and it is below their
  ``1 - 1/eta`` quantile, the trial stops and is recorded as ``pruned`` with
  its partial learning curve. Only about the best ``1/eta`` of a band go on
  at each rung.

>>> Halving().rungs(60)
[3, 9, 27]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

#: Trial user attributes: the trial's cost band and ``{rung epoch: best value so far}``.
BAND, RUNGS = "cost_band", "rungs"


@dataclass(frozen=True)
class Halving:
    """The halving schedule. ``eta``: keep the best 1/eta at each rung."""

    min_epochs: int = 3
    eta: int = 3
    min_peers: int = 3
    band_factor: float = 2.0

    def rungs(self, max_epochs: int) -> list[int]:
        out, epoch = [], self.min_epochs
        while epoch < max_epochs:
            out.append(epoch)
            epoch *= self.eta
        return out

    def band(self, p95_ms: float) -> int:
        return math.floor(math.log(max(p95_ms, 1e-6)) / math.log(self.band_factor))

    def should_stop(self, value: float, peers: list[float]) -> bool:
        """``value`` and ``peers`` oriented so that higher is better."""
        if len(peers) < self.min_peers:
            return False
        return value < float(np.quantile(peers, 1.0 - 1.0 / self.eta))


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
        self.sign = 1.0 if higher_is_better else -1.0
        self.best = -math.inf
        self.reached: dict[str, float] = {}
        self.pruned_at: int | None = None
        trial.set_user_attr(BAND, band)

    def __call__(self, epoch: int, point: dict) -> bool:
        value = point.get("val_metric")
        if value is not None and math.isfinite(value):
            self.best = max(self.best, self.sign * value)
        if epoch not in self.rungs:
            return False
        peers = self._peers(epoch)
        self.reached[str(epoch)] = self.best
        self.trial.set_user_attr(RUNGS, self.reached)
        if self.halving.should_stop(self.best, peers):
            self.pruned_at = epoch
            return True
        return False

    def _peers(self, epoch: int) -> list[float]:
        values = []
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        for other in self.trial.study.get_trials(deepcopy=False, states=states):
            if other.number == self.trial.number or other.user_attrs.get(BAND) != self.band:
                continue
            reached = other.user_attrs.get(RUNGS, {})
            if str(epoch) in reached:
                values.append(reached[str(epoch)])
        return values

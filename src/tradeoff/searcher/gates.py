"""Two rules that keep a search from spending its budget on what cannot work.

* :class:`FamilyGate` wraps the sampler so that a family that cannot run yet is never drawn,
  and :func:`combination_is_new` says when an ensemble can: once two trained members exist
  to combine, and again each time the best of them change (never the same members twice).
* :class:`StopWhenNothingFits` ends the search early, with its reason recorded in the
  study, once screening shows that every family's candidates are far over a cost limit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler

from tradeoff.families import get_family
from tradeoff.records import trial_records as records
from tradeoff.records.attrs import FRONT_AT_DRAW
from tradeoff.requirements import COST_LIMITS, Requirements
from tradeoff.rules import cost_figure
from tradeoff.searcher.trial import front_members

#: Study user attribute holding why the search stopped before its budget ("" or absent: it did not).
STOPPED_EARLY = "stopped_early"
#: "Far over": a candidate's p95, or its size, above this many times
#: the limit, beyond what int8 or pruning could bring back.
FAR_OVER = 2.0
#: Candidates measured, at least, before the search may conclude that nothing can fit.
MIN_MEASURED = 10


class FamilyGate(BaseSampler):
    """``inner``, except that the ``family`` parameter never takes a value ``ready`` refuses.

    A refused draw is replaced by a seeded uniform choice among the families that are ready.
    """

    def __init__(self, inner: BaseSampler, ready: Callable[[optuna.Study, str], bool], seed: int):
        self._inner, self._ready, self._seed = inner, ready, seed

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study, trial, param_name: str, param_distribution: BaseDistribution
    ):
        value = self._inner.sample_independent(study, trial, param_name, param_distribution)
        if param_name != "family" or not isinstance(param_distribution, CategoricalDistribution):
            return value
        if self._ready(study, value):
            return value
        ready = [c for c in param_distribution.choices if self._ready(study, c)]
        if not ready:
            return value
        rng = np.random.default_rng((self._seed, trial.number))
        return ready[int(rng.integers(len(ready)))]

    def before_trial(self, study, trial):
        self._inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self):
        self._inner.reseed_rng()


def combination_is_new(study: optuna.Study, family: str, *, higher_is_better: bool) -> bool:
    """Whether ``family`` may be drawn now: always, unless it combines trained candidates; then
    only while at least two fit and its best ``max_members`` differ from those at each earlier
    draw of it. Once the members exist, an ensemble is cheap to complete, and a sampler left
    free draws the same combination again and again instead of training anything new."""
    combining = get_family(family)
    if not combining.combines_trials:
        return True
    best = [t.number for t in front_members(study, higher_is_better)[: combining.max_members]]
    if len(best) < 2:
        return False
    drawn = {
        tuple(t.user_attrs.get(FRONT_AT_DRAW, ()))
        for t in study.get_trials(deepcopy=False)
        if t.params.get("family") == family
    }
    return tuple(best) not in drawn


class StopWhenNothingFits:
    """Optuna callback: stop once no measured candidate comes near a cost limit.

    It waits until every family that is measured on its own (ensembles excluded) has at least
    one measured candidate and ``MIN_MEASURED`` are measured in all; then, if every one of
    them is more than ``FAR_OVER`` times over some cost limit (latency, size, memory, or
    under the throughput floor) and nothing trained fits, it records the reason under
    ``STOPPED_EARLY`` and stops the study.
    """

    def __init__(self, requirements: Requirements, families: list[str]):
        self.requirements, self.families = requirements, set(families)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        req = self.requirements
        if not req.limits_cost:
            return
        done = records(study)
        if any(r.feasible for r in done):
            return
        measured = [r for r in done if r.p95_ms is not None and r.size_mb is not None]
        if len(measured) < MIN_MEASURED or not self.families <= {r.family for r in measured}:
            return
        if any(not self._far(r) for r in measured):
            return
        best = []
        for axis, limit in COST_LIMITS.items():
            figures = [(f, r) for r in measured if (f := cost_figure(r, axis, req)) is not None]
            if getattr(req, limit.requirement_field) is None or not figures:
                continue
            figure, r = (max if limit.floor else min)(figures, key=lambda fr: fr[0])
            most = "highest" if limit.floor else "lowest"
            best.append(
                f"the {most} {limit.words}, #{r.number} ({r.family}), {figure:.4g} {limit.unit}"
            )
        reason = (
            f"after {len(measured)} candidates measured across every family, none came within "
            f"{FAR_OVER:g}x of the limits: " + "; ".join(best)
        )
        study.set_user_attr(STOPPED_EARLY, reason)
        study.stop()

    def _far(self, record) -> bool:
        """Whether ``record`` is more than ``FAR_OVER`` times over (or under, for a floor) a
        limit, on any cost axis it was measured on."""
        req = self.requirements
        for axis, limit in COST_LIMITS.items():
            bound, figure = getattr(req, limit.requirement_field), cost_figure(record, axis, req)
            if bound is None or figure is None:
                continue
            if limit.broken_by(figure, bound / FAR_OVER if limit.floor else bound * FAR_OVER):
                return True
        return False

"""The points a search tries before its sampler takes over.

Each family first gets one trial at its defaults. When such a trial breaks a cost limit on the
machine at hand, the same architecture made smaller (:meth:`Family.shrink`) is queued next, and
so on until one fits or nothing smaller exists: a family's default is the best first guess of
what works, and on a slower machine its narrower version is the best guess of what fits. A
family whose default size is itself a guess at what fits (:meth:`Family.grow`) is grown the
same way while it fits the limits, when a latency limit is set: the first growth that
breaks one is rejected by its screening, before any fit, and the largest size that fit stays
the family's seeded best guess. The points a caller gives (``first_trials``) are queued before
all of these, as given: they are neither shrunk nor grown.

A seeded trial (a default, its shrunk or grown versions, a given point) trains on all of the
training rows from its first epoch: it is the search's best guess, queued before the sampler's
draws, so halving has no peers to stop it with, and a subsample would only weaken it
(:mod:`tradeoff.searcher.halving`).
"""

from __future__ import annotations

import optuna

from tradeoff.families import get_family
from tradeoff.prepare import Prepared
from tradeoff.records.attrs import SEEDED
from tradeoff.train import default_strategy_params

#: ``seeded_as`` of the search's ``first_trials``.
GIVEN = "given"


def default_trials(families: list[str], prepared: Prepared) -> list[dict]:
    """One trial per family at its defaults, to enqueue before the sampler takes over
    (the baseline first, then families that fit in seconds, so that even a short search has
    them; families combining others last, so that they have members to combine)."""

    def order(name: str) -> int:
        family = get_family(name)
        if family.baseline:
            return -1
        return 2 if family.combines_trials else 0 if family.defaults_first else 1

    trials = []
    for name in sorted(families, key=order):
        family = get_family(name)
        params = family.point(**family.defaults(prepared.input_shape))
        if family.uses_strategy:
            params.update(default_strategy_params(prepared))
        elif family.class_weights and prepared.imbalanced:
            params["class_weight"] = "none"
        trials.append(params)
    return trials


def queue_given_trials(study: optuna.Study, points: tuple[dict, ...], families: list[str]) -> None:
    """Queue the search's ``first_trials`` (those of a searched family), marked ``given``."""
    for params in points:
        if params.get("family", families[0]) in families:
            study.enqueue_trial(params, user_attrs={SEEDED: GIVEN}, skip_if_exists=True)


def queue_default_trials(study: optuna.Study, families: list[str], prepared: Prepared) -> None:
    for params in default_trials(families, prepared):
        study.enqueue_trial(params, user_attrs={SEEDED: "defaults"}, skip_if_exists=True)


def queue_smaller(trial: optuna.Trial, params: dict) -> bool:
    """If ``trial`` was seeded from its family's defaults (they, or a shrink of them), queue
    its family's smaller version of ``params``, with the rest of its draws (the strategy)
    unchanged; returns whether it queued one."""
    if not _from_defaults(trial):
        return False
    smaller = get_family(trial.params["family"]).shrink(params)
    return smaller is not None and _queue(trial, smaller, f"smaller than trial {trial.number}")


def queue_larger(trial: optuna.Trial, params: dict) -> bool:
    """If ``trial`` was seeded from its family's defaults and its family grows
    (:meth:`Family.grow`), queue the larger version of ``params``, the rest of its draws
    unchanged; returns whether it queued one. The caller asks only when ``trial`` fits every
    limit and a latency limit is set."""
    if not _from_defaults(trial):
        return False
    larger = get_family(trial.params["family"]).grow(params)
    return larger is not None and _queue(trial, larger, f"larger than trial {trial.number}")


def _queue(trial: optuna.Trial, params: dict, seeded_as: str) -> bool:
    # Its own parameters under the study's names; the rest (strategy, class_weight) as drawn.
    own = get_family(trial.params["family"]).point(**params)
    point = {k: own.get(k, v) for k, v in trial.params.items()}
    trial.study.enqueue_trial(point, user_attrs={SEEDED: seeded_as}, skip_if_exists=True)
    return True


def _from_defaults(trial: optuna.Trial) -> bool:
    """Whether ``trial`` is a family's defaults or a shrunk or grown version of them."""
    return trial.user_attrs.get(SEEDED) not in (None, GIVEN)


def is_seeded(trial: optuna.Trial) -> bool:
    """Whether ``trial`` was queued before the sampler's draws (it then trains on all rows)."""
    return trial.user_attrs.get(SEEDED) is not None

"""What a finished run learns by training its candidates again: a candidate's complete
cross-validation, the refit on train+validation that a pick ranked on folds is tested and
shipped as, and the pick's test estimate.

A :class:`tradeoff.frontier.Run` only reads; this part trains (through
:mod:`tradeoff.retrain`), below the CLI, the report and the exporter, and never imports the
search. Each figure is kept in the run's study, so it is computed once; a refit is kept for
the life of its ``Run``, so that the test estimate and the export share one.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from tradeoff.errors import TradeoffError
from tradeoff.records import CrossValidation, TrialRecord, trial_seed

if TYPE_CHECKING:
    from tradeoff.frontier import Run
    from tradeoff.measure import Estimate
    from tradeoff.retrain import Refit

_REFITS: WeakKeyDictionary[Run, dict[int, Refit]] = WeakKeyDictionary()


def cross_validation(run: Run, record: TrialRecord) -> CrossValidation:
    """The candidate's configuration retrained on each ``--cv`` fold; computed once, kept in the
    study. A candidate that fold racing stopped is retrained on every fold: whether it was
    rightly stopped can be checked against the fold mean of ``record.cv["raced_against"]``."""
    from tradeoff.retrain import cross_validate

    if record.cross_validation is not None:  # ranked on folds during the search
        return replace(record.cross_validation, metric=run.requirements.metric)
    key = f"cv:{record.number}"
    stored = run.study.user_attrs.get(key)
    if stored is not None:
        return CrossValidation(stored["metric"], tuple(stored["scores"]))
    if record.family is None or not (record.trained or "raced_against" in record.cv):
        raise TradeoffError(f"trial {record.number} was not trained (status {record.status})")
    result = cross_validate(
        run.prepared,
        record.family,
        record.params,
        record.strategy,
        seed=trial_seed(run.info["seed"], record.number),
        curve=record.curve,
        rounds=record.boosting_rounds,
    )
    run.keep(key, {"metric": result.metric, "scores": list(result.scores)})
    return result


def refits(record: TrialRecord) -> bool:
    """Whether ``record`` is refitted on train+validation before it is tested and shipped:
    a candidate ranked by cross-validation (compressed variants and ensembles never are)."""
    return record.cross_validation is not None and record.family is not None


def refit(run: Run, record: TrialRecord) -> Refit:
    """``record``'s configuration refitted on train+validation, with its trial's seed
    (:func:`tradeoff.retrain.refit`): the model its test estimate is of, and that export
    ships."""
    from tradeoff.retrain import refit as refit_configuration

    kept = _REFITS.setdefault(run, {})
    if record.number not in kept:
        kept[record.number] = refit_configuration(
            run.prepared,
            record.family,
            record.params,
            record.strategy,
            record.curve,
            seed=trial_seed(run.info["seed"], record.number),
            rounds=record.boosting_rounds,
        )
    return kept[record.number]


def test_estimate(run: Run, record: TrialRecord) -> Estimate:
    """The pick's quality (the run's metric) on the held-out test split, with its 95 %
    bootstrap interval; computed once and kept in the study.

    A candidate ranked by cross-validation is first refitted on train+validation
    (:func:`refit`), and the estimate is that model's: the split says so.
    """
    from tradeoff.measure import Estimate, bootstrap, predict_outputs
    from tradeoff.retrain import outputs_of

    refitted = refits(record)
    key = f"test:{'refit:' if refitted else ''}{record.number}"
    stored = run.study.user_attrs.get(key)
    if stored is not None:
        return Estimate(**stored)
    prepared = run.prepared
    split = "test"
    if refitted:
        outputs = outputs_of(refit(run, record).candidate, prepared.X_test)
        split = "test, refitted on train+validation"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            outputs = predict_outputs(run.artifact_path(record, tmp), prepared.X_test)
    estimate = bootstrap(run.requirements.metric, prepared.y_test, outputs, split=split)
    run.keep(key, estimate.__dict__)
    return estimate

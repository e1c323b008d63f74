"""TrialRecord: one trial of the study as users talk about it; its Status; the user attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import optuna
from optuna.trial import FrozenTrial, TrialState

from tradeoff.records._cv import CrossValidation
from tradeoff.records.attrs import (
    ARTIFACT,
    BOOSTING_ROUNDS,
    COMPRESSION,
    COST,
    CURVE,
    CV,
    ERROR,
    FAMILY_PARAMS,
    HOLDOUT_VAL_METRIC,
    PARENT,
    PEAK_RSS_MB,
    RUNG_ROWS,
    STATUS,
    STOPPED_BY,
    STRATEGY,
    TRAIN_SECONDS,
    VAL_METRIC,
    VAL_REPLICATES,
    VIOLATIONS,
    WEIGHTS,
)
from tradeoff.requirements import Violation


class Status(str, Enum):
    """What became of a trial. A ``str`` so that the study's user attributes and JSON hold the
    plain word, and ``record.status == "trained"`` keeps working."""

    TRAINED = "trained"
    INFEASIBLE = "infeasible"  # broke a cost limit on the untrained model; never trained
    PRUNED = "pruned"  # stopped early by halving, by fold racing, or by the time budget in folds
    SKIPPED = "skipped"  # an ensemble with nothing to combine yet
    REJECTED = "rejected"  # a compressed variant that lost too much quality or gained nothing
    FAILED = "failed"
    RUNNING = "running"
    QUEUED = "queued"  # enqueued, not started

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TrialRecord:
    """A trial's outcome.

    ``status`` is ``trained``, ``infeasible`` (broke a cost limit; never trained),
    ``pruned`` (stopped early by halving, ``val_metric`` its best so far; or by fold racing,
    ``cv`` holding the folds it was scored on and ``raced_against`` its peer; or by the time
    budget before its folds were done; ``stopped_by`` says which),
    ``skipped`` (an ensemble with nothing to combine yet), ``failed``, ``running``
    or ``queued`` (enqueued, not started; :func:`records` leaves these out). ``curve`` holds per-epoch train/val loss and metric.
    ``rejected``: a compressed variant that lost too much quality or gained nothing. A
    compressed variant carries its lineage: ``parent_trial`` and ``compression`` (pass,
    settings, and the verdict with its evidence).
    """

    number: int
    status: Status
    family: str | None
    params: dict = field(default_factory=dict)
    strategy: dict = field(default_factory=dict)
    val_metric: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    size_mb: float | None = None
    n_params: int | None = None
    train_seconds: float = 0.0
    violations: tuple[Violation, ...] = ()
    artifact_id: str | None = None
    weights_artifact_id: str | None = None
    latency_method: dict = field(default_factory=dict)
    error: str | None = None
    curve: list = field(default_factory=list)
    stopped_by: str | None = None
    p95_high_ms: float | None = None
    ratio_to_reference: float | None = None
    flops: int | None = None
    parent_trial: int | None = None
    compression: dict = field(default_factory=dict)
    peak_rss_mb: float | None = None
    rung_rows: dict = field(default_factory=dict)  # {rung epoch: training rows}
    #: Boosting rounds a boosted-tree trial kept (early stopping on validation); ``None``
    #: for other families.
    boosting_rounds: int | None = None

    @property
    def rows_trained(self) -> int | None:
        """Training rows of the trial's last epoch (fewer than all when halving stopped it at
        a subsampled rung); None for a trial that trained no network."""
        return self.curve[-1].get("rows") if self.curve else None

    inference_rss_mb: float | None = None  # measured when a memory limit or a target was set
    throughput_rows_per_s: float | None = None  # at ``throughput_batch``, when one was required
    throughput_batch: int | None = None

    #: --cv ranking: {"scores": [...], "folds_per_repeat": K}; ``val_metric`` is their mean
    cv: dict = field(default_factory=dict)
    holdout_val_metric: float | None = None
    #: ``val_metric`` on the run's bootstrap resamples of the validation rows (see ``replicates``)
    val_replicates: tuple[float, ...] = ()

    @property
    def cross_validation(self) -> CrossValidation | None:
        """The fold scores it was ranked on, as a :class:`CrossValidation`; ``None`` when it was
        not ranked on folds (or was stopped before its last fold: ``cv`` keeps those it ran)."""
        if not self.cv or not self.trained:
            return None
        return CrossValidation("", tuple(self.cv["scores"]), self.cv["folds_per_repeat"])

    def __post_init__(self) -> None:
        # Accept the plain words and sentences too (tests, benchmarks, older callers).
        object.__setattr__(self, "status", Status(self.status))
        violations = tuple(
            v if isinstance(v, Violation) else Violation.from_stored(v) for v in self.violations
        )
        object.__setattr__(self, "violations", violations)

    @property
    def trained(self) -> bool:
        return self.status is Status.TRAINED

    @property
    def feasible(self) -> bool:
        """Trained and within every requirement the search was given."""
        return self.trained and not self.violations

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        cost = attrs.get(COST, {})
        if trial.state == TrialState.COMPLETE:
            status = Status.TRAINED
        elif trial.state == TrialState.PRUNED:
            status = Status(attrs.get(STATUS, Status.PRUNED))
        elif trial.state == TrialState.RUNNING:
            status = Status.RUNNING
        elif trial.state == TrialState.WAITING:
            status = Status.QUEUED
        else:
            status = Status.FAILED
        return cls(
            number=trial.number,
            status=status,
            family=trial.params.get("family"),
            params=attrs.get(FAMILY_PARAMS, {}),
            strategy=attrs.get(STRATEGY, {}),
            val_metric=attrs.get(VAL_METRIC),
            p50_ms=cost.get("p50_ms"),
            p95_ms=cost.get("p95_ms"),
            size_mb=cost.get("size_mb"),
            n_params=cost.get("n_params"),
            train_seconds=attrs.get(TRAIN_SECONDS, 0.0),
            violations=tuple(Violation.from_stored(v) for v in attrs.get(VIOLATIONS, ())),
            artifact_id=attrs.get(ARTIFACT),
            weights_artifact_id=attrs.get(WEIGHTS),
            latency_method=cost.get("method", {}),
            error=attrs.get(ERROR),
            curve=attrs.get(CURVE, []),
            stopped_by=attrs.get(STOPPED_BY),
            p95_high_ms=cost.get("p95_high_ms"),
            ratio_to_reference=cost.get("ratio_to_reference"),
            flops=cost.get("flops"),
            parent_trial=attrs.get(PARENT),
            compression=attrs.get(COMPRESSION, {}),
            peak_rss_mb=attrs.get(PEAK_RSS_MB),
            rung_rows=attrs.get(RUNG_ROWS, {}),
            boosting_rounds=attrs.get(BOOSTING_ROUNDS),
            inference_rss_mb=cost.get("inference_rss_mb"),
            throughput_rows_per_s=cost.get("throughput_rows_per_s"),
            throughput_batch=cost.get("throughput_batch"),
            cv=attrs.get(CV, {}),
            holdout_val_metric=attrs.get(HOLDOUT_VAL_METRIC),
            val_replicates=tuple(attrs.get(VAL_REPLICATES, ())),
        )


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """Every trial started so far (queued ones, e.g. family defaults not reached yet, are left out)."""
    return [
        TrialRecord.from_trial(t)
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING
    ]

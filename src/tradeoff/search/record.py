"""TrialRecord: one trial of the study as users talk about it."""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

#: Trial user attributes written by the trial pipeline and read back here.
STATUS, FAMILY_PARAMS, STRATEGY, COST, VIOLATIONS, ERROR = (
    "status",
    "family_params",
    "strategy",
    "cost",
    "violations",
    "error",
)
VAL_METRIC, TRAIN_SECONDS, CURVE, ARTIFACT = "val_metric", "train_seconds", "curve", "artifact_id"
#: The trained torch state_dict (tensors only; read back with ``weights_only=True``).
WEIGHTS = "weights_artifact_id"
STOPPED_BY, VAL_CONFUSION = "stopped_by", "val_confusion_matrix"
#: Lineage of a compressed variant: its parent trial, and the pass with its settings and verdict.
PARENT, COMPRESSION = "parent_trial", "compression"
#: --cv ranking: fold scores (``val_metric`` is then their mean) and the validation split's figure.
CV, HOLDOUT_VAL_METRIC = "cv", "holdout_val_metric"


@dataclass(frozen=True)
class TrialRecord:
    """A trial's outcome.

    ``status`` is ``trained``, ``infeasible`` (broke a cost limit; never trained),
    ``pruned`` (stopped early by halving; ``val_metric`` is its best so far),
    ``skipped`` (an ensemble with nothing to combine yet), ``failed``, ``running``
    or ``queued`` (enqueued, not started; :func:`records` leaves these out). ``curve`` holds per-epoch train/val loss and metric.
    ``rejected``: a compressed variant that lost too much quality or gained nothing. A
    compressed variant carries its lineage: ``parent_trial`` and ``compression`` (pass,
    settings, and the verdict with its evidence).
    """

    number: int
    status: str
    family: str | None
    params: dict = field(default_factory=dict)
    strategy: dict = field(default_factory=dict)
    val_metric: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    size_mb: float | None = None
    n_params: int | None = None
    train_seconds: float = 0.0
    violations: tuple[str, ...] = ()
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
    #: --cv ranking: {"scores": [...], "folds_per_repeat": K}; ``val_metric`` is their mean
    cv: dict = field(default_factory=dict)
    holdout_val_metric: float | None = None

    @property
    def cross_validation(self):
        """The fold scores as a :class:`~tradeoff.search.cv.CrossValidation`, or ``None``."""
        if not self.cv:
            return None
        from tradeoff.search.cv import CrossValidation

        return CrossValidation("", tuple(self.cv["scores"]), self.cv["folds_per_repeat"])

    @property
    def trained(self) -> bool:
        return self.status == "trained"

    @property
    def feasible(self) -> bool:
        """Trained and within every requirement the search was given."""
        return self.trained and not self.violations

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        cost = attrs.get(COST, {})
        if trial.state == TrialState.COMPLETE:
            status = "trained"
        elif trial.state == TrialState.PRUNED:
            status = attrs.get(STATUS, "pruned")
        elif trial.state == TrialState.RUNNING:
            status = "running"
        elif trial.state == TrialState.WAITING:
            status = "queued"
        else:
            status = "failed"
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
            violations=tuple(attrs.get(VIOLATIONS, ())),
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
            cv=attrs.get(CV, {}),
            holdout_val_metric=attrs.get(HOLDOUT_VAL_METRIC),
        )


def records(study: optuna.Study) -> list[TrialRecord]:
    """Every trial started so far (queued ones, e.g. family defaults not reached yet, are left out)."""
    return [
        TrialRecord.from_trial(t)
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING
    ]

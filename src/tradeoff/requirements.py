"""Requirements: the hard constraints of a deployment and the quality objective."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from tradeoff.errors import TradeoffError


@dataclass(frozen=True)
class MetricSpec:
    """A quality metric a search can optimise: its direction and the tasks it applies to."""

    higher_is_better: bool
    tasks: frozenset[str]
    description: str


_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})

#: Quality metrics a search can optimise (``--metric``); computed in ``measure.quality``.
METRICS: dict[str, MetricSpec] = {
    "accuracy": MetricSpec(True, _CLASSIFICATION, "share of correct labels"),
    "balanced_accuracy": MetricSpec(True, _CLASSIFICATION, "mean recall over classes"),
    "precision": MetricSpec(True, _CLASSIFICATION, "macro-averaged precision"),
    "recall": MetricSpec(True, _CLASSIFICATION, "macro-averaged recall"),
    "f1": MetricSpec(True, _CLASSIFICATION, "macro-averaged F1"),
    "roc_auc": MetricSpec(True, _CLASSIFICATION, "ROC-AUC (binary, or one-vs-rest macro)"),
    "log_loss": MetricSpec(False, _CLASSIFICATION, "cross-entropy of the predicted probabilities"),
    "r2": MetricSpec(True, _REGRESSION, "coefficient of determination R²"),
    "mae": MetricSpec(False, _REGRESSION, "mean absolute error"),
    "rmse": MetricSpec(False, _REGRESSION, "root mean squared error"),
}

#: The cost axes a requirement bounds: axis -> (requirement field, words, unit).
COST_LIMITS = {
    "latency": ("max_latency_ms", "p95 latency", "ms"),
    "size": ("max_size_mb", "size", "MB"),
}


@dataclass(frozen=True)
class Violation:
    """One requirement a candidate breaks: which one (``axis``), its figure and the limit.

    ``axis`` is a cost axis (``"latency"``: the p95 latency's upper bound, ``"size"``) or
    ``"quality"`` (``metric`` names the metric). ``str()`` gives the sentence users read.

    >>> str(Violation("size", 2.0, 1.0))
    'size 2.000 MB > 1.0 MB'
    """

    axis: str
    value: float
    limit: float
    metric: str | None = None

    @property
    def is_cost(self) -> bool:
        return self.axis in COST_LIMITS

    @property
    def requirement(self) -> str:
        """The requirement in words: "p95 latency", "size", or the metric's name."""
        if self.is_cost:
            return COST_LIMITS[self.axis][1]
        return self.metric or "quality"

    def __str__(self) -> str:
        if self.is_cost:
            _, words, unit = COST_LIMITS[self.axis]
            return f"{words} {self.value:.3f} {unit} > {self.limit} {unit}"
        return f"{self.requirement} {self.value:.4f} misses {self.limit}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict | str) -> Violation:
        """Read back what :meth:`to_dict` wrote, or the sentence runs made before it existed."""
        if isinstance(stored, dict):
            return cls(**stored)
        for axis, (_, words, _) in COST_LIMITS.items():
            if m := re.fullmatch(rf"{words} ([-\d.e+inf]+) \w+ > ([-\d.e+inf]+) \w+", stored):
                return cls(axis, float(m[1]), float(m[2]))
        metric, _, rest = stored.partition(" ")
        value, _, limit = rest.partition(" misses ")
        return cls("quality", float(value), float(limit), None if metric == "quality" else metric)


#: The metric a search optimises when none is given, per task.
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class Requirements:
    """What the deployment can afford, checked before any training is spent.

    >>> Requirements(max_latency_ms=0.2, max_size_mb=1.0).max_latency_ms
    0.2

    ``max_latency_ms`` bounds the p95 latency at batch 1 on the target runtime;
    ``max_size_mb`` the serialized ONNX file; ``min_quality`` the validation
    value of ``metric``. ``None`` means unconstrained.
    """

    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    min_quality: float | None = None
    metric: str | None = None  # None: the task's default (accuracy, or R² for regression)

    def __post_init__(self) -> None:
        for flag, value in (
            ("max_latency_ms", self.max_latency_ms),
            ("max_size_mb", self.max_size_mb),
        ):
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise TradeoffError(f"{_flag(flag)}: must be a number > 0, got {value!r}")
        if self.min_quality is not None and not math.isfinite(self.min_quality):
            raise TradeoffError(f"--min-quality: must be a finite number, got {self.min_quality!r}")
        if self.metric is not None and self.metric not in METRICS:
            known = ", ".join(METRICS)
            raise TradeoffError(f"--metric: unknown metric {self.metric!r}; known: {known}")

    @property
    def higher_is_better(self) -> bool:
        # Both task defaults (accuracy, R²) are higher-is-better.
        return METRICS[self.metric].higher_is_better if self.metric else True

    def for_task(self, task: str) -> Requirements:
        """These requirements with ``metric`` resolved for ``task``; fails early when it does not apply.

        >>> Requirements().for_task("regression").metric
        'r2'
        """
        if self.metric is None:
            return replace(self, metric=DEFAULT_METRIC[task])
        if task not in METRICS[self.metric].tasks:
            fitting = ", ".join(n for n, m in METRICS.items() if task in m.tasks)
            raise TradeoffError(
                f"--metric: {self.metric!r} does not apply to {task} data; use one of: {fitting}"
            )
        return self

    def cost_violations(self, p95_ms: float, size_mb: float) -> list[Violation]:
        """The hard cost constraints a candidate breaks (the one place cost limits are checked)."""
        figures = {"latency": p95_ms, "size": size_mb}
        broken = []
        for axis, (field_name, _, _) in COST_LIMITS.items():
            limit = getattr(self, field_name)
            if limit is not None and figures[axis] > limit:
                broken.append(Violation(axis, figures[axis], limit))
        return broken

    def quality_violation(self, quality: float) -> Violation | None:
        """The quality floor, if ``quality`` misses it."""
        if self.min_quality is None:
            return None
        ok = quality >= self.min_quality if self.higher_is_better else quality <= self.min_quality
        return None if ok else Violation("quality", quality, self.min_quality, self.metric)

    def violations(self, p95_ms: float, size_mb: float, quality: float | None) -> list[Violation]:
        """Every requirement broken: the cost limits, then the quality floor (if known)."""
        broken = self.cost_violations(p95_ms, size_mb)
        missed = None if quality is None else self.quality_violation(quality)
        return broken + ([missed] if missed else [])

    def constraint_values(self, p95_ms: float, size_mb: float, quality: float | None) -> dict:
        """How far a candidate is from each limit, for Optuna's constraints (<= 0: within it;
        an unknown quality counts as within)."""
        values = {
            axis: figure - limit if (limit := getattr(self, COST_LIMITS[axis][0])) else 0.0
            for axis, figure in (("latency", p95_ms), ("size", size_mb))
        }
        if self.min_quality is None or quality is None:
            values["quality"] = 0.0
        else:
            values["quality"] = (self.min_quality - quality) * (
                1.0 if self.higher_is_better else -1.0
            )
        return values

    def to_dict(self) -> dict:
        return asdict(self)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")

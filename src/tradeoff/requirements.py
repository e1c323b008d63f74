"""Requirements: the hard constraints of a deployment and the quality objective."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

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
    "f1_minority": MetricSpec(True, _CLASSIFICATION, "F1 of the rarest class (imbalanced tasks)"),
    "roc_auc": MetricSpec(True, _CLASSIFICATION, "ROC-AUC (binary, or one-vs-rest macro)"),
    "log_loss": MetricSpec(False, _CLASSIFICATION, "cross-entropy of the predicted probabilities"),
    "r2": MetricSpec(True, _REGRESSION, "coefficient of determination R²"),
    "mae": MetricSpec(False, _REGRESSION, "mean absolute error"),
    "rmse": MetricSpec(False, _REGRESSION, "root mean squared error"),
}


class CostLimit(NamedTuple):
    """A cost axis a requirement bounds: the requirement's field, its words and unit."""

    requirement_field: str
    words: str
    unit: str
    floor: bool = False  # a lower bound (throughput): a figure below it breaks it

    def broken_by(self, figure: float, limit: float) -> bool:
        return figure < limit if self.floor else figure > limit

    @property
    def flag(self) -> str:
        """The command-line flag that sets it, e.g. ``--max-latency-ms``."""
        return _flag(self.requirement_field)


#: The cost axes a requirement bounds, and how a sentence names each.
COST_LIMITS: dict[str, CostLimit] = {
    "latency": CostLimit("max_latency_ms", "p95 latency", "ms"),
    "size": CostLimit("max_size_mb", "size", "MB"),
    "memory": CostLimit("max_memory_mb", "inference memory", "MB"),
    "throughput": CostLimit("min_throughput", "throughput", "rows/s", floor=True),
}

#: The axis of a target's refusal to measure a model (over its size, time or memory caps).
REFUSED = "refused"

_NUMBER = r"[-\d.,e+inf]+"


@dataclass(frozen=True)
class Violation:
    """One requirement a candidate breaks: which one (``axis``), its figure and the limit.

    ``axis`` is a cost axis (``"latency"``: the p95 latency's upper bound, ``"size"``,
    ``"memory"``, ``"throughput"``: a floor, measured at ``batch`` rows per call),
    ``"quality"`` (``metric`` names the metric) or ``"refused"``: a target's agent refused
    to measure the model (``detail`` says why; no figures). ``where`` names the target a
    cost was measured on when there were several. ``str()`` gives the sentence users read.

    >>> str(Violation("size", 2.0, 1.0))
    'size 2.000 MB > 1.0 MB'
    >>> str(Violation("throughput", 500.0, 1000.0, batch=8))
    'throughput 500.000 rows/s at batch 8 < 1000.0 rows/s'
    """

    axis: str
    value: float | None  # None only for a refusal
    limit: float | None
    metric: str | None = None
    where: str | None = None
    batch: int | None = None
    detail: str | None = None

    @property
    def is_cost(self) -> bool:
        return self.axis in COST_LIMITS or self.axis == REFUSED

    @property
    def requirement(self) -> str:
        """The requirement in words: "p95 latency", "size", ..., or the metric's name."""
        if self.axis in COST_LIMITS:
            return COST_LIMITS[self.axis].words
        if self.axis == REFUSED:
            return "a target's caps"
        return self.metric or "quality"

    def __str__(self) -> str:
        if self.axis == REFUSED:
            return self.detail or f"refused by {self.where}"
        if self.axis in COST_LIMITS:
            limit = COST_LIMITS[self.axis]
            batch = "" if self.batch is None else f" at batch {self.batch}"
            where = "" if self.where is None else f" on {self.where}"
            op = "<" if limit.floor else ">"
            return (
                f"{limit.words} {self.value:.3f} {limit.unit}{batch} {op} "
                f"{self.limit} {limit.unit}{where}"
            )
        return f"{self.requirement} {self.value:.4f} misses {self.limit}"

    def to_dict(self) -> dict:
        # The fields added after the first runs only when set, so older records read the same.
        extra = ("where", "batch", "detail")
        return {k: v for k, v in asdict(self).items() if v is not None or k not in extra}

    @classmethod
    def from_stored(cls, stored: dict | str) -> Violation:
        """Read back what :meth:`to_dict` wrote, or the sentence runs made before it existed."""
        if isinstance(stored, dict):
            return cls(**stored)
        for axis, limit in COST_LIMITS.items():
            unit = re.escape(limit.unit)
            if m := re.fullmatch(
                rf"{limit.words} ({_NUMBER}) {unit}(?: at batch (\d+))? [<>] ({_NUMBER}) {unit}"
                r"(?: on (.+))?",
                stored,
            ):
                value, limit_value = (float(g.replace(",", "")) for g in (m[1], m[3]))
                batch = None if m[2] is None else int(m[2])
                return cls(axis, value, limit_value, where=m[4], batch=batch)
        if stored.startswith("target "):
            return cls(REFUSED, None, None, detail=stored)
        metric, _, rest = stored.partition(" ")
        value, _, limit = rest.partition(" misses ")
        return cls("quality", float(value), float(limit), None if metric == "quality" else metric)


#: The metric a search optimises when none is given, per task.
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


#: What ``--prefer`` may ask: the most accurate candidate meeting the requirements, or its
#: cheaper twin (``tradeoff.selection.cheaper_twin``).
PREFER = ("accurate", "cheaper")


def check_prefer(prefer: str) -> str:
    """``prefer`` if it is one of :data:`PREFER`; else one line naming ``--prefer``."""
    if prefer not in PREFER:
        raise TradeoffError(f"--prefer: expected one of {', '.join(PREFER)}, got {prefer!r}")
    return prefer


@dataclass(frozen=True)
class Requirements:
    """What the deployment can afford, checked before any training is spent.

    >>> Requirements(max_latency_ms=0.2, max_size_mb=1.0).max_latency_ms
    0.2

    ``max_latency_ms`` bounds the p95 latency at batch 1 on the target runtime;
    ``max_size_mb`` the serialized ONNX file; ``min_quality`` the validation
    value of ``metric``; ``max_memory_mb`` the resident memory an inference process adds
    by loading and running the model (measured in a fresh process); ``min_throughput`` the
    rows per second at batch ``throughput_batch`` (1 when not given). ``None`` means
    unconstrained.
    """

    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    min_quality: float | None = None
    metric: str | None = None  # None: the task's default (accuracy, or R² for regression)
    max_memory_mb: float | None = None
    min_throughput: float | None = None  # rows per second
    throughput_batch: int | None = None  # rows per call for min_throughput; None: 1

    def __post_init__(self) -> None:
        for flag, value in (
            ("max_latency_ms", self.max_latency_ms),
            ("max_size_mb", self.max_size_mb),
            ("max_memory_mb", self.max_memory_mb),
            ("min_throughput", self.min_throughput),
        ):
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise TradeoffError(f"{_flag(flag)}: must be a number > 0, got {value!r}")
        batch = self.throughput_batch
        if batch is not None:
            if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 65536:
                raise TradeoffError(
                    f"--throughput-batch: must be a whole number from 1 to 65536, got {batch!r}"
                )
            if self.min_throughput is None:
                raise TradeoffError("--throughput-batch: give --min-throughput with it")
        if self.min_quality is not None and not math.isfinite(self.min_quality):
            raise TradeoffError(f"--min-quality: must be a finite number, got {self.min_quality!r}")
        if self.metric is not None and self.metric not in METRICS:
            known = ", ".join(METRICS)
            raise TradeoffError(f"--metric: unknown metric {self.metric!r}; known: {known}")

    @property
    def limits_cost(self) -> bool:
        """Whether any cost is limited (latency, size, memory or throughput)."""
        limits = (self.max_latency_ms, self.max_size_mb, self.max_memory_mb, self.min_throughput)
        return any(limit is not None for limit in limits)

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

    @property
    def batch_for_throughput(self) -> int | None:
        """The batch throughput is measured at, or ``None`` when throughput is not required."""
        return None if self.min_throughput is None else (self.throughput_batch or 1)

    def cost_violations(
        self,
        p95_ms: float,
        size_mb: float,
        memory_mb: float | None = None,
        throughput: float | None = None,
        *,
        where: str | None = None,
    ) -> list[Violation]:
        """The hard cost constraints a candidate breaks (the one place cost limits are checked).

        Memory and throughput (at :attr:`batch_for_throughput`) are checked when measured
        (not ``None``); ``where`` names the machine the figures come from, when it matters.
        """
        figures = dict(zip(COST_LIMITS, (p95_ms, size_mb, memory_mb, throughput), strict=True))
        return self.cost_violations_in(figures, where=where)

    def cost_violations_in(
        self, figures: dict[str, float | None], *, where: str | None = None
    ) -> list[Violation]:
        """:meth:`cost_violations` of a figure per cost axis (``COST_LIMITS``'s names)."""
        broken = []
        for axis, cost_limit in COST_LIMITS.items():
            limit = getattr(self, cost_limit.requirement_field)
            figure = figures.get(axis)
            if limit is not None and figure is not None and cost_limit.broken_by(figure, limit):
                batch = self.batch_for_throughput if axis == "throughput" else None
                broken.append(Violation(axis, figure, limit, where=where, batch=batch))
        return broken

    def quality_violation(self, quality: float) -> Violation | None:
        """The quality floor, if ``quality`` misses it."""
        if self.min_quality is None:
            return None
        ok = quality >= self.min_quality if self.higher_is_better else quality <= self.min_quality
        return None if ok else Violation("quality", quality, self.min_quality, self.metric)

    def violations(
        self,
        p95_ms: float,
        size_mb: float,
        quality: float | None,
        memory_mb: float | None = None,
        throughput: float | None = None,
    ) -> list[Violation]:
        """Every requirement broken: the cost limits, then the quality floor (if known)."""
        broken = self.cost_violations(p95_ms, size_mb, memory_mb, throughput)
        missed = None if quality is None else self.quality_violation(quality)
        return broken + ([missed] if missed else [])

    def to_dict(self) -> dict:
        # Memory and throughput only when set: a run recorded before they existed compares equal.
        return {
            k: v
            for k, v in asdict(self).items()
            if v is not None or k not in ("max_memory_mb", "min_throughput", "throughput_batch")
        }


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")

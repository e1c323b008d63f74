"""Requirements: the hard constraints of a deployment and the quality objective."""

from __future__ import annotations

import math
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

#: The metric a search optimises when none is given, per task.
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


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
    ) -> list[str]:
        """The hard cost constraints a candidate breaks, each as a short reason.

        Memory and throughput are checked when measured (not ``None``).
        """
        reasons = []
        if self.max_latency_ms is not None and p95_ms > self.max_latency_ms:
            reasons.append(f"p95 latency {p95_ms:.3f} ms > {self.max_latency_ms} ms")
        if self.max_size_mb is not None and size_mb > self.max_size_mb:
            reasons.append(f"size {size_mb:.3f} MB > {self.max_size_mb} MB")
        if (
            self.max_memory_mb is not None
            and memory_mb is not None
            and memory_mb > self.max_memory_mb
        ):
            reasons.append(f"inference memory {memory_mb:.1f} MB > {self.max_memory_mb} MB")
        if (
            self.min_throughput is not None
            and throughput is not None
            and throughput < self.min_throughput
        ):
            reasons.append(
                f"throughput {throughput:,.0f} rows/s at batch {self.batch_for_throughput} "
                f"< {self.min_throughput:,.0f} rows/s"
            )
        return reasons

    def quality_violation(self, quality: float) -> str | None:
        if self.min_quality is None:
            return None
        ok = quality >= self.min_quality if self.higher_is_better else quality <= self.min_quality
        return None if ok else f"{self.metric or 'quality'} {quality:.4f} misses {self.min_quality}"

    def to_dict(self) -> dict:
        # Memory and throughput only when set: a run recorded before they existed compares equal.
        return {
            k: v
            for k, v in asdict(self).items()
            if v is not None or k not in ("max_memory_mb", "min_throughput", "throughput_batch")
        }


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")

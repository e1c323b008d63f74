"""Requirements: the hard constraints of a deployment and the quality objective."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tradeoff.errors import TradeoffError

#: Quality metrics a search can optimise, and whether higher is better.
METRICS: dict[str, bool] = {"accuracy": True}


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
    metric: str = "accuracy"

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
        if self.metric not in METRICS:
            known = ", ".join(METRICS)
            raise TradeoffError(f"--metric: unknown metric {self.metric!r}; known: {known}")

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]

    def cost_violations(self, p95_ms: float, size_mb: float) -> list[str]:
        """The hard cost constraints a candidate breaks, each as a short reason."""
        reasons = []
        if self.max_latency_ms is not None and p95_ms > self.max_latency_ms:
            reasons.append(f"p95 latency {p95_ms:.3f} ms > {self.max_latency_ms} ms")
        if self.max_size_mb is not None and size_mb > self.max_size_mb:
            reasons.append(f"size {size_mb:.3f} MB > {self.max_size_mb} MB")
        return reasons

    def quality_violation(self, quality: float) -> str | None:
        if self.min_quality is None:
            return None
        ok = quality >= self.min_quality if self.higher_is_better else quality <= self.min_quality
        return None if ok else f"{self.metric} {quality:.4f} misses {self.min_quality}"

    def to_dict(self) -> dict:
        return asdict(self)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")

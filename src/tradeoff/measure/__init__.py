"""Cost and quality measurement."""

from tradeoff.measure.latency import (
    Latency,
    LatencyProtocol,
    cpu_model,
    describe_method,
    measure_latency,
    session,
)
from tradeoff.measure.quality import (
    Estimate,
    accuracy,
    bootstrap,
    bootstrap_accuracy,
    confusion_matrix,
    metric_names,
    score,
)

__all__ = [
    "Estimate",
    "Latency",
    "LatencyProtocol",
    "accuracy",
    "bootstrap",
    "bootstrap_accuracy",
    "confusion_matrix",
    "metric_names",
    "score",
    "cpu_model",
    "describe_method",
    "measure_latency",
    "session",
]

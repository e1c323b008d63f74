"""Cost and quality measurement."""

from tradeoff.measure.latency import (
    Latency,
    LatencyProtocol,
    cpu_model,
    describe_method,
    measure_latency,
    session,
)
from tradeoff.measure.quality import Estimate, accuracy, bootstrap_accuracy

__all__ = [
    "Estimate",
    "Latency",
    "LatencyProtocol",
    "accuracy",
    "bootstrap_accuracy",
    "cpu_model",
    "describe_method",
    "measure_latency",
    "session",
]

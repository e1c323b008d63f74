"""Cost and quality measurement."""

from tradeoff.measure.cost import cost_record
from tradeoff.measure.flops import count_flops
from tradeoff.measure.latency import (
    QUICK_PROTOCOL,
    Latency,
    LatencyProtocol,
    compare_latency,
    cpu_flags,
    cpu_model,
    describe_method,
    interleaved_ratio,
    measure_latency,
    measure_throughput,
    predict_classes,
    predict_outputs,
    session,
)
from tradeoff.measure.memory import measure_fresh, peak_inference_memory_mb
from tradeoff.measure.paired import PairedDrop, paired_accuracy_drop
from tradeoff.measure.quality import (
    Estimate,
    accuracy,
    bootstrap,
    bootstrap_accuracy,
    confusion_matrix,
    metric_names,
    score,
)
from tradeoff.measure.reference import REFERENCE_NAME, reference_model

__all__ = [
    "QUICK_PROTOCOL",
    "REFERENCE_NAME",
    "Estimate",
    "Latency",
    "LatencyProtocol",
    "PairedDrop",
    "accuracy",
    "bootstrap",
    "bootstrap_accuracy",
    "confusion_matrix",
    "metric_names",
    "score",
    "compare_latency",
    "cost_record",
    "count_flops",
    "cpu_flags",
    "cpu_model",
    "describe_method",
    "interleaved_ratio",
    "measure_fresh",
    "measure_latency",
    "measure_throughput",
    "paired_accuracy_drop",
    "peak_inference_memory_mb",
    "reference_model",
    "predict_classes",
    "predict_outputs",
    "session",
]

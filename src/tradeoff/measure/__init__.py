"""Cost and quality measurement.

Names load on first use (PEP 562), so that reading a bundle (``session``) or a run does not
import what it does not need: FLOPs counting needs PyTorch, quality metrics scikit-learn.
"""

from tradeoff._lazy import lazy_names

#: Each public name and the module of ``tradeoff.measure`` that defines it.
_WHERE = {
    "Estimate": "quality",
    "Latency": "latency",
    "LatencyProtocol": "latency",
    "PairedDrop": "paired",
    "QUICK_PROTOCOL": "latency",
    "REFERENCE_NAME": "reference",
    "accuracy": "quality",
    "bootstrap": "quality",
    "bootstrap_accuracy": "quality",
    "compare_latency": "latency",
    "confusion_matrix": "quality",
    "cost_record": "cost",
    "count_flops": "flops",
    "cpu_flags": "latency",
    "cpu_model": "latency",
    "describe_method": "latency",
    "interleaved_ratio": "latency",
    "measure_fresh": "memory",
    "measure_call": "latency",
    "measure_latency": "latency",
    "measure_throughput": "latency",
    "metric_names": "quality",
    "paired_accuracy_drop": "paired",
    "peak_inference_memory_mb": "memory",
    "predict_classes": "latency",
    "predict_outputs": "latency",
    "run_onnx": "latency",
    "reference_model": "reference",
    "score": "quality",
    "session": "latency",
}

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
    "measure_call",
    "measure_latency",
    "measure_throughput",
    "paired_accuracy_drop",
    "peak_inference_memory_mb",
    "reference_model",
    "predict_classes",
    "predict_outputs",
    "run_onnx",
    "session",
]


__getattr__ = lazy_names(__name__, {n: f"tradeoff.measure.{m}" for n, m in _WHERE.items()})

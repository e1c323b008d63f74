"""Latency of an ONNX model in ONNX Runtime: the runtime the user will ship on."""

from __future__ import annotations

import functools
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np
import onnxruntime as ort


@dataclass(frozen=True)
class LatencyProtocol:
    """How latency is measured: fixed threads and batch, warm-up, then timed calls.

    Timing stops once both ``min_calls`` and ``min_seconds`` are reached (or
    ``max_seconds`` passes, for very slow models).
    """

    threads: int = 1
    batch: int = 1
    warmup_calls: int = 50
    min_calls: int = 300
    min_seconds: float = 0.25
    max_seconds: float = 3.0


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    calls: int
    method: dict

    def to_dict(self) -> dict:
        return asdict(self)


@functools.cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def session(onnx_model: bytes | str, threads: int = 1) -> ort.InferenceSession:
    """An ORT CPU session with a fixed thread count and full graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


def measure_latency(
    onnx_model: bytes | str,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol = LatencyProtocol(),
) -> Latency:
    """Time single inference calls of ``onnx_model`` on random inputs.

    >>> latency = measure_latency(model_bytes, (40, 1))  # doctest: +SKIP
    >>> latency.p95_ms, latency.method["runtime"]  # doctest: +SKIP
    (0.031, 'onnxruntime 1.32.0')
    """
    sess = session(onnx_model, protocol.threads)
    name = sess.get_inputs()[0].name
    feed = {
        name: np.random.default_rng(0)
        .standard_normal((protocol.batch, *input_shape))
        .astype(np.float32)
    }
    run = sess.run
    for _ in range(protocol.warmup_calls):
        run(None, feed)
    times: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    min_ns, max_ns = protocol.min_seconds * 1e9, protocol.max_seconds * 1e9
    while True:
        t0 = clock()
        run(None, feed)
        t1 = clock()
        times.append(t1 - t0)
        elapsed = t1 - start
        if (len(times) >= protocol.min_calls and elapsed >= min_ns) or elapsed >= max_ns:
            break
    ms = np.asarray(times, dtype=np.float64) / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return Latency(
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=float(ms.mean()),
        calls=len(ms),
        method={
            "runtime": f"onnxruntime {ort.__version__}",
            "provider": "CPUExecutionProvider",
            "threads": protocol.threads,
            "batch": protocol.batch,
            "warmup_calls": protocol.warmup_calls,
            "calls": len(ms),
            "cpu": cpu_model(),
        },
    )


def describe_method(method: dict) -> str:
    """One line saying how a latency figure was measured."""
    return (
        f"{method['runtime']} ({method['provider']}), {method['threads']} thread(s), "
        f"batch {method['batch']}, {method['calls']} timed calls after {method['warmup_calls']} "
        f"warm-up, CPU: {method['cpu']}"
    )

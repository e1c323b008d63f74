"""One candidate's cost record, as written to the study: latency, size, parameters, FLOPs, method."""

from __future__ import annotations

from torch import nn

from tradeoff.measure.flops import count_flops
from tradeoff.measure.latency import Latency


def cost_record(
    latency: Latency,
    onnx_bytes: bytes,
    model: nn.Module | None = None,
    input_shape: tuple[int, ...] | None = None,
    *,
    n_params: int | None = None,
    flops: int | None = None,
) -> dict:
    """The cost dict stored with a trial (JSON-friendly; units in the names).

    Parameters and FLOPs come from ``model`` when it is given, else from the
    explicit values (a quantized variant keeps its parent's counts).
    """
    if model is not None:
        n_params = sum(p.numel() for p in model.parameters())
        if input_shape is not None:
            try:
                flops = count_flops(model, tuple(input_shape))
            except Exception:  # an operator the counter cannot trace: leave it unknown
                flops = None
    return {
        "p50_ms": latency.p50_ms,
        "p95_ms": latency.p95_ms,
        "p99_ms": latency.p99_ms,
        "p95_high_ms": latency.p95_high_ms,
        "p50_interval_ms": list(latency.p50_interval_ms),
        "p95_interval_ms": list(latency.p95_interval_ms),
        "p99_interval_ms": list(latency.p99_interval_ms),
        "ratio_to_reference": latency.ratio_to_reference,
        "ratio_interval": list(latency.ratio_interval) if latency.ratio_interval else None,
        "reference_p50_ms": latency.reference_p50_ms,
        "size_mb": len(onnx_bytes) / 1e6,
        "n_params": n_params,
        "flops": flops,
        "method": latency.method,
    }

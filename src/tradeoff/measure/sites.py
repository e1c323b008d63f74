"""A candidate's cost where it will run: on this machine, or on every target agent.

The search measures each candidate with :func:`measure_cost`: here (as before) when no
target is given, else on each target through its agent (the requirements must hold on
every one). Memory is measured, in a fresh process, when a memory limit is set, and
throughput at the required batch when a throughput limit is. The figures a trial records
(:meth:`SiteCost.record`) name the machine of each, and its p95 is the highest upper
bound over the targets: the one that binds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import onnx

from tradeoff.measure.candidate import Measurement, MeasureSpec, measure_model
from tradeoff.measure.latency import Latency, LatencyProtocol
from tradeoff.measure.remote import Target, TargetRejected, measure_on_target
from tradeoff.requirements import REFUSED, Requirements, Violation


@dataclass(frozen=True)
class SiteCost:
    """One candidate measured on each site: the binding latency, the worst memory and
    throughput, every measurement, and the sites that refused it (``refused``: reasons)."""

    latency: Latency
    size_mb: float
    measurements: tuple[Measurement, ...]
    refused: tuple[Violation, ...] = ()  # axis "refused": the target and its reason

    @property
    def binding(self) -> Measurement:
        """The measurement with the highest p95 upper bound: where latency binds."""
        return max(self.measurements, key=lambda m: m.latency.p95_high_ms)

    @property
    def memory_mb(self) -> float | None:
        figures = [m.inference_rss_mb for m in self.measurements if m.inference_rss_mb is not None]
        return max(figures) if figures else None

    @property
    def throughput(self) -> float | None:
        figures = [m.throughput_rows_per_s for m in self.measurements if m.throughput_rows_per_s]
        return min(figures) if figures else None

    @property
    def figures(self) -> dict[str, float | None]:
        """The figure on each cost axis as limits see it: latency the binding p95's upper
        bound, the worst memory and throughput (``None``: not measured)."""
        return {
            "latency": self.latency.p95_high_ms,
            "size": self.size_mb,
            "memory": self.memory_mb,
            "throughput": self.throughput,
        }

    def violations(self, req: Requirements) -> list[Violation]:
        """Each requirement broken on each site (named when there are several), refusals too."""
        several = len(self.measurements) + len(self.refused) > 1
        broken: list[Violation] = list(self.refused)
        for m in self.measurements:
            for violation in req.cost_violations(
                m.latency.p95_high_ms,
                self.size_mb,
                m.inference_rss_mb,
                m.throughput_rows_per_s,
                where=m.where if several else None,
            ):
                if violation not in broken:
                    broken.append(violation)
        return broken

    def record(self, cost: dict) -> dict:
        """``cost`` (a :func:`~tradeoff.measure.cost_record`) with memory, throughput and, for
        every figure, the machine it was measured on."""
        binding = self.binding
        return {
            **cost,
            "inference_rss_mb": self.memory_mb,
            "throughput_rows_per_s": self.throughput,
            "throughput_batch": binding.throughput_batch,
            "method": {**cost["method"], "where": binding.where, "machine": binding.machine},
            "sites": [
                {
                    "where": m.where,
                    "machine": m.machine,
                    "p50_ms": m.latency.p50_ms,
                    "p95_ms": m.latency.p95_ms,
                    "p95_high_ms": m.latency.p95_high_ms,
                    "ratio_to_reference": m.latency.ratio_to_reference,
                    "inference_rss_mb": m.inference_rss_mb,
                    "throughput_rows_per_s": m.throughput_rows_per_s,
                    "wall_s": m.wall_s,
                }
                for m in self.measurements
            ],
            "refused": [str(v) for v in self.refused],
        }


def measure_cost(
    onnx_bytes: bytes,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol,
    req: Requirements,
    targets: tuple[Target, ...] | list[Target] = (),
    samples: np.ndarray | dict[str, np.ndarray] | None = None,
    limit_ms: float | None = None,
) -> SiteCost:
    """Measure a candidate here, or on every target; see :class:`SiteCost`.

    A target that refuses the model (over its size, time or memory cap) counts as a broken
    requirement there; one that does not answer raises
    :class:`~tradeoff.measure.remote.TargetUnreachable`.
    """
    spec = MeasureSpec(
        tuple(input_shape),
        protocol,
        memory=req.max_memory_mb is not None or bool(targets),
        throughput_batch=req.batch_for_throughput,
        samples=samples,
        limit_ms=limit_ms,
    )
    measurements, refused = [], []
    for target in targets:
        try:
            measurements.append(measure_on_target(target, onnx_bytes, spec))
        except TargetRejected as error:
            where = f"agent {target.url}"
            refused.append(Violation(REFUSED, None, None, where=where, detail=str(error)))
    if not measurements:  # no target, or every target refused it: the figures of this machine
        measurements.append(measure_model(onnx_bytes, spec))
    binding = max(measurements, key=lambda m: m.latency.p95_high_ms)
    return SiteCost(binding.latency, len(onnx_bytes) / 1e6, tuple(measurements), tuple(refused))


def architecture_key(onnx_bytes: bytes) -> str:
    """A hash of an ONNX graph without its weights' values: operators, attributes, shapes.

    Two models with the same key run the same kernels on the same shapes; for trees,
    whose thresholds are node attributes, the key covers the whole fitted model.
    """
    model = onnx.load_from_string(onnx_bytes)
    for tensor in model.graph.initializer:
        tensor.ClearField("raw_data")
        for name in ("float_data", "int32_data", "int64_data", "double_data"):
            tensor.ClearField(name)
    model.ClearField("producer_version")
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()

"""ORT static int8 in QDQ format: per-channel weights, activation ranges calibrated on training data."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from tradeoff.compress._base import CompressionPass, Parent, Variant, op_types, register_pass
from tradeoff.compress._int8 import Int8Recipe, int8_recipe, recipe_for
from tradeoff.families import INPUT_NAME

#: Training rows used to calibrate activation ranges.
CALIBRATION_ROWS = 512


class _Rows(CalibrationDataReader):
    def __init__(self, X: np.ndarray, batch: int = 64):
        self._batches = iter([{INPUT_NAME: X[i : i + batch]} for i in range(0, len(X), batch)])

    def get_next(self):
        return next(self._batches, None)


@register_pass("int8_static")
class Int8Static(CompressionPass):
    description = "ONNX Runtime static int8 (QDQ, per-channel weights, calibrated on training rows): convolutions"

    def applies(self, parent: Parent) -> bool:
        return "Conv" in op_types(parent.onnx)

    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant:
        X = parent.prepared.X_train
        rows = np.random.default_rng(seed).permutation(len(X))[:CALIBRATION_ROWS]
        recipe = recipe_for(parent.machines)
        onnx_bytes = quantize_static_bytes(parent.onnx, X[np.sort(rows)].astype(np.float32), recipe)
        return Variant(
            onnx=onnx_bytes,
            settings={
                "recipe": recipe.to_dict(),
                "format": "QDQ",
                "per_channel": True,
                "float_head": "when it holds at most half of the weights",
                "float_first_conv": "when it holds at most a tenth of the weights",
                "calibration": f"minmax on {len(rows)} training rows",
            },
        )


def quantize_static_bytes(
    onnx_model: bytes, calibration_rows: np.ndarray, recipe: Int8Recipe | None = None
) -> bytes:
    """``onnx_model`` quantized to int8 QDQ, with activation ranges from ``calibration_rows``,
    by ``recipe`` (default: the one for this machine's ISA)."""
    recipe = recipe or int8_recipe()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "fp32.onnx")
        prepped = os.path.join(tmp, "prepped.onnx")
        target = os.path.join(tmp, "int8.onnx")
        with open(source, "wb") as file:
            file.write(onnx_model)
        try:
            quant_pre_process(source, prepped, skip_symbolic_shape=True)
        except Exception:  # pre-processing only helps; quantize the original if it fails
            prepped = source
        # A small classifier head stays in float: quantizing the logits costs agreement
        # with the parent for little gain. A head holding most of the weights (a
        # flatten head) is quantized: that is where the size is.
        # So does a small first convolution: it reads the raw signal, whose quantization
        # costs agreement with the parent (measured on MNIST-1D's CNN), and it holds few weights.
        graph = onnx.load(prepped).graph
        in_float = _small_head(graph) + _small_first_conv(graph)
        quantize_static(
            prepped,
            target,
            _Rows(calibration_rows),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=recipe.activation_type,
            weight_type=recipe.weight_type,
            reduce_range=recipe.reduce_range,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=in_float,
        )
        with open(target, "rb") as file:
            return file.read()


def _small_head(graph) -> list[str]:
    """The last Gemm/MatMul's name if it holds at most half of the weights, else nothing."""
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    products = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    if not products:
        return []
    head_weights = sum(sizes.get(name, 0) for name in products[-1].input)
    return [products[-1].name] if head_weights <= 0.5 * sum(sizes.values()) else []


def _small_first_conv(graph) -> list[str]:
    """The first Conv's name if it holds at most a tenth of the weights, else nothing."""
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if not convs:
        return []
    weights = sum(sizes.get(name, 0) for name in convs[0].input)
    return [convs[0].name] if weights <= 0.1 * sum(sizes.values()) else []

"""ORT dynamic int8: int8 weights, activations quantized on the fly (Linear, LSTM/GRU, attention)."""

from __future__ import annotations

import logging
import os
import tempfile

from onnxruntime.quantization import QuantType, quantize_dynamic

from tradeoff.compress._base import CompressionPass, Parent, Variant, op_types, register_pass

_QUANTIZABLE = {"MatMul", "Gemm", "LSTM", "GRU", "Attention", "MultiHeadAttention"}


@register_pass("int8_dynamic")
class Int8Dynamic(CompressionPass):
    description = "ONNX Runtime dynamic int8 (weights int8, activations per call): Linear, LSTM/GRU, attention"

    def applies(self, parent: Parent) -> bool:
        ops = op_types(parent.onnx)
        # Convolutional graphs go to static QDQ, which quantizes the convolutions too.
        return bool(ops & _QUANTIZABLE) and "Conv" not in ops

    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant:
        return Variant(onnx=quantize_dynamic_bytes(parent.onnx), settings={"weight_type": "QInt8"})


def quantize_dynamic_bytes(onnx_model: bytes) -> bytes:
    """``onnx_model`` with its weights in int8 (onnxruntime.quantization.quantize_dynamic)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
        with open(source, "wb") as file:
            file.write(onnx_model)
        # ORT logs a pre-processing hint on the root logger for every call; it is not
        # actionable for these small graphs and would break the progress bar.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        with open(target, "rb") as file:
            return file.read()

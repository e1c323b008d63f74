"""ORT dynamic int8: int8 weights, activations quantized on the fly (Linear, LSTM/GRU, attention)."""

from __future__ import annotations

import logging
import os
import tempfile

from onnxruntime.quantization import quantize_dynamic

from tradeoff.compress._base import CompressionPass, Parent, Variant, op_types, register_pass
from tradeoff.compress._int8 import Int8Recipe, int8_recipe, recipe_for

_QUANTIZABLE = {"MatMul", "Gemm", "LSTM", "GRU", "Attention", "MultiHeadAttention"}


@register_pass("int8_dynamic")
class Int8Dynamic(CompressionPass):
    description = "ONNX Runtime dynamic int8 (weights int8, activations per call): Linear, LSTM/GRU, attention"

    def applies(self, parent: Parent) -> bool:
        ops = op_types(parent.onnx)
        # Convolutional graphs go to static QDQ, which quantizes the convolutions too.
        return bool(ops & _QUANTIZABLE) and "Conv" not in ops

    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant:
        recipe = recipe_for(parent.machines)
        return Variant(
            onnx=quantize_dynamic_bytes(parent.onnx, recipe),
            settings={"recipe": recipe.to_dict(), "weight_type": recipe.weight},
        )


def quantize_dynamic_bytes(onnx_model: bytes, recipe: Int8Recipe | None = None) -> bytes:
    """``onnx_model`` with its weights in int8 (onnxruntime.quantization.quantize_dynamic),
    by ``recipe`` (default: the one for this machine's ISA; activations are always unsigned)."""
    recipe = recipe or int8_recipe()
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
            quantize_dynamic(
                source,
                target,
                weight_type=recipe.weight_type,
                per_channel=True,
                reduce_range=recipe.reduce_range,
            )
        finally:
            root.setLevel(level)
        with open(target, "rb") as file:
            return file.read()

"""The fixed reference model every candidate is timed next to (drift correction).

A small MLP built directly as an ONNX graph with fixed weights, so it is the
same model on every machine, in every version of tradeoff that keeps its name.
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REFERENCE_NAME = "tradeoff-reference-mlp-v1"
_IN, _HIDDEN, _OUT = 64, 128, 10


@functools.cache
def reference_model() -> tuple[bytes, tuple[int, ...]]:
    """The reference ONNX model's bytes and its input shape (without the batch axis)."""
    rng = np.random.default_rng(20260101)
    w1 = numpy_helper.from_array(rng.standard_normal((_IN, _HIDDEN)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(_HIDDEN, np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((_HIDDEN, _OUT)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.zeros(_OUT, np.float32), "b2")
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        REFERENCE_NAME,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", _IN])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", _OUT])],
        initializer=[w1, b1, w2, b2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), (_IN,)

"""A compression pass: every float weight rounded to 3 decimals (kept only if it helps)."""

import numpy as np
import onnx
from onnx import numpy_helper

from tradeoff.compress import CompressionPass, Variant


class RoundWeights(CompressionPass):
    description = "toy plug-in: weights rounded to 3 decimals"

    def applies(self, parent):
        return True

    def compress(self, parent, *, seed, deadline):
        model = onnx.load_from_string(parent.onnx)
        for tensor in model.graph.initializer:
            if tensor.data_type == onnx.TensorProto.FLOAT:
                rounded = np.round(numpy_helper.to_array(tensor), 3).astype(np.float32)
                tensor.CopyFrom(numpy_helper.from_array(rounded, tensor.name))
        return Variant(onnx=model.SerializeToString(), settings={"decimals": 3})

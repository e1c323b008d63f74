"""Ridge regression on one-hot targets, closed form, as one ONNX graph (MatMul + Add)."""

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tradeoff.families import INPUT_NAME, OUTPUT_NAME, Candidate, Family


class Ridge(Family):
    modalities = frozenset({"tabular"})
    description = "toy plug-in: ridge regression on one-hot targets"
    training = "closed form"
    builds_network = False
    uses_strategy = False

    def suggest(self, trial, input_shape):
        return {"alpha": trial.suggest_float(self.key("alpha"), 1e-3, 10.0, log=True)}

    def defaults(self, input_shape):
        return {"alpha": 1.0}

    def produce(self, params, services):
        p = services.prepared
        X = p.X_train.reshape(len(p.X_train), -1).astype(np.float64)
        Y = np.eye(p.n_outputs)[p.y_train]
        mean_x, mean_y = X.mean(axis=0), Y.mean(axis=0)
        Xc = X - mean_x
        W = np.linalg.solve(Xc.T @ Xc + params["alpha"] * np.eye(X.shape[1]), Xc.T @ (Y - mean_y))
        b = mean_y - mean_x @ W
        onnx_model = _graph(W.astype(np.float32), b.astype(np.float32))
        services.screen(onnx_model, n_params=int(W.size + b.size))
        return Candidate(onnx_model)


def _graph(weights: np.ndarray, bias: np.ndarray) -> bytes:
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [INPUT_NAME, "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], [OUTPUT_NAME]),
        ],
        "ridge",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, onnx.TensorProto.FLOAT, ["batch", len(weights)]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["batch", len(bias)])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()

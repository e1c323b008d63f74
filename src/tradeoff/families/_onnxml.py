"""What the tree families share: a converted graph made to return logits, and the fitted
estimator's own outputs to check it against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

from tradeoff.families._base import INPUT_NAME, OUTPUT_NAME

#: Probabilities are clipped here before the log: a float32 0 would give an infinite logit.
TINY_PROBABILITY = 1e-30


def as_logits(model: onnx.ModelProto, n_outputs: int, regression: bool) -> bytes:
    """The converted model with one output, ``OUTPUT_NAME`` ``[B, n_outputs]``.

    A classifier's converted graph outputs (label, probabilities): the shipped output is
    ``log(probabilities)``, logits whose softmax gives back the probabilities. A regressor's
    single output is passed through.
    """
    graph = model.graph
    if [i.name for i in graph.input] != [INPUT_NAME]:
        raise ValueError(f"converted graph takes {[i.name for i in graph.input]}, not {INPUT_NAME}")
    _free_output_name(graph)
    source = graph.output[0].name if regression else graph.output[-1].name
    floor = helper.make_tensor("tiny_probability", TensorProto.FLOAT, [], [TINY_PROBABILITY])
    if regression:
        nodes = [helper.make_node("Identity", [source], [OUTPUT_NAME])]
    else:
        graph.initializer.append(floor)
        nodes = [
            helper.make_node("Max", [source, floor.name], ["clipped_probabilities"]),
            helper.make_node("Log", ["clipped_probabilities"], [OUTPUT_NAME]),
        ]
    _raise_opsets(model)
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_outputs])
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _free_output_name(graph: onnx.GraphProto) -> None:
    """The converters may name an inner tensor ``output``: rename it so ours is the only one."""
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == OUTPUT_NAME:
                    names[i] = "converted_output"
    for value in graph.output:
        if value.name == OUTPUT_NAME:
            value.name = "converted_output"


def _raise_opsets(model: onnx.ModelProto) -> None:
    """Opsets high enough for the nodes added here and the table encoding folded in front."""
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 15))  # the nodes added here need it
    for opset in model.opset_import:
        # The table encoding folded in front needs ai.onnx.ml 2+ (LabelEncoder with string keys)
        # and opset 9+ (IsNaN); the converters' few operators read the same up to these.
        if opset.domain == "ai.onnx.ml" and opset.version < 3:
            opset.version = 3
        if opset.domain in ("", "ai.onnx") and opset.version < 15:
            opset.version = 15


def tree_parameters(model: onnx.ModelProto) -> int:
    """Learned numbers in the tree ensembles: a threshold per node, a weight per leaf target."""
    total = 0
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            for attribute in node.attribute:
                if attribute.name in ("nodes_values", "target_weights", "class_weights"):
                    total += len(attribute.floats)
    return total


def native_outputs(
    estimator, n_outputs: int, regression: bool
) -> Callable[[np.ndarray], np.ndarray]:
    """The fitted scikit-learn-API ``estimator``'s own outputs on rows ``X``, as its ONNX graph
    must give them: ``log(predict_proba)`` (clipped as the graph clips it) in the columns of
    its classes, or ``predict`` for regression (``FittedModel.native``)."""

    def outputs(X: np.ndarray) -> np.ndarray:
        X = X.reshape(len(X), -1)
        if regression:
            return np.asarray(estimator.predict(X), np.float64).reshape(len(X), 1)
        probabilities = np.full((len(X), n_outputs), TINY_PROBABILITY)
        probabilities[:, np.asarray(estimator.classes_, np.int64)] = estimator.predict_proba(X)
        return np.log(np.maximum(probabilities, TINY_PROBABILITY))

    return outputs

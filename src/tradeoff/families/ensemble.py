"""Model fusion: a weighted ensemble of the search's own front members, as one ONNX model.

The ensemble trains nothing. The search hands it the ONNX models of the best
trained candidates so far by Pareto rank (front members first); it merges them into one graph that
averages their class probabilities (classification; the output is the log of
the average, so it stays a logit) or their predictions (regression). Its cost
is measured on that combined model, like any other candidate's.

>>> fitted = Ensemble().combine({"weighting": "rank"}, [best, second], "multiclass")  # doctest: +SKIP
>>> fitted.onnx_model  # one graph: both members, their softmax, the weighted average  # doctest: +SKIP
"""

from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import compose, helper

from tradeoff.families._base import (
    INPUT_NAME,
    OUTPUT_NAME,
    CombiningFamily,
    FittedModel,
    register_family,
)


@register_family("ensemble")
class Ensemble(CombiningFamily):
    modalities = frozenset({"tabular", "sequence", "image"})
    description = "weighted average of 2-4 front members (uniform, or by validation rank)"

    def suggest(self, trial, input_shape):
        return {
            "members": trial.suggest_int(self.key("members"), 2, self.max_members),
            "weighting": trial.suggest_categorical(self.key("weighting"), ["uniform", "rank"]),
        }

    def defaults(self, input_shape):
        return {"members": 3, "weighting": "rank"}

    def n_members(self, params: dict) -> int:
        return params["members"]

    def combine(self, params: dict, members: list[bytes], task: str) -> FittedModel:
        """One ONNX model averaging ``members`` (best first); ``rank`` weights them 1/1, 1/2, 1/3..."""
        start = time.perf_counter()
        k = len(members)
        raw = np.ones(k) if params["weighting"] == "uniform" else 1.0 / np.arange(1, k + 1)
        weights = raw / raw.sum()
        onnx_model = merge_average(members, weights, classification=task != "regression")
        n_params = sum(
            int(np.prod(t.dims)) for t in onnx.load_from_string(onnx_model).graph.initializer
        )
        return FittedModel(onnx_model, n_params, time.perf_counter() - start)


def merge_average(members: list[bytes], weights: np.ndarray, *, classification: bool) -> bytes:
    """Merge ONNX models sharing one input into a graph returning their weighted average.

    Classification: ``log(sum_i w_i softmax(logits_i))``; regression: ``sum_i w_i y_i``.
    """
    nodes, initializers, opsets = [], [], {}
    terms = []
    for i, (member_bytes, weight) in enumerate(zip(members, weights, strict=True)):
        member = compose.add_prefix(onnx.load_from_string(member_bytes), f"m{i}_")
        graph = member.graph
        for node in graph.node:
            node.input[:] = [INPUT_NAME if n == f"m{i}_{INPUT_NAME}" else n for n in node.input]
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        for opset in member.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        out = f"m{i}_{OUTPUT_NAME}"
        if classification:
            nodes.append(helper.make_node("Softmax", [out], [f"m{i}_proba"], axis=1))
            out = f"m{i}_proba"
        initializers.append(
            helper.make_tensor(f"m{i}_weight", onnx.TensorProto.FLOAT, [], [float(weight)])
        )
        nodes.append(helper.make_node("Mul", [out, f"m{i}_weight"], [f"m{i}_weighted"]))
        terms.append(f"m{i}_weighted")
    if classification:
        nodes.append(helper.make_node("Sum", terms, ["average"]))
        nodes.append(helper.make_node("Log", ["average"], [OUTPUT_NAME]))
    else:
        nodes.append(helper.make_node("Sum", terms, [OUTPUT_NAME]))
    first = onnx.load_from_string(members[0]).graph
    graph = helper.make_graph(
        nodes,
        "ensemble",
        [first.input[0]],
        [first.output[0]],  # same name, type and shape as every member's output
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        producer_name="tradeoff",
    )
    model.ir_version = max(onnx.load_from_string(m).ir_version for m in members)
    onnx.checker.check_model(model)
    return model.SerializeToString()

"""A new kind of family and a new compression pass, from this file alone: a search and an
export run with them, and nothing in the package had to know about them."""

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tradeoff.compress import CompressionPass, Variant, register_pass
from tradeoff.compress._base import PASSES
from tradeoff.datasets import load
from tradeoff.errors import TradeoffError
from tradeoff.exporter import export
from tradeoff.families import INPUT_NAME, OUTPUT_NAME, Candidate, Family, register_family
from tradeoff.families._base import FAMILIES
from tradeoff.frontier import Run
from tradeoff.records import Status
from tradeoff.requirements import Requirements
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.halving import Halving
from tradeoff.searcher.settings import CompressionSettings


class NearestCentroid(Family):
    """A kind of its own: no network, no fit of a library; the class means as one ONNX graph
    (logits = 2 x.c - |c|^2, the negative squared distance up to a constant)."""

    modalities = frozenset({"tabular"})
    description = "toy: nearest class centroid"
    training = "class means"
    builds_network = False
    uses_strategy = False

    def suggest(self, trial, input_shape):
        return {"shrink": trial.suggest_float(self.key("shrink"), 0.0, 0.5)}

    def defaults(self, input_shape):
        return {"shrink": 0.0}

    def produce(self, params, services):
        p = services.prepared
        X = p.X_train.reshape(len(p.X_train), -1)
        centroids = np.stack([X[p.y_train == k].mean(axis=0) for k in range(p.n_outputs)])
        centroids = (1 - params["shrink"]) * centroids + params["shrink"] * X.mean(axis=0)
        onnx_model = _centroid_graph(centroids.astype(np.float32))
        services.screen(onnx_model, n_params=int(centroids.size))
        return Candidate(onnx_model)


def _centroid_graph(centroids: np.ndarray) -> bytes:
    weights = numpy_helper.from_array((2 * centroids).T.copy(), "w")
    bias = numpy_helper.from_array(-(centroids**2).sum(axis=1).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [INPUT_NAME, "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], [OUTPUT_NAME]),
        ],
        "centroids",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, onnx.TensorProto.FLOAT, ["batch", centroids.shape[1]]
            )
        ],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, onnx.TensorProto.FLOAT, ["batch", len(centroids)]
            )
        ],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


class HalfPrecisionWeights(CompressionPass):
    """Toy pass: round every weight to float16 precision (same size; kept only if it helps)."""

    description = "toy: weights rounded to float16 precision"

    def applies(self, parent):
        return True

    def compress(self, parent, *, seed, deadline):
        model = onnx.load_from_string(parent.onnx)
        for tensor in model.graph.initializer:
            if tensor.data_type == onnx.TensorProto.FLOAT:
                rounded = numpy_helper.to_array(tensor).astype(np.float16).astype(np.float32)
                tensor.CopyFrom(numpy_helper.from_array(rounded, tensor.name))
        return Variant(onnx=model.SerializeToString(), settings={"dtype": "float16"})


@pytest.fixture
def plugins(monkeypatch):
    """Registered for this test only, so that other tests see the built-in registries."""
    for registry in (FAMILIES, PASSES):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    register_family("toy_centroid")(NearestCentroid)
    register_pass("toy_fp16")(HalfPrecisionWeights)


def test_a_new_kind_of_family_and_a_new_pass_search_and_export(plugins, tmp_path):
    data = load("iris")
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=4,
        # The network first: compression runs on a trained network that nothing dominates yet.
        families=("linear", "toy_centroid"),
        max_epochs=5,
        halving=Halving(),
        compression=CompressionSettings(passes=("toy_fp16",)),
    )
    run_search(data, Requirements(), tmp_path / "run", settings, show_progress=False)
    run = Run.open(tmp_path / "run")
    trials = run.trials()
    toy = [r for r in trials if r.family == "toy_centroid" and r.parent_trial is None]
    assert toy and all(r.status is Status.TRAINED for r in toy)
    assert all(r.val_metric > 0.5 and r.n_params == 3 * 4 for r in toy)  # 3 classes x 4 features
    # The pass ran on a trained network (the linear family) and its variant is a trial.
    variants = [r for r in trials if r.compression.get("pass") == "toy_fp16"]
    assert variants and all(r.parent_trial is not None for r in variants)

    out = tmp_path / "model"
    export(run, out, trial=toy[0].number)
    card = json.loads((out / "card.json").read_text())
    assert card["lineage"]["trial"] == toy[0].number
    assert card["lineage"]["family"] == "toy_centroid"


def test_a_name_registered_twice_is_refused_naming_both(plugins):
    class Another(NearestCentroid):
        pass

    with pytest.raises(TradeoffError, match=r"family 'toy_centroid' is registered twice.*Another"):
        register_family("toy_centroid")(Another)
    register_family("toy_centroid")(NearestCentroid)  # the same class again: nothing changes
    assert FAMILIES.get("toy_centroid") is NearestCentroid
    with pytest.raises(TradeoffError, match="compression pass 'int8_dynamic' is registered twice"):
        register_pass("int8_dynamic")(HalfPrecisionWeights)

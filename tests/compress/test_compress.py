"""Compression passes on real small models: variants exist, agree, carry lineage, and are judged."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict

import numpy as np
import onnx
import pytest
import torch

import tradeoff
from tradeoff.compress import (
    Parent,
    QualityTolerance,
    Student,
    get_pass,
    judge,
    pass_names,
    quality_holds,
)
from tradeoff.compress._int8 import int8_recipe, recipe_for
from tradeoff.compress.int8_static import quantize_static_bytes
from tradeoff.compress.prune import prune_structured
from tradeoff.errors import TradeoffError
from tradeoff.families import count_parameters, deployable, get_family, to_onnx
from tradeoff.measure import (
    QUICK_PROTOCOL,
    paired_accuracy_drop,
    predict_classes,
    predict_outputs,
)
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.compression import CompressionSettings
from tradeoff.train import Strategy, train

MLP = {"depth": 2, "width": 64, "activation": "relu", "dropout": 0.0}
CNN = {
    "depth": 3,
    "channels": 16,
    "kernel": 5,
    "pooling": "stride",
    "head": "flatten",
    "activation": "relu",
    "dropout": 0.0,
}
#: Classes an int8 variant must share with its fp32 parent: on all rows, and on the rows the
#: parent is sure of (top-2 margin above its lower quartile). This 0.82-accurate CNN has many
#: low-margin rows, whose classes int8's rounding may flip, and how many flip depends on the
#: CPU's kernels and on the parent its float arithmetic trained: on a VNNI Xeon the recipes
#: agreed 0.981-0.994 on all rows, on an AVX2 AMD EPYC 0.967-0.973 (7-bit and 8-bit weights
#: alike) yet 0.997-0.998 on the sure rows. A broken quantization flips sure rows too.
INT8_AGREEMENT, INT8_AGREEMENT_SURE = 0.95, 0.99
STRATEGY = Strategy(optimizer="adam", lr=3e-3, batch_size=64, max_epochs=8, patience=3)


@pytest.fixture(scope="module")
def full():
    return prepare(tradeoff.datasets.load("mnist1d"), seed=0)


@pytest.fixture(scope="module")
def prepared(full):
    """MNIST-1D with a smaller training split, so that the models train in seconds."""
    return dataclasses.replace(full, X_train=full.X_train[:1200], y_train=full.y_train[:1200])


def _parent(prepared, family: str, params: dict, trial: int, epochs: int = 8) -> Parent:
    torch.manual_seed(0)
    model = deployable(
        get_family(family), params, prepared.input_shape, prepared.n_outputs, prepared.scaling
    )
    strategy = dataclasses.replace(STRATEGY, max_epochs=epochs)
    train(model, prepared, strategy, seed=0)
    onnx_bytes = to_onnx(model, prepared.input_shape)
    return Parent(trial, family, params, asdict(strategy), model, onnx_bytes, prepared)


@pytest.fixture(scope="module")
def tabular():
    """Breast cancer (tabular): an MLP learns it well in a second."""
    return prepare(tradeoff.datasets.load("breast_cancer"), seed=0)


@pytest.fixture(scope="module")
def parents(full, prepared, tabular):
    return {
        "mlp": _parent(prepared, "mlp", MLP, 0),
        "cnn": _parent(full, "cnn", CNN, 1, epochs=20),
        "tabular_mlp": _parent(tabular, "mlp", MLP, 2, epochs=30),
    }


def _ops(onnx_bytes: bytes) -> set[str]:
    return {n.op_type for n in onnx.load_from_string(onnx_bytes).graph.node}


def _agreement(ours: np.ndarray, variant: bytes, rows: np.ndarray) -> tuple[float, float]:
    """Class agreement of ``variant`` with the parent's outputs ``ours`` on all ``rows``, and
    on the rows where the parent's top-2 margin is above its lower quartile."""
    theirs = predict_outputs(variant, rows)
    top2 = np.sort(ours, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    same = ours.argmax(1) == theirs.argmax(1)
    return float(same.mean()), float(same[margin > np.quantile(margin, 0.25)].mean())


@pytest.mark.parametrize(
    ("name", "family", "int8_ops"),
    [
        ("int8_dynamic", "tabular_mlp", {"DynamicQuantizeLinear", "MatMulInteger"}),
        ("int8_static", "cnn", {"QuantizeLinear", "DequantizeLinear"}),
    ],
)
def test_int8_variant_exists_and_agrees_with_its_parent(parents, name, family, int8_ops):
    parent = parents[family]
    prepared = parent.prepared
    assert get_pass(name).applies(parent)
    variant = get_pass(name).compress(parent, seed=0, deadline=time.monotonic() + 60)
    assert int8_ops <= _ops(variant.onnx)
    int8_weights = [
        t
        for t in onnx.load_from_string(variant.onnx).graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    ]
    assert int8_weights, "the weights are stored as int8"
    assert len(variant.onnx) < len(parent.onnx)
    rows = np.concatenate([prepared.X_val, prepared.X_test])  # more rows: a finer check
    ours = predict_outputs(parent.onnx, rows)
    parent_pred = ours[: len(prepared.y_val)].argmax(1)
    assert np.mean(parent_pred == prepared.y_val) > 0.5  # a real model (chance: 0.1 or 0.5)
    agreement, sure = _agreement(ours, variant.onnx, rows)
    assert agreement >= INT8_AGREEMENT and sure >= INT8_AGREEMENT_SURE, (agreement, sure)
    # The recipe and the ISA it was chosen for are recorded with the variant.
    assert variant.settings["recipe"] == int8_recipe().to_dict()
    assert "flags" in variant.settings["recipe"]["isa"]


@pytest.mark.parametrize(
    "recipe",
    [int8_recipe(), int8_recipe(("sse4_2", "avx", "avx2", "fma"), "x86_64")],
    ids=["this-machine", "x86-without-vnni"],
)
def test_int8_static_recipe_holds_the_parents_classes(parents, recipe):
    """The recipe chosen here, and the 7-bit recipe a CPU without VNNI gets, both keep the
    CNN's classes."""
    parent = parents["cnn"]
    prepared = parent.prepared
    calibration = prepared.X_train[:512].astype(np.float32)
    variant = quantize_static_bytes(parent.onnx, calibration, recipe)
    rows = np.concatenate([prepared.X_val, prepared.X_test])
    agreement, sure = _agreement(predict_outputs(parent.onnx, rows), variant, rows)
    assert agreement >= INT8_AGREEMENT and sure >= INT8_AGREEMENT_SURE, (agreement, sure)


def test_int8_recipe_follows_the_isa():
    without_vnni = int8_recipe(("avx2", "avx512f"), "x86_64")
    assert without_vnni.reduce_range and not without_vnni.isa["vnni"]
    with_vnni = int8_recipe(("avx2", "avx512f", "avx512_vnni"), "x86_64")
    assert not with_vnni.reduce_range and with_vnni.isa["vnni"]
    assert not int8_recipe(("avx2", "avx_vnni"), "AMD64").reduce_range
    arm = int8_recipe(("neon", "asimd", "asimddp"), "aarch64")
    assert (arm.activation, arm.weight, arm.reduce_range) == ("QInt8", "QInt8", False)
    assert arm.isa["dotprod"]


def test_int8_passes_quantize_for_the_targets_not_this_machine(parents):
    """A search measuring on agents hands their /info machines to the passes."""
    avx2 = {"arch": "x86_64", "cpu_flags": ["avx2", "fma"]}
    vnni = {"arch": "x86_64", "cpu_flags": ["avx2", "avx512_vnni"]}
    arm = {"arch": "aarch64", "cpu_flags": ["asimd", "asimddp"]}
    cnn, mlp = parents["cnn"], parents["mlp"]

    def recipe(name, parent, *machines):
        variant = get_pass(name).compress(
            dataclasses.replace(parent, machines=machines), seed=0, deadline=float("inf")
        )
        return variant.settings["recipe"]

    for name, parent in (("int8_static", cnn), ("int8_dynamic", mlp)):
        assert recipe(name, parent, avx2)["reduce_range"] is True
        assert recipe(name, parent, avx2)["isa"]["flags"] == avx2["cpu_flags"]
        assert recipe(name, parent, vnni)["reduce_range"] is False
    assert recipe("int8_static", cnn, arm)["activation"] == "QInt8"
    # Targets needing different recipes: the one safe on each.
    mixed = recipe_for((vnni, arm))
    assert (mixed.activation, mixed.reduce_range) == ("QUInt8", True)
    assert [m["machine"] for m in mixed.isa["machines"]] == ["x86_64", "aarch64"]
    assert recipe_for((vnni, vnni)).reduce_range is False
    assert recipe_for() == int8_recipe()


def test_each_pass_applies_where_it_should(parents):
    assert not get_pass("int8_static").applies(parents["mlp"])  # no convolutions
    assert not get_pass("int8_dynamic").applies(parents["cnn"])  # static QDQ serves convolutions
    assert get_pass("prune").applies(parents["mlp"]) and get_pass("prune").applies(parents["cnn"])
    assert not get_pass("distill").applies(parents["mlp"])  # no cheaper student offered
    assert set(pass_names()) == {"distill", "int8_dynamic", "int8_static", "prune"}


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_pruning_physically_removes_neurons_and_channels(parents, prepared, family):
    parent = parents[family]
    pruned = prune_structured(parent.model, keep_fraction=0.5)
    first = next(m for m in pruned[1] if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)))
    original = next(m for m in parent.model[1] if isinstance(m, type(first)))
    assert first.weight.shape[0] == original.weight.shape[0] // 2
    assert count_parameters(pruned) < 0.7 * count_parameters(parent.model)
    X = torch.from_numpy(prepared.X_val[:8])
    assert pruned(X).shape == parent.model(X).shape
    # Without fine-tuning, keeping every neuron is the identity.
    same = prune_structured(parent.model, keep_fraction=1.0)
    with torch.no_grad():
        torch.testing.assert_close(same(X), parent.model(X))


def test_pruning_pass_fine_tunes_a_smaller_artifact(parents, prepared):
    parent = parents["mlp"]
    variant = get_pass("prune").compress(parent, seed=0, deadline=time.monotonic() + 60)
    assert len(variant.onnx) < 0.6 * len(parent.onnx)
    assert variant.train_seconds > 0 and variant.settings["fine_tune_epochs"] >= 1
    accuracy = np.mean(predict_classes(variant.onnx, prepared.X_val) == prepared.y_val)
    assert accuracy > 0.3  # far above chance (0.1) after fine-tuning


def test_pruning_fine_tunes_for_a_share_of_the_parents_training_time(parents):
    """Fine-tuning is bounded by what the parent cost, not only by an epoch count."""
    parent = parents["mlp"]
    unbounded = get_pass("prune").compress(parent, seed=0, deadline=time.monotonic() + 60)
    assert unbounded.settings["fine_tune_epochs"] >= 3
    quick_parent = dataclasses.replace(parent, train_seconds=0.002)
    bounded = get_pass("prune").compress(quick_parent, seed=0, deadline=time.monotonic() + 60)
    assert bounded.settings["fine_tune_epochs"] == 1  # the first epoch starts; no second


def test_distillation_trains_the_student_architecture(parents, prepared):
    student = Student(trial=7, family="mlp", params={**MLP, "width": 16}, val_metric=0.3)
    teacher = dataclasses.replace(parents["cnn"], students=(student,))
    assert get_pass("distill").applies(teacher)
    variant = get_pass("distill").compress(teacher, seed=0, deadline=time.monotonic() + 60)
    assert variant.reference_trial == 7 and variant.settings["student_family"] == "mlp"
    assert variant.settings["temperature"] > 1 and 0 < variant.settings["soft_weight"] < 1
    hidden = variant.model[1][1]
    assert hidden.out_features == 16
    accuracy = np.mean(predict_classes(variant.onnx, prepared.X_val) == prepared.y_val)
    assert accuracy > 0.3


def test_a_variant_that_loses_too_much_is_rejected(parents, prepared):
    parent = parents["mlp"]
    crippled = prune_structured(parent.model, keep_fraction=0.05)  # no fine-tune
    parent_pred = predict_classes(parent.onnx, prepared.X_val)
    crippled_pred = predict_classes(to_onnx(crippled, prepared.input_shape), prepared.X_val)
    metric = float(np.mean(parent_pred == prepared.y_val))
    common = {"reference_metric": metric, "tolerance": QualityTolerance(0.01, relative=True)}
    faster = {"speed_ratio": 0.5, "speed_ratio_interval": (0.45, 0.55), "size_ratio": 0.2}
    crippled = paired_accuracy_drop(prepared.y_val, parent_pred, crippled_pred)
    same = paired_accuracy_drop(prepared.y_val, parent_pred, parent_pred)
    verdict = judge(crippled, **common, **faster)
    assert not verdict.kept and "quality drop" in verdict.reason
    # The same predictions are kept when faster beyond noise, rejected when not.
    assert judge(same, **common, **faster).kept
    noisy = {"speed_ratio": 0.99, "speed_ratio_interval": (0.95, 1.03), "size_ratio": 1.0}
    verdict = judge(same, **common, **noisy)
    assert not verdict.kept and "noise" in verdict.reason
    # Surely under 1 but by less than SPEED_GAIN: an equal model timed against itself can
    # look like this, so it is no gain.
    barely = {"speed_ratio": 0.97, "speed_ratio_interval": (0.965, 0.975), "size_ratio": 1.0}
    assert not judge(same, **common, **barely).kept
    # Quality is tested first: a variant it rejects need not be timed at all.
    assert not quality_holds(crippled, **common)
    assert quality_holds(same, **common)
    untimed = {"speed_ratio": None, "speed_ratio_interval": None, "size_ratio": 0.2}
    verdict = judge(crippled, **common, **untimed)
    assert not verdict.kept and verdict.to_dict()["speed_ratio_interval"] is None
    with pytest.raises(ValueError, match="speed ratio"):
        judge(same, **common, **untimed)
    # Smaller but slower: kept only when the parent breaks a size limit.
    slower_smaller = {"speed_ratio": 1.3, "speed_ratio_interval": (1.25, 1.35), "size_ratio": 0.3}
    assert not judge(same, **common, **slower_smaller).kept
    assert judge(same, **common, **slower_smaller, size_binds=True).kept


def test_quality_tolerance_parses_relative_and_absolute():
    assert QualityTolerance.parse("1%") == QualityTolerance(0.01, True)
    assert QualityTolerance.parse("0.005") == QualityTolerance(0.005, False)
    assert QualityTolerance.parse("2%").allowed(0.9) == pytest.approx(0.018)
    with pytest.raises(TradeoffError, match="--max-quality-drop"):
        QualityTolerance.parse("-1")


def test_variants_are_trials_with_lineage(tmp_path, prepared):
    small = dataclasses.replace(
        prepared, X_train=prepared.X_train[:600], y_train=prepared.y_train[:600]
    )
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=1,
        families=("mlp",),
        # Long enough that screening stops first: far under a 1 s limit, on any machine.
        protocol=dataclasses.replace(QUICK_PROTOCOL, min_calls=5000),
        compression=CompressionSettings(passes=("int8_dynamic", "prune")),
    )
    out = tmp_path / "run"
    req = tradeoff.Requirements(max_latency_ms=1000.0)
    run_search(small.data, req, out, settings, prepared=small, show_progress=False)
    run = tradeoff.Run.open(out, prepared=small)
    trials = run.trials()
    variants = [r for r in trials if r.parent_trial is not None]
    assert variants, "the first trained candidate is on the front, so it is compressed"
    by_number = {r.number: r for r in trials}
    for v in variants:
        parent = by_number[v.parent_trial]
        assert parent.trained and parent.parent_trial is None
        assert v.compression["pass"] in {"int8_dynamic", "prune"}
        verdict = v.compression["verdict"]
        assert {"drop_high", "allowed_drop", "agreement", "speed_ratio", "kept"} <= set(verdict)
        # Screened like every candidate: cost and speed ratio say how they were measured.
        assert v.latency_method["protocol"].startswith("sequential (under 1000 ms"), v
        how = verdict["speed_ratio_measured"]
        assert how.startswith(("full", "sequential (faster,", "sequential (not faster,", "not "))
        if how.startswith("not measured"):  # timed against its parent only if quality holds
            assert not verdict["kept"] and "quality drop" in verdict["reason"]
            assert verdict["speed_ratio"] is None
        assert v.val_metric is not None and v.p95_ms is not None and v.size_mb is not None
        assert v.family == parent.family
        if verdict["kept"]:
            assert v.trained and v.artifact_id
        else:
            assert v.status == "rejected" and v.artifact_id is None
            assert v.number not in {r.number for r in run.front()}
    assert {v.compression["pass"] for v in variants} == {"int8_dynamic", "prune"}

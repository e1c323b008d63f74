"""The plug-in contracts, run against every registered family and every registered pass."""

from __future__ import annotations

import time

import numpy as np
import onnx
import optuna
import pytest
import torch

from tradeoff.compress import Parent, Student, Variant, get_pass, pass_names
from tradeoff.datasets import load
from tradeoff.families import (
    Candidate,
    deployable,
    family_names,
    get_family,
    to_onnx,
)
from tradeoff.measure import predict_outputs
from tradeoff.prepare import prepare
from tradeoff.train import Strategy, train


def _texts(path):
    """A small two-class text table: the label is the sentiment word among filler words."""
    rng = np.random.default_rng(0)
    rows = ["review,sentiment"]
    for i in range(160):
        label = i % 2
        words = list(rng.choice(["the", "film", "plot", "was", "a", "story"], size=8))
        words.append(rng.choice(["great", "superb"] if label else ["awful", "dull"]))
        rng.shuffle(words)
        rows.append(f"{' '.join(words)} and more,{'pos' if label else 'neg'}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    texts = _texts(tmp_path_factory.mktemp("text") / "reviews.csv")
    return {
        "tabular": prepare(load("iris"), seed=0),
        "sequence": prepare(load("gunpoint"), seed=0),
        "text": prepare(load(texts, target="sentiment"), seed=0),
    }


class Services:
    """The search's side of the contract, recording the order a family calls it in."""

    def __init__(self, prepared, members: list[bytes]):
        self.prepared, self.seed, self.calls, self._members = prepared, 0, [], members
        self.deadline = None

    def draw_strategy(self):
        self.calls.append("draw_strategy")

    def screen(self, onnx_model, *, model=None, n_params=None, train_seconds=0.0):
        self.calls.append("screen")
        onnx.checker.check_model(onnx.load_from_string(onnx_model))

    def train(self, model):
        self.calls.append("train")
        train(model, self.prepared, Strategy(max_epochs=2), seed=0)

    def members(self, n):
        self.calls.append("members")
        return self._members[:n]


def _member(prepared) -> bytes:
    model = deployable(
        get_family("linear"), {}, prepared.input_shape, prepared.n_outputs, prepared.scaling
    )
    return to_onnx(model, prepared.input_shape)


@pytest.mark.parametrize("name", family_names())
def test_every_family_produces_a_screened_model_of_the_right_shape(name, data):
    family = get_family(name)
    assert family.name == name and family.modalities and family.description and family.training
    modality = next(m for m in ("tabular", "sequence", "text") if m in family.modalities)
    prepared = data[modality]
    services = Services(prepared, [_member(prepared), _member(prepared)])
    params = {**family.defaults(prepared.input_shape)}
    if name == "mlp":
        params.setdefault("batch_norm", False)
    candidate = family.produce(params, services)
    assert isinstance(candidate, Candidate)
    # The declared traits say what the family does, in this order: the cost is measured once,
    # before any training.
    expected = (
        ["draw_strategy"] * family.uses_strategy
        + ["members"] * family.combines_trials
        + ["screen"]
        + ["train"] * family.builds_network
    )
    assert services.calls == expected
    assert (candidate.model is not None) == family.builds_network
    outputs = predict_outputs(candidate.onnx_model, prepared.X_val[:7])
    assert outputs.shape == (7, prepared.n_outputs) and np.isfinite(outputs).all()


#: An input shape of each modality, for contracts that need no data.
SHAPES = {"tabular": (30,), "sequence": (40, 1), "image": (1, 28, 28), "text": (64,)}


@pytest.mark.parametrize(
    "name, modality",
    [(n, m) for n in family_names() for m in sorted(get_family(n).modalities)],
)
def test_every_family_defaults_fix_every_parameter_it_draws(name, modality):
    """A default trial left a parameter to the sampler: the CNN's default on sequences drew its
    architecture at random, so the demo's first CNN was a ResNet or an FCN by chance."""
    family = get_family(name)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    drawn = family.suggest(trial, SHAPES[modality])
    assert set(family.defaults(SHAPES[modality])) == set(drawn)


def _parent(prepared, students=()) -> Parent:
    torch.manual_seed(0)
    family = get_family("mlp")
    params = {"depth": 1, "width": 32, "activation": "relu", "dropout": 0.0, "batch_norm": False}
    model = deployable(family, params, prepared.input_shape, prepared.n_outputs, prepared.scaling)
    train(model, prepared, Strategy(max_epochs=3), seed=0)
    return Parent(
        trial=0,
        family="mlp",
        params=params,
        strategy={},
        model=model,
        onnx=to_onnx(model, prepared.input_shape),
        prepared=prepared,
        students=students,
    )


@pytest.mark.parametrize("name", pass_names())
def test_every_pass_says_where_it_applies(name, data):
    student = Student(1, "mlp", {"depth": 1, "width": 8, "activation": "relu", "dropout": 0.0}, 0.9)
    parent = _parent(data["tabular"], (student,))
    compression_pass = get_pass(name)
    assert compression_pass.name == name and compression_pass.description
    # Every built-in pass applies to an MLP offered a student but int8_static, which serves
    # convolutions.
    assert compression_pass.applies(parent) is (name != "int8_static")


@pytest.mark.parametrize("name", [n for n in pass_names() if n != "int8_static"])
def test_every_pass_makes_a_valid_variant_of_an_mlp(name, data):
    prepared = data["tabular"]
    student_params = {"depth": 1, "width": 8, "activation": "relu", "dropout": 0.0}
    parent = _parent(prepared, (Student(1, "mlp", student_params, 0.9),))
    variant = get_pass(name).compress(parent, seed=0, deadline=time.monotonic() + 60)
    assert isinstance(variant, Variant)
    onnx.checker.check_model(onnx.load_from_string(variant.onnx))
    outputs = predict_outputs(variant.onnx, prepared.X_val[:5])
    assert outputs.shape == (5, prepared.n_outputs) and np.isfinite(outputs).all()
    assert (variant.params is None) == (variant.family is None)  # an architecture: both

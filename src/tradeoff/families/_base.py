"""The Family contract and its registry.

A family is one file: a class with a name, the modalities it serves, a search
space and a builder, decorated with ``@register_family``. The search finds it
through the registry, never through a central list.
"""

from __future__ import annotations

import io
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import optuna
import torch
from torch import nn

from tradeoff.errors import TradeoffError
from tradeoff.prepare import Prepared, Scaling

#: Names of the model's input and output in every exported ONNX graph.
INPUT_NAME, OUTPUT_NAME = "input", "output"


@dataclass(frozen=True)
class FittedModel:
    """What a family trained outside PyTorch hands back: the ONNX model as it ships."""

    onnx_model: bytes
    n_params: int  # learned numbers (for trees: split thresholds and leaf values)
    seconds: float


class Family(ABC):
    """A model family: a search space and how to build an untrained model from a point in it.

    Two kinds, told apart by ``trained_by``:

    - ``"torch"``: :meth:`build` returns an untrained ``nn.Module``; the search
      measures its cost untrained, then trains it with ``tradeoff.train``.
    - ``"fit"``: the family trains itself (e.g. scikit-learn trees) in
      :meth:`fit` and returns the finished ONNX model; its cost is known only
      after fitting.
    """

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""
    trained_by: ClassVar[str] = "torch"

    def key(self, param: str) -> str:
        """The study's name for one of this family's parameters (names never clash across families)."""
        return f"{self.name}.{param}"

    def defaults(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """A sensible point of the space (short names), tried first so that every family gets
        one reasonable trial even in a short search."""
        return {}

    @abstractmethod
    def suggest(self, trial: optuna.Trial, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw this family's structural parameters; return them under their short names."""

    def build(
        self, params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int
    ) -> nn.Module:
        """An untrained network mapping a standardised batch ``[B, *input_shape]`` to ``[B, n_outputs]``.

        Classifiers output logits; regressors one value in target-std units.
        """
        raise NotImplementedError(f"family {self.name!r} is not built in PyTorch")

    def fit(self, params: dict[str, Any], prepared: Prepared, seed: int) -> FittedModel:
        """Train on ``prepared``'s training split (``trained_by == "fit"`` families only).

        The ONNX model takes the raw input ``[B, *input_shape]`` under ``INPUT_NAME``
        and returns logits (classification) or predictions ``[B, 1]`` under ``OUTPUT_NAME``.
        """
        raise NotImplementedError(f"family {self.name!r} is trained in PyTorch")

    def unfitted_onnx(
        self, params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[bytes, int] | None:
        """A ``"fit"`` family whose architecture is known before fitting (``rocket``): an ONNX
        model with the same operators and shapes as the fitted one, and the number of values
        fitting will store, so that its cost is measured before anything is fitted.
        ``None`` (the default, e.g. trees): cost is known only once fitted."""
        return None


_REGISTRY: dict[str, type[Family]] = {}


def register_family(name: str) -> Callable[[type[Family]], type[Family]]:
    """Class decorator: make a family available to the search under ``name``."""

    def decorate(cls: type[Family]) -> type[Family]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def family_names(modality: str | None = None) -> list[str]:
    """Registered families, optionally only those serving ``modality``."""
    return sorted(n for n, c in _REGISTRY.items() if modality is None or modality in c.modalities)


def get_family(name: str) -> Family:
    try:
        return _REGISTRY[name]()
    except KeyError:
        known = ", ".join(family_names())
        raise TradeoffError(f"--families: unknown family {name!r}; known: {known}") from None


class Standardize(nn.Module):
    """Scaling fitted on the training split, folded into the model so it takes raw inputs."""

    def __init__(self, scaling: Scaling) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(np.asarray(scaling.mean, np.float32)))
        self.register_buffer("inv_std", torch.from_numpy(1.0 / np.asarray(scaling.std, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


class TargetScale(nn.Module):
    """Regression output back in the target's units: ``y = mean + std * output``."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


def deployable(
    family: Family,
    params: dict,
    input_shape,
    n_outputs: int,
    scaling: Scaling,
    target: tuple[float, float] | None = None,
) -> nn.Module:
    """The model as it ships: preprocessing, the family's network, and for regression
    the target's ``(mean, std)`` folded back in so the model predicts in the user's units."""
    layers = [Standardize(scaling), family.build(params, tuple(input_shape), n_outputs)]
    if target is not None:
        layers.append(TargetScale(*target))
    return nn.Sequential(*layers)


def to_onnx(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """Serialize ``model`` to ONNX with a dynamic batch axis.

    Uses the TorchScript exporter: for these small static graphs it is ~50x
    faster than the dynamo exporter, which matters when every candidate is
    exported before it is trained.
    """
    model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros((1, *input_shape)),),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
        )
    return buffer.getvalue()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()

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
from typing import Any, ClassVar

import numpy as np
import optuna
import torch
from torch import nn

from tradeoff.errors import TradeoffError
from tradeoff.prepare import Scaling

#: Names of the model's input and output in every exported ONNX graph.
INPUT_NAME, OUTPUT_NAME = "input", "output"


class Family(ABC):
    """A model family: a search space and how to build an untrained model from a point in it."""

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""

    def key(self, param: str) -> str:
        """The study's name for one of this family's parameters (names never clash across families)."""
        return f"{self.name}.{param}"

    @abstractmethod
    def suggest(self, trial: optuna.Trial, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw this family's structural parameters; return them under their short names."""

    @abstractmethod
    def build(
        self, params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int
    ) -> nn.Module:
        """An untrained network mapping a standardised batch ``[B, *input_shape]`` to ``[B, n_outputs]``."""


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


def deployable(
    family: Family, params: dict, input_shape, n_outputs: int, scaling: Scaling
) -> nn.Module:
    """The model as it ships: preprocessing, then the family's network."""
    return nn.Sequential(Standardize(scaling), family.build(params, tuple(input_shape), n_outputs))


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

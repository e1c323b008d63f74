"""The Dataset record and the registry of built-in data sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tradeoff.errors import TradeoffError

Task = Literal["binary", "multiclass", "regression"]
Modality = Literal["tabular", "sequence", "image"]


@dataclass(frozen=True)
class Dataset:
    """Arrays plus what they are.

    ``X`` is float32 shaped ``[N, F]`` (tabular), ``[N, T, C]`` (sequence) or
    ``[N, C, H, W]`` (image). When a data set comes with its own test split
    (``X_test``/``y_test``) it is used as is; otherwise ``prepare`` carves one.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    modality: Modality
    classes: tuple[str, ...] = ()
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = ""
    feature_names: tuple[str, ...] = field(default=())

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch axis."""
        return tuple(self.X.shape[1:])

    @property
    def n_classes(self) -> int:
        return 0 if self.task == "regression" else len(self.classes)


BuiltinLoader = Callable[[int], Dataset]
_BUILTINS: dict[str, BuiltinLoader] = {}


def register_dataset(name: str) -> Callable[[BuiltinLoader], BuiltinLoader]:
    """Register a built-in data set loader under ``name`` (takes a seed)."""

    def decorate(loader: BuiltinLoader) -> BuiltinLoader:
        _BUILTINS[name] = loader
        return loader

    return decorate


def builtin_names() -> list[str]:
    return sorted(_BUILTINS)


def load(name: str, seed: int = 0) -> Dataset:
    """Load a built-in data set by name.

    >>> data = load("mnist1d")
    >>> data.X.shape, data.task, data.modality
    ((4000, 40, 1), 'multiclass', 'sequence')
    """
    try:
        loader = _BUILTINS[name]
    except KeyError:
        known = ", ".join(builtin_names())
        raise TradeoffError(f"unknown data set {name!r}; built-in data sets: {known}") from None
    return loader(seed)

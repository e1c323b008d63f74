"""The Family contract and its registry.

A family is one file: a class with a name, the modalities it serves, a search
space and a builder, decorated with ``@register_family``. The search finds it
through the registry, never through a central list.
"""

from __future__ import annotations

import io
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import optuna
import torch
from torch import nn

from tradeoff.prepare import Prepared, Scaling
from tradeoff.registry import Registry

#: Names of the model's input and output in every exported ONNX graph.
INPUT_NAME, OUTPUT_NAME = "input", "output"


@dataclass(frozen=True)
class FittedModel:
    """What a family trained outside PyTorch hands back: the ONNX model as it ships, and
    ``native``, the fitted model's own outputs on rows ``X`` (what the ONNX model must give:
    log-probabilities or logits, values for regression), which export checks the ONNX
    model against; None where the family has no model outside its ONNX graph."""

    onnx_model: bytes
    n_params: int  # learned numbers (for trees: split thresholds and leaf values)
    seconds: float
    #: Boosting rounds the model keeps: those at which its validation loss was best (early
    #: stopping), fewer where the deadline stopped it; ``None`` for a family without rounds.
    rounds: int | None = None
    #: :data:`CUT_BY_DEADLINE` where the search's deadline ended the fit short of what was
    #: drawn; ``None`` for a fit that ran its course.
    stopped_by: str | None = None
    native: Callable[[np.ndarray], np.ndarray] | None = None


#: What ``stopped_by`` says of a fit the deadline cut short (the words the PyTorch loop
#: records for a network stopped there): it ranks with fewer rounds, and says so.
CUT_BY_DEADLINE = "time budget"

#: Boosting rounds without a gain on the validation split after which a boosted-tree fit
#: stops (LightGBM, XGBoost and HistGradientBoosting alike). A common choice, between
#: scikit-learn's 10 and the 50 often used with LightGBM; not tuned on any figure.
PATIENCE_ROUNDS = 20


class TrialServices(Protocol):
    """What the search offers a family while one of its trials runs (``searcher/trial.py``
    implements it for a search, ``tradeoff.retrain`` for cross-validation and the refit).

    Each step may stop the trial (a cost limit broken, halving, nothing to combine): the
    family just calls them in its order and never sees how the search records them.
    """

    prepared: Prepared
    seed: int
    #: ``time.monotonic()`` instant at which training stops, mid-fit where a family can.
    deadline: float | None

    def draw_strategy(self) -> None:
        """Draw the training strategy (optimizer, learning rate, ...) for :meth:`train`."""

    def screen(
        self,
        onnx_model: bytes,
        *,
        model: nn.Module | None = None,
        n_params: int | None = None,
        train_seconds: float = 0.0,
    ) -> None:
        """Measure the cost of the model as it ships; stops the trial if it can never fit."""

    def train(self, model: nn.Module) -> None:
        """Train ``model`` in place with the drawn strategy (early stopping, halving)."""

    def members(self, n: int) -> list[bytes]:
        """The ONNX models of the best ``n`` trained candidates so far, best first."""


@dataclass(frozen=True)
class Candidate:
    """What a family hands back from one trial: the ONNX model as it ships, and for a
    network the trained ``nn.Module`` (its weights are kept; compression works on it)."""

    onnx_model: bytes
    model: nn.Module | None = None
    #: A fitted family's own outputs (``FittedModel.native``).
    native: Callable[[np.ndarray], np.ndarray] | None = None
    #: Seconds a family spent training itself after its cost was screened (the text sequence
    #: models, ``rocket``); ``None``: the search's own record stands.
    train_seconds: float | None = None
    #: Boosting rounds kept (:attr:`FittedModel.rounds`): recorded, and fitted again by the
    #: refit on train+validation and on each fold.
    rounds: int | None = None
    #: :attr:`FittedModel.stopped_by`: overrides the family's ``stops_as`` in the record.
    stopped_by: str | None = None


class Family(ABC):
    """A model family: a search space and how one trial of it makes a model.

    The trial pipeline calls :meth:`produce` and nothing else that depends on the kind of
    family. A kind is a subclass of this base (a new kind is one new file):

    - :class:`Family` itself: a PyTorch network. :meth:`build` returns it untrained; its
      cost is measured untrained (``services.screen``) before any training is spent.
    - :class:`FittedFamily`: trains itself (e.g. scikit-learn trees) in :meth:`FittedFamily.fit`;
      its cost is known only once fitted.
    - :class:`CombiningFamily`: trains nothing, combines the best candidates found so far
      (the ensemble).
    """

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""
    #: How the family is trained, in words (``tradeoff families``).
    training: ClassVar[str] = "PyTorch loop"
    #: Whether :meth:`build` makes a PyTorch network: its cost is known untrained (screening
    #: costs no training) and its trained weights are stored (export rebuilds it for parity).
    builds_network: ClassVar[bool] = True
    #: Whether it draws a training strategy (optimizer, lr, ...) from the shared space.
    uses_strategy: ClassVar[bool] = True
    #: Whether it is made of other trials (enqueued after them, never a member itself).
    combines_trials: ClassVar[bool] = False
    #: Whether its params take ``class_weight`` (``none``/``balanced``), drawn by the search
    #: on imbalanced data (networks weigh classes through their training strategy instead).
    class_weights: ClassVar[bool] = False
    #: Whether its default trial is enqueued before the networks' (it fits in seconds, so
    #: even a short search has it).
    defaults_first: ClassVar[bool] = False
    #: Whether it is the baseline every search tries first (``ridge``: a fraction of a second;
    #: the pick of a small regression should never fall below it unnoticed).
    baseline: ClassVar[bool] = False
    #: What ``stopped_by`` says of a trial that did not train in the PyTorch loop.
    stops_as: ClassVar[str | None] = None
    #: The kind in one word, for code written before the kinds were classes (read only:
    #: the search uses the typed attributes above and :meth:`produce`).
    trained_by: ClassVar[str] = "torch"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A family written before the kinds were classes says ``trained_by = "fit"``.
        fitted = globals().get("FittedFamily")
        if fitted and cls.__dict__.get("trained_by") == "fit" and not issubclass(cls, fitted):
            for name in (
                "training",
                "builds_network",
                "uses_strategy",
                "stops_as",
                "defaults_first",
                "produce",
            ):
                setattr(cls, name, fitted.__dict__[name])

    def key(self, param: str) -> str:
        """The study's name for one of this family's parameters (names never clash across families)."""
        return f"{self.name}.{param}"

    def point(self, **params: Any) -> dict[str, Any]:
        """A point of this family's space under the study's names, e.g. for ``first_trials``.

        >>> get_family("mlp").point(depth=1)  # doctest: +SKIP
        {'family': 'mlp', 'mlp.depth': 1}
        """
        return {"family": self.name, **{self.key(k): v for k, v in params.items()}}

    def defaults(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """A sensible point of the space (short names), tried first so that every family gets
        one reasonable trial even in a short search."""
        return {}

    def shrink(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The same model about half as costly (narrower), within the space; ``None`` when
        there is nothing smaller. A search tries it next when ``params``, its defaults (or a
        shrink of them), break a cost limit: a default architecture that is too costly on this
        machine is the best guess at what fits, made smaller."""
        return None

    def grow(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The same model about twice as costly, within the space; ``None`` (the default) when
        a bigger one is no better guess. A search tries it next when ``params``, its defaults
        (or a growth of them), fit a latency limit: for a family whose default
        size is a guess at what fits (``rocket``'s number of features), a fast machine or a
        generous limit affords more of what makes it accurate."""
        return None

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

    def produce(self, params: dict[str, Any], services: TrialServices) -> Candidate:
        """One trial of this family: a network is built, screened untrained, then trained."""
        prepared = services.prepared
        services.draw_strategy()
        torch.manual_seed(services.seed)
        model = deployable(
            self,
            params,
            prepared.input_shape,
            prepared.n_outputs,
            prepared.scaling,
            regression_target(prepared),
        )
        services.screen(to_onnx(model, prepared.input_shape), model=model)
        services.train(model)
        return Candidate(to_onnx(model, prepared.input_shape), model)


class FittedFamily(Family):
    """A family that trains itself outside PyTorch; its cost is measured once fitted."""

    training = "own fit (sklearn)"
    builds_network = False
    uses_strategy = False
    stops_as = "fitted"
    defaults_first = True
    trained_by = "fit"
    #: The parameter that sets a boosted family's number of rounds: a refit on
    #: train+validation sets it to the rounds the trial kept (``None``: no rounds).
    rounds_param: ClassVar[str | None] = None
    #: Whether :meth:`fit` hands back its model's own outputs (``FittedModel.native``), for
    #: export to check the ONNX graph against; a family whose model is only its graph has none.
    has_native: ClassVar[bool] = False

    @abstractmethod
    def fit(self, params: dict[str, Any], prepared: Prepared, seed: int) -> FittedModel:
        """Train on ``prepared``'s training split.

        The ONNX model takes the raw input ``[B, *input_shape]`` under ``INPUT_NAME``
        and returns logits (classification) or predictions ``[B, 1]`` under ``OUTPUT_NAME``.
        """

    def fit_until(
        self, params: dict[str, Any], prepared: Prepared, seed: int, deadline: float | None
    ) -> FittedModel:
        """:meth:`fit`, stopped at ``deadline`` (``time.monotonic()``) where the family can
        stop mid-fit (boosted trees stop adding rounds); by default it cannot."""
        return self.fit(params, prepared, seed)

    def produce(self, params: dict[str, Any], services: TrialServices) -> Candidate:
        fitted = self.fit_until(params, services.prepared, services.seed, services.deadline)
        services.screen(fitted.onnx_model, n_params=fitted.n_params, train_seconds=fitted.seconds)
        return Candidate(
            fitted.onnx_model,
            native=fitted.native,
            rounds=fitted.rounds,
            stopped_by=fitted.stopped_by,
        )


class CombiningFamily(Family):
    """A family made of the best candidates found so far; it trains nothing."""

    training = "combines trained trials"
    builds_network = False
    uses_strategy = False
    combines_trials = True
    stops_as = "combined"
    trained_by = "members"
    #: The most candidates it combines: it is drawn again only once these best ones change.
    max_members: ClassVar[int] = 4

    @abstractmethod
    def n_members(self, params: dict[str, Any]) -> int:
        """How many of the best candidates so far ``params`` combines."""

    @abstractmethod
    def combine(self, params: dict[str, Any], members: list[bytes], task: str) -> FittedModel:
        """One ONNX model made of ``members`` (ONNX models, best first)."""

    def produce(self, params: dict[str, Any], services: TrialServices) -> Candidate:
        members = services.members(self.n_members(params))
        fitted = self.combine(params, members, services.prepared.task)
        services.screen(fitted.onnx_model, n_params=fitted.n_params, train_seconds=fitted.seconds)
        return Candidate(fitted.onnx_model)


def halved(params: dict[str, Any], key: str, low: int) -> dict[str, Any] | None:
    """``params`` with ``params[key]`` halved, or ``None`` if that would go below ``low``."""
    smaller = params[key] // 2
    return None if smaller < low else {**params, key: smaller}


def regression_target(prepared: Prepared) -> tuple[float, float] | None:
    """The training target's ``(mean, std)`` that a regression network's output is scaled by."""
    if prepared.task != "regression":
        return None
    return float(prepared.y_train.mean()), float(prepared.y_train.std()) or 1.0


def class_scores(estimator, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class linear scores (``coef [n_outputs, d]``, ``intercept [n_outputs]``) of a fitted
    scikit-learn linear classifier for every class of the task, whose argmax is the estimator's
    prediction; a class absent from the training split never wins."""
    coef, intercept = np.atleast_2d(estimator.coef_), np.atleast_1d(estimator.intercept_)
    classes = estimator.classes_
    if len(classes) == 2:  # one score s for classes_[1]: logits [0, s]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    full_coef = np.zeros((n_outputs, coef.shape[1]))
    full_intercept = np.full(n_outputs, -math.inf)
    full_coef[classes] = coef
    full_intercept[classes] = intercept
    # A finite stand-in for -inf keeps ONNX outputs finite.
    full_intercept[np.isinf(full_intercept)] = -1e6
    return full_coef, full_intercept


#: Every family by name: the built-in ones, and other packages' (entry points
#: ``tradeoff.families``).
FAMILIES: Registry[type[Family]] = Registry("family", "--families", "tradeoff.families", named=True)


def register_family(name: str) -> Callable[[type[Family]], type[Family]]:
    """Class decorator: make a family available to the search under ``name``."""
    return lambda cls: FAMILIES.register(name, cls)


def family_names(modality: str | None = None) -> list[str]:
    """Registered families, optionally only those serving ``modality``."""
    return [n for n, c in FAMILIES.items() if modality is None or modality in c.modalities]


def get_family(name: str) -> Family:
    return FAMILIES.get(name)()


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


def module_outputs(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """A fitted module's own outputs on rows ``X`` (PyTorch, in batches of 256): a fitted
    family's ``FittedModel.native`` where its model is a module."""

    def outputs(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [model(torch.as_tensor(X[i : i + 256])).numpy() for i in range(0, len(X), 256)]
        return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)

    return outputs

"""The compression contract: a pass turns one trained model into a cheaper variant.

A pass is one file: a class with a name, ``applies`` and ``compress``,
decorated with ``@register_pass``. Whether a variant is *kept* is decided the
same way for every pass, by :func:`judge`: its quality loss against the parent
must be within tolerance by a paired test on the validation split, and it must
be faster than the parent beyond the measurement noise (or clearly smaller).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import onnx
from torch import nn

from tradeoff.errors import TradeoffError
from tradeoff.measure import PairedDrop
from tradeoff.prepare import Prepared
from tradeoff.registry import Registry


@dataclass(frozen=True)
class Student:
    """A cheaper architecture the search already trained: a distillation student."""

    trial: int
    family: str
    params: dict
    val_metric: float


@dataclass(frozen=True)
class Parent:
    """A trained model offered for compression, with what a pass may need."""

    trial: int
    family: str
    params: dict
    strategy: dict
    model: nn.Module  # the deployable torch model (Standardize + network), trained
    onnx: bytes
    prepared: Prepared
    students: tuple[Student, ...] = ()
    #: Seconds the parent trained: passes that fine-tune spend a bounded share of it.
    train_seconds: float | None = None
    #: The machines the model will run on (their ``machine_info``: a search's targets);
    #: empty: this one. An int8 recipe is chosen for their ISA.
    machines: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Variant:
    """A pass's output: the ONNX artifact to ship, and how it was made."""

    onnx: bytes
    settings: dict = field(default_factory=dict)
    model: nn.Module | None = None  # a changed torch model (pruning, distillation)
    train_seconds: float = 0.0
    #: The model whose quality the variant must hold: the parent, or for a
    #: distilled student the student's own trial (``reference_trial``).
    reference_trial: int | None = None
    reference_metric: float | None = None
    #: The variant's architecture when it is not the parent's (a distilled student): its
    #: family and structural parameters, recorded as the variant's own.
    family: str | None = None
    params: dict | None = None


class CompressionPass(ABC):
    """One way of making a trained model cheaper."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def applies(self, parent: Parent) -> bool:
        """Whether this pass can do anything for ``parent`` (e.g. it has convolutions)."""

    @abstractmethod
    def compress(self, parent: Parent, *, seed: int, deadline: float) -> Variant | None:
        """A cheaper variant of ``parent`` (``None`` when there is nothing to gain)."""


#: Every compression pass by name: the built-in ones, and other packages' (entry points
#: ``tradeoff.passes``).
PASSES: Registry[type[CompressionPass]] = Registry(
    "compression pass", "--passes", "tradeoff.passes", named=True
)


def register_pass(name: str) -> Callable[[type[CompressionPass]], type[CompressionPass]]:
    """Class decorator: make a compression pass available under ``name``."""
    return lambda cls: PASSES.register(name, cls)


def pass_names() -> list[str]:
    return PASSES.names()


def get_pass(name: str) -> CompressionPass:
    return PASSES.get(name)()


@dataclass(frozen=True)
class QualityTolerance:
    """How much validation quality a variant may lose: ``1%`` (relative) or ``0.005`` (absolute)."""

    value: float = 0.01
    relative: bool = True

    @classmethod
    def parse(cls, text: str | float) -> QualityTolerance:
        """``"1%"`` -> 1 % of the parent's metric; ``"0.005"`` -> 0.005 absolute.

        >>> QualityTolerance.parse("2%")
        QualityTolerance(value=0.02, relative=True)
        """
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", str(text))
        if not match:
            raise TradeoffError(
                f"--max-quality-drop: expected e.g. 1% (relative) or 0.005 (absolute), got {text!r}"
            )
        value = float(match.group(1))
        relative = bool(match.group(2))
        value = value / 100 if relative else value
        if not 0 <= value < 1:
            raise TradeoffError(f"--max-quality-drop: must be below 100% / 1.0, got {text!r}")
        return cls(value, relative)

    def allowed(self, parent_metric: float) -> float:
        return self.value * abs(parent_metric) if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:.2%} relative" if self.relative else f"{self.value:g} absolute"


@dataclass(frozen=True)
class Verdict:
    """Whether a variant is kept, and the evidence."""

    kept: bool
    reason: str
    quality: PairedDrop
    allowed_drop: float
    #: Variant median latency / parent's, measured side by side; ``None``: not measured
    #: (the quality test had already rejected it).
    speed_ratio: float | None
    speed_ratio_interval: tuple[float, float] | None
    size_ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "reason": self.reason,
            "drop": self.quality.drop,
            "drop_high": self.quality.drop_high,
            "allowed_drop": self.allowed_drop,
            "agreement": self.quality.agreement,
            "n_val": self.quality.n,
            "speed_ratio": self.speed_ratio,
            "speed_ratio_interval": None
            if self.speed_ratio_interval is None
            else list(self.speed_ratio_interval),
            "size_ratio": self.size_ratio,
        }


#: A variant this much smaller on disk counts as cheaper even without a speed-up.
SIZE_GAIN = 0.75
#: A variant counts as faster when its latency ratio to the parent is surely under this:
#: a model timed against itself in alternating blocks gives 95 % intervals as narrow as
#: [0.997, 0.998] or [1.011, 1.012] (3-second comparisons on a quiet core), so "under 1"
#: alone called an equal model faster in 4 of 12 such comparisons.
SPEED_GAIN = 0.95


def quality_holds(
    quality: PairedDrop, *, reference_metric: float, tolerance: QualityTolerance
) -> bool:
    """Whether the variant's paired accuracy drop (:func:`~tradeoff.measure.paired_accuracy_drop`
    on the validation rows) passes :func:`judge`'s test: worth timing it."""
    return quality.drop_high <= tolerance.allowed(reference_metric)


def judge(
    quality: PairedDrop,
    *,
    reference_metric: float,
    tolerance: QualityTolerance,
    speed_ratio: float | None,
    speed_ratio_interval: tuple[float, float] | None,
    size_ratio: float,
    size_binds: bool = False,
) -> Verdict:
    """Keep a variant when its quality holds (paired test) and it is measurably cheaper.

    ``quality`` is :func:`~tradeoff.measure.paired_accuracy_drop` of the variant against
    its reference on the validation rows. Quality holds when the one-sided 95 % upper bound of the accuracy drop is
    within ``tolerance``. Cheaper means faster beyond the noise (the upper end
    of the side-by-side latency ratio's interval below ``SPEED_GAIN``), or at most
    ``SIZE_GAIN`` of the parent's size without being slower beyond the noise.
    When the parent breaks a size limit (``size_binds``), a smaller variant
    counts even if it is slower: its own latency is checked against the
    requirements like any candidate's. The speed figures may be ``None`` only when
    quality fails (:func:`quality_holds`: then they need not be measured).
    """
    allowed = tolerance.allowed(reference_metric)
    if quality_holds(quality, reference_metric=reference_metric, tolerance=tolerance) and (
        speed_ratio_interval is None
    ):
        raise ValueError("judge: a variant whose quality holds needs its speed ratio")
    low, high = speed_ratio_interval or (float("nan"), float("nan"))
    faster = high < SPEED_GAIN
    smaller = size_ratio <= SIZE_GAIN and (size_binds or low <= 1.0)
    if quality.drop_high > allowed:
        reason = (
            f"quality drop up to {quality.drop_high:.4f} (95% bound) exceeds the allowed "
            f"{allowed:.4f} ({tolerance})"
        )
        kept = False
    elif not (faster or smaller):
        reason = (
            f"no gain beyond noise: latency ratio {speed_ratio:.3f} "
            f"[{low:.3f}, {high:.3f}], size ratio {size_ratio:.2f}"
        )
        kept = False
    else:
        gain = f"{1 / speed_ratio:.2f}x faster" if faster else f"{1 / size_ratio:.2f}x smaller"
        reason = (
            f"kept: {gain}, quality drop {quality.drop:+.4f} (95% bound {quality.drop_high:.4f})"
        )
        kept = True
    return Verdict(kept, reason, quality, allowed, speed_ratio, speed_ratio_interval, size_ratio)


def op_types(onnx_model: bytes) -> set[str]:
    """The operator types in an ONNX graph."""
    return {node.op_type for node in onnx.load_from_string(onnx_model).graph.node}

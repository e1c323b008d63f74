"""Parity: how far an exported ONNX model's outputs are from its reference's on the same rows.

The reference is the model itself as trained: a network's PyTorch module, or a fitted
family's native model (``FittedModel.native``); the rule is fit to float32
(:func:`compare_outputs`). Export (``tradeoff.exporter``) refuses a model that fails it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tradeoff.bundle import run_onnx
from tradeoff.errors import TradeoffError
from tradeoff.measure import session
from tradeoff.prepare import Prepared
from tradeoff.train import predict_in_batches

#: Parity at export, fit to float32. The ONNX model must give the reference's classes
#: (a row whose two top reference logits are closer than float32 noise on their magnitude may
#: flip), softmax probabilities within ``PROB_ATOL + PROB_RTOL * p``, and for regression
#: values within ``VALUE_RTOL`` of their magnitude. Float32 sums over large inputs and logits
#: differ between runtimes by a few ulps (5e-4 on logits near 4,000 is 1 ulp); a real mismatch
#: (other weights, another graph) moves probabilities by 1e-2 and more.
PROB_ATOL, PROB_RTOL = 1e-4, 1e-2
#: Relative float32 noise allowed on a value (regression) or between two top logits (ties).
VALUE_RTOL = 1e-4
#: Absolute differences below this always pass (outputs near zero); also the tolerance on a
#: validation metric recomputed from a fitted family's ONNX model.
PARITY_MAX_ABS_DIFF = 1e-4
TOLERANCE = {
    "probabilities": f"|dp| <= {PROB_ATOL} + {PROB_RTOL} * p",
    "values": f"|d| <= {PARITY_MAX_ABS_DIFF} + {VALUE_RTOL} * (|y| + mean |y|)",
    "classes": "equal, except rows whose two top logits differ by <= "
    f"{VALUE_RTOL} * their magnitude (near ties)",
}


@dataclass(frozen=True)
class Agreement:
    """How far two models' outputs on the same rows are apart, against the float32 tolerance."""

    n: int
    class_agreement: float | None  # None for regression
    near_ties: int  # rows whose class may flip on float32 noise alone
    class_mismatches: int  # rows with another class that are not near ties
    max_abs_diff: float  # raw outputs (logits or values)
    max_rel_diff: float  # raw outputs, relative to their magnitude
    max_prob_diff: float | None  # softmax probabilities; None for regression
    worst_to_tolerance: float  # the largest difference over its tolerance: <= 1 passes

    @property
    def passed(self) -> bool:
        return self.class_mismatches == 0 and self.worst_to_tolerance <= 1.0


def compare_outputs(expected: np.ndarray, got: np.ndarray, classification: bool) -> Agreement:
    """Compare ``got`` with the reference ``expected`` (both ``[N, K]``), fit to float32."""
    expected = np.asarray(expected, np.float64)
    got = np.asarray(got, np.float64)
    if not len(expected):
        return Agreement(0, None if not classification else 1.0, 0, 0, 0.0, 0.0, None, 0.0)
    diff = np.abs(expected - got)
    if np.isnan(diff).any():  # NaN where the reference has a number: a real mismatch
        diff = np.where(np.isnan(diff), np.inf, diff)
    if not classification:
        scale = np.abs(expected) + np.mean(np.abs(expected))
        ratio = diff / (PARITY_MAX_ABS_DIFF + VALUE_RTOL * scale)
        return Agreement(
            n=len(expected),
            class_agreement=None,
            near_ties=0,
            class_mismatches=0,
            max_abs_diff=float(diff.max()),
            max_rel_diff=float(np.max(diff / np.maximum(scale, 1e-30))),
            max_prob_diff=None,
            worst_to_tolerance=float(ratio.max()),
        )
    magnitude = np.maximum(np.abs(expected).max(axis=1), 1.0)
    top2 = np.sort(expected, axis=1)[:, -2:] if expected.shape[1] > 1 else None
    near_tie = (
        np.zeros(len(expected), bool)
        if top2 is None
        else (top2[:, 1] - top2[:, 0]) <= 2 * VALUE_RTOL * magnitude
    )
    same = expected.argmax(axis=1) == got.argmax(axis=1)
    p_expected, p_got = _softmax(expected), _softmax(got)
    prob_diff = np.abs(p_expected - p_got)
    ratio = prob_diff / (PROB_ATOL + PROB_RTOL * p_expected)
    return Agreement(
        n=len(expected),
        class_agreement=float(np.mean(same)),
        near_ties=int(np.sum(near_tie & ~same)),
        class_mismatches=int(np.sum(~same & ~near_tie)),
        max_abs_diff=float(diff.max()),
        max_rel_diff=float(np.max(diff / magnitude[:, None])),
        max_prob_diff=float(prob_diff.max()),
        worst_to_tolerance=float(np.nan_to_num(ratio, nan=np.inf).max()),
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Parity:
    """The exported ONNX model against the in-memory PyTorch model, on one split."""

    split: str
    n: int
    argmax_agreement: float | None  # None for regression
    max_abs_diff: float
    int8_argmax_agreement: float | None = None  # a compressed pick: its agreement with fp32
    reference: str = "the trained PyTorch model"
    # Tables: the bundle fed the split's rows as raw columns, against the model fed features.
    raw_rows: int | None = None
    raw_max_abs_diff: float | None = None
    # The float32-aware figures (``Agreement``): what decides.
    max_rel_diff: float | None = None
    max_prob_diff: float | None = None
    near_ties: int = 0
    class_mismatches: int = 0
    worst_to_tolerance: float = 0.0
    raw_worst_to_tolerance: float | None = None
    raw_class_mismatches: int = 0

    @classmethod
    def of(cls, agreement: Agreement, split: str, **extra) -> Parity:
        return cls(
            split=split,
            n=agreement.n,
            argmax_agreement=agreement.class_agreement,
            max_abs_diff=agreement.max_abs_diff,
            max_rel_diff=agreement.max_rel_diff,
            max_prob_diff=agreement.max_prob_diff,
            near_ties=agreement.near_ties,
            class_mismatches=agreement.class_mismatches,
            worst_to_tolerance=agreement.worst_to_tolerance,
            **extra,
        )

    @property
    def passed(self) -> bool:
        if self.raw_class_mismatches or (self.raw_worst_to_tolerance or 0.0) > 1.0:
            return False
        if self.int8_argmax_agreement is not None:
            # A compressed variant passed its paired test at search time; agreement is reported.
            return True
        return self.class_mismatches == 0 and self.worst_to_tolerance <= 1.0

    def summary(self) -> str:
        """The figures, in one line, for messages."""
        parts = [f"{self.n} {self.split} rows"]
        if self.argmax_agreement is not None:
            parts.append(
                f"class agreement {self.argmax_agreement:.6g} ({self.class_mismatches} "
                f"mismatches, {self.near_ties} near ties)"
            )
        if self.max_prob_diff is not None:
            parts.append(f"max |dp| {self.max_prob_diff:.3g}")
        parts.append(f"max |diff| {self.max_abs_diff:.3g}")
        if self.max_rel_diff is not None:
            parts.append(f"relative {self.max_rel_diff:.3g}")
        parts.append(f"worst diff / tolerance {self.worst_to_tolerance:.3g}")
        if self.raw_rows is not None:
            parts.append(
                f"raw rows: {self.raw_class_mismatches} class mismatches, worst diff / tolerance "
                f"{self.raw_worst_to_tolerance:.3g}"
            )
        return ", ".join(parts)


def check_parity(
    onnx_bytes: bytes, reference: torch.nn.Module, prepared: Prepared, split: str = "val"
) -> Parity:
    """Compare ONNX Runtime's outputs with ``reference``'s on ``split`` (``test`` or ``val``)."""
    X = prepared.X_test if split == "test" else prepared.X_val
    expected = predict_in_batches(reference, X).numpy()  # a big split, in batches
    got = run_onnx(session(onnx_bytes, threads=os.cpu_count() or 1), X)
    return Parity.of(compare_outputs(expected, got, prepared.task != "regression"), split)


def native_parity(
    onnx_bytes: bytes,
    native: Callable[[np.ndarray], np.ndarray],
    prepared: Prepared,
    reference: str,
) -> Parity:
    """Compare ONNX Runtime's outputs with a fitted family's own (``FittedModel.native``) on
    the validation rows."""
    expected = native(prepared.X_val)
    got = run_onnx(session(onnx_bytes, threads=os.cpu_count() or 1), prepared.X_val)
    if expected.shape != got.shape:
        raise TradeoffError(
            f"the ONNX model gives outputs {list(got.shape)}, the native model "
            f"{list(expected.shape)}; not exported"
        )
    agreement = compare_outputs(expected, got, prepared.task != "regression")
    return Parity.of(agreement, "val", reference=reference)

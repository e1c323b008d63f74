"""Export: the pick as a bundle (``model.onnx`` + ``card.json``), checked; ``bundle`` reads it back.

A bundle is ONNX + JSON only: nothing in it is ever unpickled. Preprocessing
(scaling fitted on train; for tables also imputation, one-hot encoding of text
columns and the dropping of constant features: ``table_input``) is folded into
``model.onnx``, so it takes raw inputs.

>>> import tradeoff
>>> bundle = tradeoff.export("runs/m1d", "model/")  # doctest: +SKIP
>>> tradeoff.load(bundle).predict(X[:3])  # doctest: +SKIP
array(['7', '2', '1'], dtype='<U1')
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tradeoff.bundle import (
    BUNDLE_FORMAT,
    CARD_FILE,
    CHECK_FILE,
    CHECK_INPUT,
    MODEL_FILE,
    run_onnx,
)
from tradeoff.errors import TradeoffError
from tradeoff.families import INPUT_NAME, OUTPUT_NAME, deployable, get_family
from tradeoff.frontier import Run, cheaper_twin, most_accurate, twin_summary
from tradeoff.measure import cpu_flags, cpu_model, predict_outputs, score, session
from tradeoff.prepare import Prepared
from tradeoff.records import TrialRecord
from tradeoff.requirements import Requirements
from tradeoff.table_input import TableSchema, fold
from tradeoff.text_input import max_chars_for
from tradeoff.train import predict_in_batches

#: Test rows a compressed bundle carries for `tradeoff bench` to re-check its classes.
CHECK_ROWS = 256

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


def export(
    run: Run | str | os.PathLike,
    out: str | os.PathLike,
    *,
    trial: int | str = "best",
    requirements: Requirements | None = None,
    prefer: str | None = None,
) -> Path:
    """Write the bundle of one trial of ``run`` to the new folder ``out``; return its path.

    ``trial="best"`` takes ``run.select(requirements, prefer)`` (``prefer``: the run's own
    by default); the card's ``selection`` names the most accurate pick's cheaper twin and
    which of the two was shipped. The export fails (and
    writes nothing) unless the ONNX model passes ``onnx.checker`` and matches
    the trained PyTorch model on the test split, fit to float32 (``compare_outputs``: the same
    classes, probabilities within ``1e-4 + 1e-2 p``, regression within ``1e-4`` relative).

    >>> export("runs/m1d", "model/", trial="best")  # doctest: +SKIP
    PosixPath('model')
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TradeoffError(f"--out: {out} already exists and is not an empty folder")
    run = run if isinstance(run, Run) else Run.open(run)
    record = _pick(run, trial, requirements, prefer)
    prepared = run.prepared
    # Ranked by cross-validation: the model tested, and shipped, is refitted on train+validation.
    refitted = run.refit(record) if run.refits(record) else None
    with tempfile.TemporaryDirectory() as tmp:
        if refitted is None:
            onnx_bytes = Path(run.artifact_path(record, tmp)).read_bytes()
            _check_onnx(onnx_bytes, f"trial {record.number}")
            parity = _parity(run, record, prepared, onnx_bytes, tmp)
        else:
            onnx_bytes = refitted.candidate.onnx_model
            _check_onnx(onnx_bytes, f"trial {record.number}, refitted")
            parity = _refit_parity(run, record, refitted)
    schema = TableSchema.of(prepared)
    if schema is not None:
        onnx_bytes, parity = _fold_table(onnx_bytes, schema, prepared, parity, record)
    if not parity.passed:
        raise TradeoffError(
            f"trial {record.number}: the ONNX model does not match the trained model on the "
            f"{parity.split} split (against {parity.reference}: {parity.summary()}; tolerance: "
            f"{TOLERANCE['probabilities']}, "
            f"{TOLERANCE['values']}); not exported"
        )
    card = build_card(run, record, prepared, onnx_bytes, parity, schema, refitted is not None)
    card["selection"] = _selection(run, record, requirements, prefer)
    with tempfile.TemporaryDirectory() as tmp:
        check = _check_rows(run, record, prepared, onnx_bytes, schema, tmp)
    if check is not None:
        card["check"], check_bytes = check

    # Write next to the destination, then rename: ``out`` is complete or absent.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as error:  # a read-only folder, a full disk
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None
    try:
        (staging / MODEL_FILE).write_bytes(onnx_bytes)
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2))
        if check is not None:
            (staging / CHECK_FILE).write_bytes(check_bytes)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _selection(
    run: Run, record: TrialRecord, requirements: Requirements | None, prefer: str | None
) -> dict:
    """The card's account of the choice: the most accurate pick, its cheaper twin, which
    of the two was shipped and why (see :func:`tradeoff.frontier.twin_summary`)."""
    req, records = requirements or run.requirements, run.trials()
    best, twin = most_accurate(records, req), cheaper_twin(records, req)
    return {"prefer": prefer or run.prefer} | twin_summary(best, twin, req.metric, record)


def _pick(
    run: Run, trial: int | str, requirements: Requirements | None, prefer: str | None
) -> TrialRecord:
    if trial == "best":
        record = run.select(requirements, prefer)
        if record is None:
            raise TradeoffError(
                "--trial best: no trained trial meets the requirements; choose one with --trial ID"
            )
        return record
    try:
        number = int(trial)
    except (TypeError, ValueError):
        raise TradeoffError(f"--trial: expected a trial number or 'best', got {trial!r}") from None
    found = [r for r in run.trials() if r.number == number]
    if not found:
        raise TradeoffError(f"--trial: {run.out} has no trial {number}")
    if not found[0].trained:
        raise TradeoffError(
            f"--trial: trial {number} was not trained (status {found[0].status}); nothing to export"
        )
    return found[0]


def _parity(
    run: Run, record: TrialRecord, prepared: Prepared, onnx_bytes: bytes, tmp: str
) -> Parity:
    """Check the artifact against the best reference the trial has.

    A network: its trained PyTorch model, rebuilt from the stored weights. A compressed
    variant: its fp32 parent's artifact (agreement reported). A family whose ONNX model is
    the fitted model itself (gbdt, ensembles): the validation metric the study recorded.
    """
    if record.parent_trial is not None:
        parent = next(r for r in run.trials() if r.number == record.parent_trial)
        parent_onnx = Path(run.artifact_path(parent, tmp)).read_bytes()
        expected = predict_outputs(parent_onnx, prepared.X_test)
        got = predict_outputs(onnx_bytes, prepared.X_test)
        return Parity(
            split="test",
            n=len(prepared.X_test),
            argmax_agreement=None,
            max_abs_diff=float(np.max(np.abs(expected - got))) if len(got) else 0.0,
            int8_argmax_agreement=float(np.mean(expected.argmax(1) == got.argmax(1))),
            reference=f"its fp32 parent, trial {parent.number}",
        )
    if not get_family(record.family).builds_network:
        outputs = predict_outputs(onnx_bytes, prepared.X_val)
        again = score(run.requirements.metric, prepared.y_val, outputs)
        return Parity(
            split="val",
            n=len(prepared.X_val),
            argmax_agreement=None,
            max_abs_diff=abs(again - record.val_metric),
            worst_to_tolerance=abs(again - record.val_metric) / PARITY_MAX_ABS_DIFF,
            reference=f"the validation {run.requirements.metric} recorded in the study",
        )
    weights = _weights_bytes(run, record, tmp)
    return check_parity(onnx_bytes, _reference_model(record, prepared, weights), prepared)


def _refit_cost_note(record: TrialRecord, refitted: bool) -> str:
    if not refitted:
        return ""
    if get_family(record.family).builds_network:
        return "; the shipped refit on train+validation has the same graph, other weights"
    return (
        "; measured on the fit to the training split: the shipped refit on train+validation "
        "may differ in size (model.bytes is its own)"
    )


def _refit_parity(run: Run, record: TrialRecord, refitted) -> Parity:
    """Check a refitted model's ONNX graph: against its torch model (a network), or against
    the test figure recorded for it (a fitted family, whose ONNX graph is the model)."""
    if refitted.candidate.model is not None:
        return check_parity(
            refitted.candidate.onnx_model, refitted.candidate.model, refitted.prepared
        )
    prepared = refitted.prepared
    outputs = predict_outputs(refitted.candidate.onnx_model, prepared.X_test)
    again = score(run.requirements.metric, prepared.y_test, outputs)
    recorded = run.test_estimate(record).value
    return Parity(
        split="test",
        n=len(prepared.X_test),
        argmax_agreement=None,
        max_abs_diff=abs(again - recorded),
        worst_to_tolerance=abs(again - recorded) / PARITY_MAX_ABS_DIFF,
        reference=f"the test {run.requirements.metric} recorded for the model refitted on "
        "train+validation",
    )


def _fold_table(
    onnx_bytes: bytes, schema: TableSchema, prepared: Prepared, parity: Parity, record
) -> tuple[bytes, Parity]:
    """The model taking raw table columns, checked against the model taking features."""
    folded = fold(onnx_bytes, schema)
    _check_onnx(folded, f"trial {record.number} with its table encoding")
    feeds, rows = schema.rows(prepared.X_test, prepared.texts and prepared.texts.test)
    expected = predict_outputs(onnx_bytes, prepared.X_test[rows])
    sess = session(folded, threads=os.cpu_count() or 1)
    got = sess.run(None, feeds)[0] if len(rows) else expected
    agreement = compare_outputs(expected, got, prepared.task != "regression")
    return folded, replace(
        parity,
        raw_rows=int(len(rows)),
        raw_max_abs_diff=agreement.max_abs_diff,
        raw_worst_to_tolerance=agreement.worst_to_tolerance,
        raw_class_mismatches=agreement.class_mismatches,
    )


def _check_rows(
    run: Run,
    record: TrialRecord,
    prepared: Prepared,
    shipped: bytes,
    schema: TableSchema | None,
    tmp: str,
) -> tuple[dict, bytes] | None:
    """A compressed classifier's check rows: the card's section and the ``check.npz`` bytes.

    The shipped model's inputs for the first test rows and its fp32 parent's classes on them,
    with the agreement measured here, so that another machine (other int8 kernels) can
    re-check it with `tradeoff bench`.
    """
    if record.parent_trial is None or prepared.task == "regression":
        return None
    parent = next(r for r in run.trials() if r.number == record.parent_trial)
    parent_onnx = Path(run.artifact_path(parent, tmp)).read_bytes()
    X = prepared.X_test[:CHECK_ROWS]
    if schema is not None:
        feeds, rows = schema.rows(X, prepared.texts and prepared.texts.test[:CHECK_ROWS])
        X = X[rows]
    else:
        feeds = {INPUT_NAME: X}
    reference = predict_outputs(parent_onnx, X).argmax(axis=1)
    classes = session(shipped).run(None, feeds)[0].argmax(axis=1)
    arrays = {
        CHECK_INPUT + name: value.astype(str) if value.dtype == object else value
        for name, value in feeds.items()
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, reference_classes=reference, **arrays)
    section = {
        "file": CHECK_FILE,
        "rows": int(len(reference)),
        "split": "test",
        "reference": f"the classes of its fp32 parent, trial {parent.number}",
        "agreement": float(np.mean(classes == reference)),
        "measured_on": {"cpu": cpu_model(), "flags": list(cpu_flags())},
    }
    return section, buffer.getvalue()


def _weights_bytes(run: Run, record: TrialRecord, directory: str) -> bytes:
    if record.weights_artifact_id is None:
        raise TradeoffError(
            f"trial {record.number}: its trained weights were not stored (a run from an older "
            "tradeoff), so parity cannot be checked; search again to export it"
        )
    path = os.path.join(directory, f"trial-{record.number}.pt")
    run.download(record.weights_artifact_id, path, f"the weights of trial {record.number}")
    return Path(path).read_bytes()


def _reference_model(record: TrialRecord, prepared: Prepared, weights: bytes) -> torch.nn.Module:
    """The trained model rebuilt in memory from its family, parameters and weights."""
    model = deployable(
        get_family(record.family),
        record.params,
        prepared.input_shape,
        prepared.n_outputs,
        prepared.scaling,
    )
    # weights_only: tensors and containers only; never arbitrary pickled objects.
    model.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    return model.eval()


def _check_onnx(onnx_bytes: bytes, what: str) -> None:
    try:
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes), full_check=True)
    except Exception as error:  # onnx raises several types; all mean "not a valid model"
        raise TradeoffError(f"{what}: model fails onnx.checker: {error}".splitlines()[0]) from None


def check_parity(
    onnx_bytes: bytes, reference: torch.nn.Module, prepared: Prepared, split: str = "test"
) -> Parity:
    """Compare ONNX Runtime's outputs with ``reference``'s on ``split`` (``test`` or ``val``)."""
    X = prepared.X_test if split == "test" else prepared.X_val
    expected = predict_in_batches(reference, X).numpy()  # a big split, in batches
    got = run_onnx(session(onnx_bytes, threads=os.cpu_count() or 1), X)
    return Parity.of(compare_outputs(expected, got, prepared.task != "regression"), split)


def build_card(
    run: Run,
    record: TrialRecord,
    prepared: Prepared,
    onnx_bytes: bytes,
    parity: Parity,
    schema: TableSchema | None = None,
    refitted: bool = False,
) -> dict:
    """The cost card: what the model is, what it costs, how good it is, and where it came from.

    ``refitted``: the shipped model was refitted on train+validation (a pick ranked by
    cross-validation), not the one the search trained on the training split."""
    data = prepared.data
    classification = prepared.task != "regression"
    test = run.test_estimate(record) if classification else None
    fitted_on = "train+validation" if refitted else "the training split"
    rows = len(prepared.y_train) + (len(prepared.y_val) if refitted else 0)
    n_features = int(np.prod(prepared.input_shape))
    input_section = {
        "name": INPUT_NAME,
        "dtype": "float32",
        "shape": [None, *prepared.input_shape],
        "modality": prepared.modality,
        "features": None,
        "preprocessing": f"standardisation fitted on {fitted_on}, inside model.onnx",
    }
    if schema is not None:
        input_section |= {"name": None, "dtype": None, "shape": [None, len(schema.columns)]}
        input_section |= schema.card()
    elif prepared.modality == "text":
        input_section |= {
            "dtype": "string",
            "features": [{"name": data.feature_names[0], "type": "text"}],
            "max_chars": max_chars_for(prepared.X_train),
            "preprocessing": "inside model.onnx: lower-casing, tokenization, vocabulary and "
            f"weighting fitted on {fitted_on}",
        }
    elif prepared.modality == "tabular":
        names = prepared.feature_names or tuple(f"x{i}" for i in range(n_features))
        input_section["features"] = [{"name": name, "type": "numeric"} for name in names]
    return {
        "format": BUNDLE_FORMAT,
        "model": {
            "file": MODEL_FILE,
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
            "bytes": len(onnx_bytes),
            "runtime": "onnxruntime",
        },
        "task": prepared.task,
        "classes": list(data.classes) if classification else [],
        "input": input_section,
        "output": {
            "name": OUTPUT_NAME,
            "kind": "logits" if classification else "value",
            "shape": [None, prepared.n_outputs],
            "probabilities": "softmax of the logits" if classification else None,
        },
        "requirements": run.requirements.to_dict(),
        "cost": {
            "p50_ms": record.p50_ms,
            "p95_ms": record.p95_ms,
            "size_mb": record.size_mb,
            "n_params": record.n_params,
            "inference_rss_mb": record.inference_rss_mb,
            "throughput_rows_per_s": record.throughput_rows_per_s,
            "throughput_batch": record.throughput_batch,
            # method["machine"] and method["where"]: the machine (a target's agent, or the
            # search's own) every figure above was measured on.
            "method": record.latency_method,
            "measured_on": "the same ONNX graph before training, at search time"
            + ("" if schema is None else ", the table encoding in front of it as shipped")
            + (f", on {record.latency_method['where']}" if "where" in record.latency_method else "")
            + _refit_cost_note(record, refitted),
        },
        "metrics": {
            "metric": run.requirements.metric,
            "validation": {
                "value": record.val_metric,
                "split": "validation",
                "n": len(prepared.y_val),
            },
            "test": None if test is None else asdict(test),
        },
        "parity": {**asdict(parity), "passed": parity.passed, "tolerance": TOLERANCE},
        "lineage": {
            "run": str(run.out),
            "trial": record.number,
            "family": record.family,
            "params": record.params,
            "strategy": record.strategy,
            "compression": record.compression or None,
            "parent_trial": record.parent_trial,
            # The search trains on the training split; a pick ranked by cross-validation is
            # refitted on train+validation (same configuration and seed) before it is tested.
            "fitted_on": {"splits": fitted_on, "rows": rows},
        },
        "data": prepared.describe(),
        "versions": _versions(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _versions() -> dict:
    import sklearn

    from tradeoff import __version__

    return {
        "tradeoff": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "scikit-learn": sklearn.__version__,
    }

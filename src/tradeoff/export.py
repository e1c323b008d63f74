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
from tradeoff.frontier import Run
from tradeoff.measure import cpu_flags, cpu_model, predict_outputs, score, session
from tradeoff.prepare import Prepared
from tradeoff.records import TrialRecord
from tradeoff.requirements import Requirements
from tradeoff.table_input import TableSchema, fold

#: Test rows a compressed bundle carries for `tradeoff bench` to re-check its classes.
CHECK_ROWS = 256

#: fp32 parity at export: every argmax must agree and no output may differ by more than this.
PARITY_MAX_ABS_DIFF = 1e-4


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

    @property
    def passed(self) -> bool:
        if self.raw_max_abs_diff is not None and self.raw_max_abs_diff > PARITY_MAX_ABS_DIFF:
            return False
        if self.int8_argmax_agreement is not None:
            # A compressed variant passed its paired test at search time; agreement is reported.
            return True
        agree = self.argmax_agreement is None or self.argmax_agreement == 1.0
        return agree and self.max_abs_diff <= PARITY_MAX_ABS_DIFF


def export(
    run: Run | str | os.PathLike,
    out: str | os.PathLike,
    *,
    trial: int | str = "best",
    requirements: Requirements | None = None,
) -> Path:
    """Write the bundle of one trial of ``run`` to the new folder ``out``; return its path.

    ``trial="best"`` takes ``run.select(requirements)``. The export fails (and
    writes nothing) unless the ONNX model passes ``onnx.checker`` and matches
    the trained PyTorch model on the test split (argmax 100 %, max |diff| <= 1e-4).

    >>> export("runs/m1d", "model/", trial="best")  # doctest: +SKIP
    PosixPath('model')
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TradeoffError(f"--out: {out} already exists and is not an empty folder")
    run = run if isinstance(run, Run) else Run.open(run)
    record = _pick(run, trial, requirements)
    prepared = run.prepared
    with tempfile.TemporaryDirectory() as tmp:
        onnx_bytes = Path(run.artifact_path(record, tmp)).read_bytes()
        _check_onnx(onnx_bytes, f"trial {record.number}")
        parity = _parity(run, record, prepared, onnx_bytes, tmp)
    schema = TableSchema.of(prepared)
    if schema is not None:
        onnx_bytes, parity = _fold_table(onnx_bytes, schema, prepared, parity, record)
    if not parity.passed:
        raise TradeoffError(
            f"trial {record.number}: the ONNX model does not match the trained model on the "
            f"{parity.split} split (argmax agreement {parity.argmax_agreement}, max |diff| "
            f"{parity.max_abs_diff:.3g}, raw-row max |diff| {parity.raw_max_abs_diff}; "
            f"tolerance {PARITY_MAX_ABS_DIFF}); not exported"
        )
    card = build_card(run, record, prepared, onnx_bytes, parity, schema)
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


def _pick(run: Run, trial: int | str, requirements: Requirements | None) -> TrialRecord:
    if trial == "best":
        record = run.select(requirements)
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
            reference=f"the validation {run.requirements.metric} recorded in the study",
        )
    weights = _weights_bytes(run, record, tmp)
    return check_parity(onnx_bytes, _reference_model(record, prepared, weights), prepared)


def _fold_table(
    onnx_bytes: bytes, schema: TableSchema, prepared: Prepared, parity: Parity, record
) -> tuple[bytes, Parity]:
    """The model taking raw table columns, checked against the model taking features."""
    folded = fold(onnx_bytes, schema)
    _check_onnx(folded, f"trial {record.number} with its table encoding")
    feeds, rows = schema.rows(prepared.X_test)
    expected = predict_outputs(onnx_bytes, prepared.X_test[rows])
    sess = session(folded, threads=os.cpu_count() or 1)
    got = sess.run(None, feeds)[0] if len(rows) else expected
    diff = float(np.max(np.abs(expected - got))) if len(rows) else 0.0
    if prepared.task != "regression" and not np.array_equal(
        expected.argmax(axis=1), got.argmax(axis=1)
    ):
        diff = float("inf")  # a changed class is a failure whatever the values
    return folded, replace(parity, raw_rows=int(len(rows)), raw_max_abs_diff=diff)


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
        feeds, rows = schema.rows(X)
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
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(X)).numpy()
    got = run_onnx(session(onnx_bytes, threads=os.cpu_count() or 1), X)
    classification = prepared.task != "regression"
    return Parity(
        split=split,
        n=len(X),
        argmax_agreement=float(np.mean(expected.argmax(1) == got.argmax(1)))
        if classification
        else None,
        max_abs_diff=float(np.max(np.abs(expected - got))) if len(X) else 0.0,
    )


def build_card(
    run: Run,
    record: TrialRecord,
    prepared: Prepared,
    onnx_bytes: bytes,
    parity: Parity,
    schema: TableSchema | None = None,
) -> dict:
    """The cost card: what the model is, what it costs, how good it is, and where it came from."""
    data = prepared.data
    classification = prepared.task != "regression"
    test = run.test_estimate(record) if classification else None
    n_features = int(np.prod(prepared.input_shape))
    input_section = {
        "name": INPUT_NAME,
        "dtype": "float32",
        "shape": [None, *prepared.input_shape],
        "modality": prepared.modality,
        "features": None,
        "preprocessing": "standardisation fitted on the training split, inside model.onnx",
    }
    if schema is not None:
        input_section |= {"name": None, "dtype": None, "shape": [None, len(schema.columns)]}
        input_section |= schema.card()
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
            "method": record.latency_method,
            "measured_on": "the same ONNX graph before training, at search time"
            + ("" if schema is None else ", the table encoding in front of it as shipped"),
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
        "parity": {**asdict(parity), "passed": parity.passed, "tolerance": PARITY_MAX_ABS_DIFF},
        "lineage": {
            "run": str(run.out),
            "trial": record.number,
            "family": record.family,
            "params": record.params,
            "strategy": record.strategy,
            "compression": record.compression or None,
            "parent_trial": record.parent_trial,
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

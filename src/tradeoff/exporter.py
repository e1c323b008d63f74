"""Export: the pick as a bundle (``model.onnx`` + ``card.json``), checked; ``bundle`` reads it back.

A bundle is ONNX + JSON only: nothing in it is ever unpickled. Preprocessing
(scaling fitted on train; for tables also imputation, one-hot encoding of text
columns and the dropping of constant features: ``inputs.table``) is folded into
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
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tradeoff import evaluate
from tradeoff.bundle import (
    BUNDLE_FORMAT,
    CARD_FILE,
    CHECK_FILE,
    CHECK_INPUT,
    MODEL_FILE,
)
from tradeoff.errors import TradeoffError
from tradeoff.families import (
    INPUT_NAME,
    OUTPUT_NAME,
    FittedFamily,
    deployable,
    get_family,
    regression_target,
)
from tradeoff.frontier import Run
from tradeoff.inputs.table import TableSchema, as_shipped, cost_samples, fold
from tradeoff.inputs.text import max_chars_for
from tradeoff.measure import (
    LatencyProtocol,
    cost_record,
    cpu_flags,
    cpu_model,
    predict_outputs,
    score,
    session,
)
from tradeoff.measure.sites import architecture_key, measure_cost
from tradeoff.parity import (
    PARITY_MAX_ABS_DIFF,
    TOLERANCE,
    Parity,
    check_parity,
    compare_outputs,
    native_parity,
)
from tradeoff.prepare import Prepared
from tradeoff.records import TrialRecord, trial_seed
from tradeoff.requirements import Requirements
from tradeoff.selection import cheaper_twin, most_accurate, twin_summary

#: Validation rows a compressed bundle carries for `tradeoff bench` to re-check its classes.
CHECK_ROWS = 256


def export(
    run: Run | str | os.PathLike,
    out: str | os.PathLike,
    *,
    trial: int | str = "best",
    requirements: Requirements | None = None,
    prefer: str | None = None,
) -> Path:
    """Write the bundle of one trial of ``run`` to the new folder ``out``; return its path.

    ``trial="best"`` takes ``run.select(requirements, prefer)`` (default: the run's own
    requirements and ``--prefer``); the card's ``selection`` names the most accurate pick
    and its cheaper twin, and which of them was shipped. The export fails (and
    writes nothing) unless the ONNX model passes ``onnx.checker`` and matches the trained
    model (a network's PyTorch model, a fitted family's own predict) on the validation split,
    fit to float32 (``compare_outputs``: the same
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
    refitted = evaluate.refit(run, record) if evaluate.refits(record) else None
    with tempfile.TemporaryDirectory() as tmp:
        if refitted is None:
            onnx_bytes = Path(run.artifact_path(record, tmp)).read_bytes()
            _check_onnx(onnx_bytes, f"trial {record.number}")
            parity = _parity(run, record, prepared, onnx_bytes, tmp)
        else:
            onnx_bytes = refitted.candidate.onnx_model
            _check_onnx(onnx_bytes, f"trial {record.number}, refitted")
            parity = _refit_parity(run, record, refitted)
            trained = Path(run.artifact_path(record, tmp)).read_bytes()
    # The refit may be another model than the one the search measured (a refitted tree or
    # rocket may grow): measured as it ships unless its graph is the trial's, and refused if
    # it breaks a limit.
    refit_cost = (
        None if refitted is None else _refit_cost(run, record, refitted, onnx_bytes, trained)
    )
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
    card = build_card(run, record, prepared, onnx_bytes, parity, schema, refit_cost)
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
    of the two was shipped and why (see :func:`tradeoff.selection.twin_summary`)."""
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
        expected = predict_outputs(parent_onnx, prepared.X_val)
        got = predict_outputs(onnx_bytes, prepared.X_val)
        return Parity(
            split="val",
            n=len(prepared.X_val),
            argmax_agreement=None,
            max_abs_diff=float(np.max(np.abs(expected - got))) if len(got) else 0.0,
            int8_argmax_agreement=float(np.mean(expected.argmax(1) == got.argmax(1))),
            reference=f"its fp32 parent, trial {parent.number}",
        )
    family = get_family(record.family)
    if not family.builds_network:
        native = None
        if isinstance(family, FittedFamily) and family.has_native:
            # The fitted model itself is not stored, only its ONNX graph: fit it again
            # (same split, params and seed); where that gives the same graph byte for byte,
            # its native outputs are those of the model the artifact was converted from.
            fitted = family.fit(
                record.params, prepared, trial_seed(run.info["seed"], record.number)
            )
            native = fitted.native
        if native is not None and _same_model(fitted.onnx_model, onnx_bytes):
            reference = "the native model (its own predict), fitted again to the same graph"
            return native_parity(onnx_bytes, native, prepared, reference)
        if native is not None:
            return native_parity(
                fitted.onnx_model,
                native,
                prepared,
                "the native model fitted again (same split, params and seed), whose graph "
                "differs from the trial's (its fit was cut short): its own conversion checked",
            )
        outputs = predict_outputs(onnx_bytes, prepared.X_val)
        again = score(run.requirements.metric, prepared.y_val, outputs)
        return Parity(
            split="val",
            n=len(prepared.X_val),
            argmax_agreement=None,
            max_abs_diff=abs(again - record.val_metric),
            worst_to_tolerance=abs(again - record.val_metric) / PARITY_MAX_ABS_DIFF,
            reference=f"the validation {run.requirements.metric} recorded in the study "
            "(no native model outside the ONNX graph to compare with)",
        )
    weights = _weights_bytes(run, record, tmp)
    return check_parity(onnx_bytes, _reference_model(record, prepared, weights), prepared)


def _same_model(a: bytes, b: bytes) -> bool:
    """Whether two ONNX models are the same but for their graphs' names (onnxmltools names
    each converted graph with a random UUID)."""
    first, second = onnx.load_from_string(a), onnx.load_from_string(b)
    for model in (first, second):
        model.graph.name = ""
    return first.SerializeToString() == second.SerializeToString()


#: Why a refit's latency figures are the search's (``_refit_cost``), by case.
SEARCH_LATENCY = {
    "targets": "latency: the fit to the training split at search time",
    "same graph": "latency: the fit to the training split at search time (the refit has the "
    "same graph: operators, attributes and shapes)",
}


def _refit_cost(run: Run, record: TrialRecord, refitted, onnx_bytes: bytes, trained: bytes) -> dict:
    """The cost of ``record``'s refit on train+validation as it ships (a table's encoding in
    front); a refit that breaks a cost requirement is refused. It is measured here with the
    run's protocol, unless its graph is that of the trial's fit (``trained``) but for the
    weights' values (the search's own rule: the same kernels on the same shapes cost the same,
    and timing it again would only draw its p95 anew), or the run measured on targets, whose
    machines this export cannot reach: then only its size is its own."""
    req = run.requirements
    prepared = run.prepared
    shipped, shape = as_shipped(onnx_bytes, prepared)
    same_graph = architecture_key(shipped) == architecture_key(as_shipped(trained, prepared)[0])
    if run.info.get("targets") or same_graph:
        size_mb = len(shipped) / 1e6
        violations = req.cost_violations(
            record.p95_ms, size_mb, record.inference_rss_mb, record.throughput_rows_per_s
        )
        reused = "targets" if run.info.get("targets") else "same graph"
        cost = None
    else:
        protocol = LatencyProtocol(**run.info.get("latency_protocol", {}))
        measured = measure_cost(
            shipped,
            shape,
            protocol,
            req,
            samples=cost_samples(prepared),
            limit_ms=req.max_latency_ms,
        )
        violations = measured.violations(req)
        model = refitted.candidate.model
        cost = measured.record(cost_record(measured.latency, shipped, model, shape))
        if model is None:  # a fitted family's count is of the training-split fit: unknown here
            cost["n_params"] = None
    if violations:
        raise TradeoffError(
            f"trial {record.number}: refitted on train+validation, as shipped it breaks "
            f"{'; '.join(map(str, violations))}; not exported (export another trial with --trial)"
        )
    return {"size_mb": len(shipped) / 1e6, "latency": reused} if cost is None else cost


def _refit_parity(run: Run, record: TrialRecord, refitted) -> Parity:
    """Check a refitted model's ONNX graph against the refitted model itself, on the
    validation rows: its torch model (a network) or its native outputs (a fitted family)."""
    candidate = refitted.candidate
    if candidate.model is not None:
        return check_parity(candidate.onnx_model, candidate.model, refitted.prepared)
    if candidate.native is None:
        raise TradeoffError(
            f"trial {record.number}: its refit on train+validation has no model outside its "
            "ONNX graph to check it against; not exported"
        )
    return native_parity(
        candidate.onnx_model,
        candidate.native,
        refitted.prepared,
        "the native model refitted on train+validation (its own predict)",
    )


def _fold_table(
    onnx_bytes: bytes, schema: TableSchema, prepared: Prepared, parity: Parity, record
) -> tuple[bytes, Parity]:
    """The model taking raw table columns, checked against the model taking features."""
    folded = fold(onnx_bytes, schema)
    _check_onnx(folded, f"trial {record.number} with its table encoding")
    feeds, rows = schema.rows(prepared.X_val, prepared.texts and prepared.texts.val)
    expected = predict_outputs(onnx_bytes, prepared.X_val[rows])
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

    The shipped model's inputs for the first validation rows and its fp32 parent's classes on
    them,
    with the agreement measured here, so that another machine (other int8 kernels) can
    re-check it with `tradeoff bench`.
    """
    if record.parent_trial is None or prepared.task == "regression":
        return None
    parent = next(r for r in run.trials() if r.number == record.parent_trial)
    parent_onnx = Path(run.artifact_path(parent, tmp)).read_bytes()
    X = prepared.X_val[:CHECK_ROWS]
    if schema is not None:
        feeds, rows = schema.rows(X, prepared.texts and prepared.texts.val[:CHECK_ROWS])
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
        "split": "validation",
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
    """The trained model rebuilt in memory from its family, parameters and weights, as the
    search built it: a regression network with its target scaling (whose buffers are in
    its weights)."""
    model = deployable(
        get_family(record.family),
        record.params,
        prepared.input_shape,
        prepared.n_outputs,
        prepared.scaling,
        regression_target(prepared),
    )
    # weights_only: tensors and containers only; never arbitrary pickled objects.
    try:
        model.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise TradeoffError(
            f"trial {record.number} ({record.family}): its stored weights do not fit the "
            f"network its parameters build ({detail}); not exported"
        ) from None
    return model.eval()


def _check_onnx(onnx_bytes: bytes, what: str) -> None:
    try:
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes), full_check=True)
    except Exception as error:  # onnx raises several types; all mean "not a valid model"
        raise TradeoffError(f"{what}: model fails onnx.checker: {error}".splitlines()[0]) from None


def build_card(
    run: Run,
    record: TrialRecord,
    prepared: Prepared,
    onnx_bytes: bytes,
    parity: Parity,
    schema: TableSchema | None = None,
    refit_cost: dict | None = None,
) -> dict:
    """The cost card: what the model is, what it costs, how good it is, and where it came from.

    ``refit_cost``: the shipped model was refitted on train+validation (a pick ranked by
    cross-validation), not the one the search trained on the training split, and this is its
    cost as measured at export (:func:`_refit_cost`); the card reports it."""
    refitted = refit_cost is not None
    data = prepared.data
    classification = prepared.task != "regression"
    test = evaluate.test_estimate(run, record) if classification else None
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
        "cost": _cost_section(record, schema, refit_cost),
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


def _cost_section(record: TrialRecord, schema: TableSchema | None, refit_cost: dict | None):
    """The card's cost: the search's figures, or those of the refit measured at export."""
    cost = {
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
    }
    encoding = "" if schema is None else ", the table encoding in front of it as shipped"
    where = f", on {record.latency_method['where']}" if "where" in record.latency_method else ""
    if refit_cost is None:
        measured_on = "the same ONNX graph before training, at search time" + encoding + where
    elif "p95_ms" in refit_cost:
        cost |= {key: refit_cost.get(key) for key in cost}
        measured_on = "the shipped refit on train+validation, at export" + encoding
    else:  # the search's latency figures (targets, or the same graph): only the size is its own
        cost["size_mb"] = refit_cost["size_mb"]
        measured_on = (
            SEARCH_LATENCY[refit_cost["latency"]]
            + encoding
            + where
            + "; size: the shipped refit on train+validation"
        )
    return cost | {"measured_on": measured_on}


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

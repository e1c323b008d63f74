"""One trial's pipeline: suggest, build, measure cost, (maybe) train, evaluate, record.

Cost depends on the architecture, not the weights, so it is measured on the
untrained model; a candidate that breaks a hard constraint is recorded as
infeasible and never trained.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tradeoff.families import count_parameters, deployable, get_family, to_onnx
from tradeoff.measure import LatencyProtocol, accuracy, measure_latency, session
from tradeoff.prepare import Prepared
from tradeoff.requirements import Requirements
from tradeoff.search import record as rec
from tradeoff.search.workers import WORKER, CostLock, worker_id
from tradeoff.train import suggest_strategy, train


@dataclass
class TrialContext:
    """Everything a trial needs that is the same for the whole search."""

    prepared: Prepared
    requirements: Requirements
    families: list[str]
    artifact_store: FileSystemArtifactStore
    protocol: LatencyProtocol
    seed: int
    max_epochs: int
    deadline: float  # time.monotonic() instant at which training stops
    on_epoch: object = None  # optional callable(trial_number, epoch, point)
    cost_lock: CostLock = field(default_factory=CostLock)


def set_cost_constraints(trial: optuna.Trial, req: Requirements, p95_ms: float, size_mb: float):
    """Tell the sampler how far a candidate is from the cost limits (<= 0: within them)."""
    trial.set_constraint("latency", p95_ms - req.max_latency_ms if req.max_latency_ms else 0.0)
    trial.set_constraint("size", size_mb - req.max_size_mb if req.max_size_mb else 0.0)


def quality_constraint(req: Requirements, quality: float | None) -> float:
    if req.min_quality is None or quality is None:
        return 0.0
    return (req.min_quality - quality) * (1.0 if req.higher_is_better else -1.0)


def run_trial(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    """The objective: returns (validation metric, p95 latency in ms)."""
    try:
        return _run(trial, ctx)
    except optuna.TrialPruned:
        raise
    except Exception as error:
        trial.set_user_attr(rec.ERROR, f"{type(error).__name__}: {error}"[:500])
        raise


def _run(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    prepared, req = ctx.prepared, ctx.requirements
    trial.set_user_attr(WORKER, worker_id())
    family = get_family(trial.suggest_categorical("family", ctx.families))
    params = family.suggest(trial, prepared.input_shape)
    strategy = replace(suggest_strategy(trial, prepared), max_epochs=ctx.max_epochs)
    trial.set_user_attr(rec.FAMILY_PARAMS, params)
    trial.set_user_attr(rec.STRATEGY, asdict(strategy))

    # 1-3. Build untrained, export, measure its cost; stop here if it can never fit.
    seed = ctx.seed * 100_003 + trial.number
    torch.manual_seed(seed)
    model = deployable(family, params, prepared.input_shape, prepared.n_outputs, prepared.scaling)
    onnx_bytes = to_onnx(model, prepared.input_shape)
    with ctx.cost_lock.measuring():
        latency = measure_latency(onnx_bytes, prepared.input_shape, ctx.protocol)
    size_mb = len(onnx_bytes) / 1e6
    trial.set_user_attr(
        rec.COST,
        {
            "p50_ms": latency.p50_ms,
            "p95_ms": latency.p95_ms,
            "p99_ms": latency.p99_ms,
            "size_mb": size_mb,
            "n_params": count_parameters(model),
            "method": latency.method,
        },
    )
    violations = req.cost_violations(latency.p95_ms, size_mb)
    set_cost_constraints(trial, req, latency.p95_ms, size_mb)
    if violations:
        trial.set_constraint("quality", 0.0)  # unknown: never trained
        trial.set_user_attr(rec.STATUS, "infeasible")
        trial.set_user_attr(rec.VIOLATIONS, violations)
        trial.set_user_attr(rec.TRAIN_SECONDS, 0.0)
        raise optuna.TrialPruned("; ".join(violations))

    # 4. Train with early stopping; evaluate the exported artifact, the thing that ships.
    with ctx.cost_lock.training() as let_measurements_in:

        def report_epoch(epoch, point):
            let_measurements_in()
            if ctx.on_epoch is not None:
                ctx.on_epoch(trial.number, epoch, point)

        result = train(
            model, prepared, strategy, seed=seed, deadline=ctx.deadline, on_epoch=report_epoch
        )
    trial.set_user_attr(rec.TRAIN_SECONDS, result.seconds)
    trial.set_user_attr(rec.CURVE, result.curve)
    trial.set_user_attr("stopped_by", result.stopped_by)
    trained_onnx = to_onnx(model, prepared.input_shape)
    val_pred = predict_classes(trained_onnx, prepared.X_val)
    val_metric = accuracy(prepared.y_val, val_pred)
    trial.set_user_attr(rec.VAL_METRIC, val_metric)
    quality_violation = req.quality_violation(val_metric)
    trial.set_user_attr(rec.VIOLATIONS, [quality_violation] if quality_violation else [])
    trial.set_constraint("quality", quality_constraint(req, val_metric))
    trial.set_user_attr(rec.ARTIFACT, _store_artifact(trial, ctx.artifact_store, trained_onnx))
    # The trained weights too (tensors only), so that export can rebuild the in-memory
    # model from family + params and check the ONNX artifact against it.
    trial.set_user_attr(
        rec.WEIGHTS, _store_artifact(trial, ctx.artifact_store, _state_dict_bytes(model), ".pt")
    )
    return val_metric, latency.p95_ms


def predict_classes(onnx_model: bytes | str, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Class predictions of an ONNX classifier on ``X`` (run in ORT, in chunks)."""
    sess = session(onnx_model, threads=os.cpu_count() or 1)
    name = sess.get_inputs()[0].name
    outputs = [sess.run(None, {name: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(outputs).argmax(axis=1)


def _state_dict_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _store_artifact(
    trial: optuna.Trial, store: FileSystemArtifactStore, payload: bytes, suffix: str = ".onnx"
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"trial-{trial.number}{suffix}")
        with open(path, "wb") as file:
            file.write(payload)
        return upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)

"""One trial's pipeline: suggest, build, measure cost, (maybe) train, evaluate, record.

Cost depends on the architecture, not the weights, so it is measured on the
untrained model; a candidate that breaks a hard constraint is recorded as
infeasible and never trained.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tradeoff.families import deployable, get_family, to_onnx
from tradeoff.measure import LatencyProtocol, accuracy, cost_record, measure_latency, session
from tradeoff.prepare import Prepared
from tradeoff.requirements import Requirements
from tradeoff.search import compression
from tradeoff.search import record as rec
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
    deadline: float  # time.monotonic() instant at which training stops
    on_epoch: object = None  # optional callable(trial_number, epoch, point)
    compression: compression.CompressionSettings | None = None  # None: no compression


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
    family = get_family(trial.suggest_categorical("family", ctx.families))
    params = family.suggest(trial, prepared.input_shape)
    strategy = suggest_strategy(trial, prepared)
    trial.set_user_attr(rec.FAMILY_PARAMS, params)
    trial.set_user_attr(rec.STRATEGY, asdict(strategy))

    # 1-3. Build untrained, export, measure its cost; stop here if it can never fit.
    seed = ctx.seed * 100_003 + trial.number
    torch.manual_seed(seed)
    model = deployable(family, params, prepared.input_shape, prepared.n_outputs, prepared.scaling)
    onnx_bytes = to_onnx(model, prepared.input_shape)
    latency = measure_latency(onnx_bytes, prepared.input_shape, ctx.protocol)
    size_mb = len(onnx_bytes) / 1e6
    trial.set_user_attr(rec.COST, cost_record(latency, onnx_bytes, model, prepared.input_shape))
    # A hard latency limit is checked against the upper bound of p95, not its point estimate.
    violations = req.cost_violations(latency.p95_high_ms, size_mb)
    set_cost_constraints(trial, req, latency.p95_high_ms, size_mb)
    if violations and not compression.worth_training(
        ctx.compression, req, latency.p95_high_ms, size_mb
    ):
        trial.set_constraint("quality", 0.0)  # unknown: never trained
        trial.set_user_attr(rec.STATUS, "infeasible")
        trial.set_user_attr(rec.VIOLATIONS, violations)
        trial.set_user_attr(rec.TRAIN_SECONDS, 0.0)
        raise optuna.TrialPruned("; ".join(violations))

    # 4. Train with early stopping; evaluate the exported artifact, the thing that ships.
    def report_epoch(epoch, point):
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
    # Violations left: cost limits it was trained despite (for compression to close), quality.
    violations += [quality_violation] if quality_violation else []
    trial.set_user_attr(rec.VIOLATIONS, violations)
    trial.set_constraint("quality", quality_constraint(req, val_metric))
    trial.set_user_attr(rec.ARTIFACT, _store_artifact(trial, ctx.artifact_store, trained_onnx))
    # 5. Compress where it helps: each variant becomes a trial of its own, with its lineage.
    compression.compress_trained(
        trial,
        ctx,
        family=family.name,
        params=params,
        strategy=asdict(strategy),
        model=model,
        onnx_bytes=trained_onnx,
        val_pred=val_pred,
        val_metric=val_metric,
        p95_ms=latency.p95_ms,
        misses_cost=bool(violations),
    )
    return val_metric, latency.p95_ms


def predict_classes(onnx_model: bytes | str, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Class predictions of an ONNX classifier on ``X`` (run in ORT, in chunks)."""
    sess = session(onnx_model, threads=os.cpu_count() or 1)
    name = sess.get_inputs()[0].name
    outputs = [sess.run(None, {name: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(outputs).argmax(axis=1)


def _store_artifact(trial: optuna.Trial, store: FileSystemArtifactStore, onnx_bytes: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"trial-{trial.number}.onnx")
        with open(path, "wb") as file:
            file.write(onnx_bytes)
        return upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)

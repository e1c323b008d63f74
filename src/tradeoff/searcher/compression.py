"""Compression in the loop: trained candidates worth it get cheaper variants, each a trial.

Called from the trial pipeline after a candidate is trained. A candidate is
compressed when it is on the current Pareto front or when it misses a cost
requirement by a margin compression can close (such candidates are trained
for that reason alone). Each variant becomes a trial of its own with its
lineage (parent trial, pass, settings), measured cost and validation metric;
it is a COMPLETE trial when kept, a PRUNED one with status ``rejected`` and
the reason when not.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from torch import nn

from tradeoff.compress import SPEED_GAIN, Parent, Student, get_pass, judge, quality_holds
from tradeoff.errors import TradeoffError
from tradeoff.inputs.table import as_shipped, cost_samples
from tradeoff.measure import (
    accuracy,
    compare_latency,
    cost_record,
    paired_accuracy_drop,
    predict_classes,
    predict_outputs,
)
from tradeoff.measure.sites import measure_cost
from tradeoff.records import Status, TrialRecord, download_to, store_artifact, trial_seed
from tradeoff.records import attrs as rec
from tradeoff.records.attrs import COMPRESSION_ERRORS, WORKER
from tradeoff.rules import Objective, constraint_values, dominates
from tradeoff.searcher.context import TrialContext
from tradeoff.searcher.settings import CompressionSettings, worth_training
from tradeoff.searcher.workers import worker_id

# Kept importable from here (their home before searcher/settings.py).
__all__ = ["COMPRESSION_ERRORS", "CompressionSettings", "compress_trained", "worth_training"]


def compress_trained(
    trial: optuna.Trial,
    ctx: TrialContext,
    *,
    family: str,
    params: dict,
    strategy: dict,
    model: nn.Module,
    onnx_bytes: bytes,
    val_pred: np.ndarray,
    val_metric: float,
    p95_ms: float,
    misses_cost: bool,
) -> list[int]:
    """Make and record the variants of one trained candidate; returns their trial numbers."""
    settings = ctx.compression
    if settings is None or time.monotonic() >= ctx.deadline:
        return []
    done = [
        record
        for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if (record := TrialRecord.from_trial(t)).val_metric is not None
    ]
    objective = Objective.of(ctx.requirements)
    if not misses_cost and _dominated(objective.key(val_metric), p95_ms, done, objective):
        return []
    students = ()
    # Distillation only for the best so far (the teacher), under the metric's direction.
    if all(objective.better(val_metric, r.val_metric) for r in done):
        students = _students(done, p95_ms, len(onnx_bytes) / 1e6, objective)
    parent = Parent(
        trial=trial.number,
        family=family,
        params=params,
        strategy=strategy,
        model=model,
        onnx=onnx_bytes,
        prepared=ctx.prepared,
        students=students,
        train_seconds=trial.user_attrs.get(rec.TRAIN_SECONDS),
        machines=tuple(target.info()["machine"] for target in ctx.targets),
    )
    numbers: list[int] = []
    errors: list[str] = []
    for i, name in enumerate(settings.resolve_passes()):
        compression_pass = get_pass(name)
        if time.monotonic() >= ctx.deadline or not compression_pass.applies(parent):
            continue
        seed = trial_seed(ctx.seed, trial.number * 101 + i)
        try:
            variant = compression_pass.compress(parent, seed=seed, deadline=ctx.deadline)
            if variant is not None:
                numbers.append(
                    _record_variant(trial, ctx, parent, name, variant, val_pred, val_metric)
                )
        except Exception as error:  # a failed pass must not lose the trained parent
            errors.append(f"{name}: {type(error).__name__}: {error}"[:300])
            trial.set_user_attr(COMPRESSION_ERRORS, errors)
    return numbers


def _record_variant(trial, ctx, parent: Parent, name: str, variant, val_pred, val_metric) -> int:
    prepared, req = ctx.prepared, ctx.requirements
    shape = prepared.input_shape
    outputs = predict_outputs(variant.onnx, prepared.X_val)
    pred = outputs.argmax(axis=1)
    metric = ctx.score(prepared.y_val, outputs)  # the run's metric, recorded like any trial's
    # The paired test is on accuracy, so the tolerance is taken on the parent's accuracy.
    reference_pred, reference_metric = val_pred, accuracy(prepared.y_val, val_pred)
    if variant.reference_trial is not None:  # distillation: judged against the student alone
        reference_pred = _trial_predictions(trial.study, ctx, variant.reference_trial)
        reference_metric = variant.reference_metric
    # Measured as a bundle would ship them (a table's encoding folded in front).
    shipped, shipped_shape = as_shipped(variant.onnx, prepared)
    parent_shipped, _ = as_shipped(parent.onnx, prepared)
    samples = cost_samples(prepared)
    with ctx.cost_lock.measuring():
        # Screened against the limit and decided sequentially, as candidates are (docs/cost.md).
        measured = measure_cost(
            shipped,
            shipped_shape,
            ctx.protocol,
            req,
            ctx.targets,
            samples=samples,
            limit_ms=req.max_latency_ms,
        )
        latency = measured.latency
        # Timed against its parent only when its quality holds: otherwise it is rejected anyway.
        ratio, interval, speed_measured = None, None, "not measured: the quality test failed"
        tolerance = ctx.compression.tolerance
        quality = paired_accuracy_drop(prepared.y_val, reference_pred, pred)
        if quality_holds(quality, reference_metric=reference_metric, tolerance=tolerance):
            ratio, interval, speed_measured = compare_latency(
                shipped,
                parent_shipped,
                shipped_shape,
                ctx.protocol,
                samples,
                screen=SPEED_GAIN,
            )
    verdict = judge(
        quality,
        reference_metric=reference_metric,
        tolerance=tolerance,
        speed_ratio=ratio,
        speed_ratio_interval=interval,
        size_ratio=len(shipped) / len(parent_shipped),
        size_binds=req.max_size_mb is not None and len(parent_shipped) / 1e6 > req.max_size_mb,
    )
    if variant.model is not None:
        cost = cost_record(latency, shipped, variant.model, shape)
    else:
        parent_cost = trial.user_attrs.get(rec.COST, {})
        cost = cost_record(
            latency,
            shipped,
            n_params=parent_cost.get("n_params"),
            flops=parent_cost.get("flops"),
        )
    cost = measured.record(cost)
    # Every cost limit on every target (SiteCost.violations), then the quality floor.
    violations = measured.violations(req)
    quality_violation = req.quality_violation(metric)
    violations += [quality_violation] if quality_violation else []
    artifact_id = None
    if verdict.kept:
        artifact_id = _store(trial, ctx, variant.onnx, name)
    lineage = {
        "pass": name,
        "parent": parent.trial,
        "settings": variant.settings,
        "verdict": verdict.to_dict() | {"speed_ratio_measured": speed_measured},
        "judged_against": variant.reference_trial
        if variant.reference_trial is not None
        else parent.trial,
    }
    attrs = {
        rec.FAMILY_PARAMS: parent.params if variant.params is None else variant.params,
        rec.STRATEGY: parent.strategy,
        rec.COST: cost,
        rec.VAL_METRIC: metric,
        rec.VAL_REPLICATES: ctx.val_replicates(outputs),
        rec.TRAIN_SECONDS: variant.train_seconds,
        rec.VIOLATIONS: [v.to_dict() for v in violations],
        rec.PARENT: parent.trial,
        rec.COMPRESSION: lineage,
        rec.STATUS: (Status.TRAINED if verdict.kept else Status.REJECTED).value,
        WORKER: worker_id(),
    }
    if artifact_id:
        attrs[rec.ARTIFACT] = artifact_id
    family = variant.family or parent.family
    frozen = create_trial(
        state=TrialState.COMPLETE if verdict.kept else TrialState.PRUNED,
        values=[metric, latency.p95_ms] if verdict.kept else None,
        params={"family": family},
        distributions={"family": CategoricalDistribution(ctx.families)},
        user_attrs=attrs,
        constraints=constraint_values(req, measured.figures, metric),
    )
    trial.study.add_trial(frozen)
    return trial.study.get_trials(deepcopy=False)[-1].number


def _dominated(
    quality: float, p95_ms: float, done: list[TrialRecord], objective: Objective
) -> bool:
    point = (quality, p95_ms)
    return any(dominates((objective.key(r.val_metric), r.p95_ms), point) for r in done)


def _students(
    done: list[TrialRecord],
    teacher_p95_ms: float,
    teacher_size_mb: float,
    objective: Objective,
    limit: int = 3,
) -> tuple[Student, ...]:
    """The most accurate feasible non-variant architectures trained so far that are cheaper
    than the teacher on both latency and size, best first."""
    cheaper = [
        r
        for r in done
        if not r.violations
        and r.parent_trial is None
        and r.artifact_id
        and r.p95_ms < teacher_p95_ms
        and r.size_mb <= teacher_size_mb
        and r.family is not None
    ]
    cheaper.sort(key=lambda r: -objective.key(r.val_metric))
    return tuple(Student(r.number, r.family, r.params, r.val_metric) for r in cheaper[:limit])


def _trial_predictions(study: optuna.Study, ctx, number: int) -> np.ndarray:
    artifact_id = study.get_trials(deepcopy=False)[number].user_attrs.get(rec.ARTIFACT)
    if artifact_id is None:
        raise TradeoffError(f"trial {number} has no stored model to compare with")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"trial-{number}.onnx")
        download_to(ctx.artifact_store, artifact_id, path)
        return predict_classes(path, ctx.prepared.X_val)


def _store(trial: optuna.Trial, ctx, onnx_bytes: bytes, name: str) -> str:
    return store_artifact(
        trial, ctx.artifact_store, onnx_bytes, f"trial-{trial.number}-{name}.onnx"
    )

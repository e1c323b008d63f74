"""One trial's pipeline: suggest, build, measure cost, (maybe) train, evaluate, record.

Cost depends on the architecture, not the weights, so it is measured on the
untrained model; a candidate that breaks a hard constraint is recorded as
infeasible and never trained. Families trained outside PyTorch (``gbdt``) fit
first, in seconds, because their size is only known once fitted.

While a network trains, successive halving within cost bands
(:mod:`tradeoff.search.halving`) may stop it early; it is then recorded as
``pruned`` with its partial learning curve.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import onnx
import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact

from tradeoff.families import Family, deployable, get_family, to_onnx
from tradeoff.measure import (
    LatencyProtocol,
    cost_record,
    measure_latency,
    predict_outputs,
)
from tradeoff.measure.quality import confusion_matrix, score
from tradeoff.prepare import Prepared
from tradeoff.requirements import Requirements
from tradeoff.search import compression
from tradeoff.search import record as rec
from tradeoff.search.cv import fold_scores
from tradeoff.search.halving import Halving, RungReporter
from tradeoff.search.workers import WORKER, CostLock, DiskFull, disk_full, worker_id
from tradeoff.table_input import as_shipped
from tradeoff.train import default_strategy_params, suggest_strategy, train


@dataclass
class TrialContext:
    """Everything a trial needs that is the same for the whole search."""

    prepared: Prepared
    requirements: Requirements  # metric resolved for the task
    families: list[str]
    artifact_store: FileSystemArtifactStore
    protocol: LatencyProtocol
    seed: int
    deadline: float  # time.monotonic() instant at which training stops
    on_epoch: object = None  # optional callable(trial_number, epoch, point)
    halving: Halving | None = None  # None: every trial trains until early stopping
    max_epochs: int = 60
    cost_lock: CostLock = field(default_factory=CostLock)
    compression: compression.CompressionSettings | None = None  # None: no compression
    #: architecture_key -> (trial that measured it, its Latency), filled as trials run
    latency_cache: dict = field(default_factory=dict)
    #: Rank on the mean over ``prepared.folds`` instead of the validation split (--cv)
    cv_ranking: bool = False

    def score(self, y_true: np.ndarray, outputs: np.ndarray) -> float:
        return score(self.requirements.metric, y_true, outputs)


def default_trials(families: list[str], prepared: Prepared) -> list[dict]:
    """One trial per family at its defaults, to enqueue before the sampler takes over
    (families that fit in seconds first, so that even a short search has them; ensembles
    last, so that they have members to combine)."""
    order = {"fit": 0, "torch": 1, "members": 2}
    trials = []
    for name in sorted(families, key=lambda n: order.get(get_family(n).trained_by, 1)):
        family = get_family(name)
        params = {"family": name}
        params.update({family.key(k): v for k, v in family.defaults(prepared.input_shape).items()})
        if family.trained_by == "torch":
            params.update(default_strategy_params(prepared))
        trials.append(params)
    return trials


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
        if disk_full(error):
            raise DiskFull(trial.number) from error
        trial.set_user_attr(rec.ERROR, f"{type(error).__name__}: {error}"[:500])
        raise


def _run(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    prepared = ctx.prepared
    trial.set_user_attr(WORKER, worker_id())
    family = get_family(trial.suggest_categorical("family", ctx.families))
    params = family.suggest(trial, prepared.input_shape)
    trial.set_user_attr(rec.FAMILY_PARAMS, params)
    seed = ctx.seed * 100_003 + trial.number
    if family.trained_by == "fit":
        return _run_fitted(trial, ctx, family, params, seed)
    if family.trained_by == "members":
        return _run_ensemble(trial, ctx, family, params)

    strategy = replace(suggest_strategy(trial, prepared), max_epochs=ctx.max_epochs)
    trial.set_user_attr(rec.STRATEGY, asdict(strategy))

    # 1-3. Build untrained, export, measure its cost; stop here if it can never fit.
    torch.manual_seed(seed)
    target = None
    if prepared.task == "regression":
        target = (float(prepared.y_train.mean()), float(prepared.y_train.std()) or 1.0)
    model = deployable(
        family, params, prepared.input_shape, prepared.n_outputs, prepared.scaling, target
    )
    onnx_bytes = to_onnx(model, prepared.input_shape)
    p95_ms, cost_violations = _measure_cost(trial, ctx, onnx_bytes, model=model)

    # 4. Train with early stopping (and halving); evaluate the exported artifact, the thing that ships.
    halving = None
    if ctx.halving is not None:
        halving = RungReporter(
            ctx.halving,
            trial,
            ctx.halving.band(p95_ms),
            strategy.max_epochs,
            ctx.requirements.higher_is_better,
        )

    with ctx.cost_lock.training() as let_measurements_in:

        def report_epoch(epoch, point):
            let_measurements_in()  # another worker's latency measurement goes between epochs
            if ctx.on_epoch is not None:
                ctx.on_epoch(trial.number, epoch, point)
            return halving is not None and halving(epoch, point)

        result = train(
            model,
            prepared,
            strategy,
            score=ctx.score,
            higher_is_better=ctx.requirements.higher_is_better,
            seed=seed,
            deadline=ctx.deadline,
            on_epoch=report_epoch,
        )
    trial.set_user_attr(rec.TRAIN_SECONDS, result.seconds)
    trial.set_user_attr(rec.CURVE, result.curve)
    trial.set_user_attr(rec.STOPPED_BY, result.stopped_by)
    if result.stopped_by == "pruned":
        sign = 1.0 if ctx.requirements.higher_is_better else -1.0
        trial.set_user_attr(rec.VAL_METRIC, sign * halving.best)  # best so far, on the torch model
        trial.set_user_attr(rec.STATUS, "pruned")
        trial.set_user_attr(rec.VIOLATIONS, cost_violations)
        raise optuna.TrialPruned(f"halving: below its cost band at epoch {halving.pruned_at}")
    trained_onnx = to_onnx(model, prepared.input_shape)
    val_metric, outputs = _finish(
        trial, ctx, trained_onnx, p95_ms, cost_violations, _state_dict_bytes(model)
    )
    # 5. Compress where it helps: each variant becomes a trial of its own, with its lineage.
    # The passes judge variants by a paired test on accuracy, so classification only.
    if prepared.task != "regression":
        compression.compress_trained(
            trial,
            ctx,
            family=family.name,
            params=params,
            strategy=asdict(strategy),
            model=model,
            onnx_bytes=trained_onnx,
            val_pred=outputs.argmax(axis=1),
            val_metric=val_metric,
            p95_ms=p95_ms,
            misses_cost=bool(cost_violations),
        )
    return val_metric, p95_ms


def _run_fitted(
    trial: optuna.Trial, ctx: TrialContext, family: Family, params: dict, seed: int
) -> tuple[float, float]:
    """A family that trains itself: fit, then measure the fitted model's cost (or, when the
    family knows its architecture beforehand, measure first and fit only what can fit)."""
    prepared = ctx.prepared
    unfitted = family.unfitted_onnx(params, prepared.input_shape, prepared.n_outputs)
    if unfitted is not None:
        p95_ms, cost_violations = _measure_cost(trial, ctx, unfitted[0], n_params=unfitted[1])
    fitted = family.fit(params, prepared, seed)
    trial.set_user_attr(rec.STOPPED_BY, "fitted")
    if unfitted is None:
        p95_ms, cost_violations = _measure_cost(
            trial, ctx, fitted.onnx_model, n_params=fitted.n_params, train_seconds=fitted.seconds
        )
    else:
        trial.set_user_attr(rec.TRAIN_SECONDS, fitted.seconds)
    return _finish(trial, ctx, fitted.onnx_model, p95_ms, cost_violations)[0], p95_ms


def _run_ensemble(
    trial: optuna.Trial, ctx: TrialContext, family: Family, params: dict
) -> tuple[float, float]:
    """Combine the best candidates found so far (by Pareto rank) into one model; nothing is trained."""
    members = front_members(trial.study, ctx.requirements.higher_is_better)[: params["members"]]
    trial.set_user_attr(rec.STOPPED_BY, "combined")
    if len(members) < 2:
        trial.set_user_attr(rec.STATUS, "skipped")
        trial.set_user_attr(rec.VIOLATIONS, [])
        raise optuna.TrialPruned("ensemble: fewer than 2 trained candidates so far")
    trial.set_user_attr(rec.FAMILY_PARAMS, {**params, "of_trials": [m.number for m in members]})
    onnx_models = []
    with tempfile.TemporaryDirectory() as tmp:
        for member in members:
            path = os.path.join(tmp, f"trial-{member.number}.onnx")
            download_artifact(
                artifact_store=ctx.artifact_store,
                file_path=path,
                artifact_id=member.user_attrs[rec.ARTIFACT],
            )
            with open(path, "rb") as file:
                onnx_models.append(file.read())
    fitted = family.combine(params, onnx_models, ctx.prepared.task)
    p95_ms, cost_violations = _measure_cost(
        trial, ctx, fitted.onnx_model, n_params=fitted.n_params, train_seconds=fitted.seconds
    )
    return _finish(trial, ctx, fitted.onnx_model, p95_ms, cost_violations)[0], p95_ms


def front_members(study: optuna.Study, higher_is_better: bool) -> list[optuna.trial.FrozenTrial]:
    """Trained candidates within every requirement, by Pareto rank on (validation quality,
    p95 latency): the front first, best quality first within it, then the next front once
    the first is used up, and so on (ensembles themselves excluded)."""
    sign = 1.0 if higher_is_better else -1.0
    left = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.params.get("family") != "ensemble"
        and not t.user_attrs.get(rec.VIOLATIONS)
        and t.user_attrs.get(rec.ARTIFACT)
    ]
    point = {t.number: (sign * t.values[0], t.values[1]) for t in left}

    def beats(a, b) -> bool:
        (qa, pa), (qb, pb) = point[a.number], point[b.number]
        return qa >= qb and pa <= pb and (qa > qb or pa < pb)

    ranked = []
    while left:
        front = [t for t in left if not any(beats(o, t) for o in left)]
        ranked += sorted(front, key=lambda t: -point[t.number][0])
        left = [t for t in left if t not in front]
    return ranked


def _measure_cost(
    trial: optuna.Trial,
    ctx: TrialContext,
    onnx_bytes: bytes,
    *,
    model: torch.nn.Module | None = None,
    n_params: int | None = None,
    train_seconds: float = 0.0,
) -> tuple[float, list[str]]:
    """Measure and record the model's cost; raise TrialPruned (status infeasible) if it breaks a
    limit, unless it is an untrained network close enough for compression to rescue.

    Returns its p95 latency and the cost limits it breaks (none, or those of a near miss).
    """
    req = ctx.requirements
    shipped, shape = as_shipped(onnx_bytes, ctx.prepared)
    # Latency depends on the architecture, not the weights: an identical graph is not timed twice.
    key = architecture_key(shipped)
    if key in ctx.latency_cache:
        measured_by, latency = ctx.latency_cache[key]
        latency = replace(latency, method={**latency.method, "reused_from_trial": measured_by})
    else:
        with ctx.cost_lock.measuring():
            latency = measure_latency(shipped, shape, ctx.protocol, limit_ms=req.max_latency_ms)
        ctx.latency_cache[key] = (trial.number, latency)
    size_mb = len(shipped) / 1e6
    trial.set_user_attr(
        rec.COST,
        cost_record(latency, shipped, model, ctx.prepared.input_shape, n_params=n_params),
    )
    # A hard latency limit is checked against the upper bound of p95, not its point estimate.
    violations = req.cost_violations(latency.p95_high_ms, size_mb)
    set_cost_constraints(trial, req, latency.p95_high_ms, size_mb)
    trial.set_user_attr(rec.TRAIN_SECONDS, train_seconds)
    # A near miss is trained all the same when compression may bring it within the limits.
    near_miss = model is not None and compression.worth_training(
        ctx.compression, req, latency.p95_high_ms, size_mb
    )
    if violations and not near_miss:
        trial.set_constraint("quality", 0.0)  # unknown: never evaluated
        trial.set_user_attr(rec.STATUS, "infeasible")
        trial.set_user_attr(rec.VIOLATIONS, violations)
        raise optuna.TrialPruned("; ".join(violations))
    return latency.p95_ms, violations


def _fold_strategy(trial: optuna.Trial) -> dict:
    """The candidate's strategy for its fold retraining: a network trains on each fold for
    no more epochs than it trained on the training split (which bounds what CV costs)."""
    strategy = dict(trial.user_attrs.get(rec.STRATEGY, {}))
    curve = trial.user_attrs.get(rec.CURVE)
    if curve:
        strategy["max_epochs"] = len(curve)
    return strategy


def architecture_key(onnx_bytes: bytes) -> str:
    """A hash of an ONNX graph without its weights' values: operators, attributes, shapes.

    Two models with the same key run the same kernels on the same shapes; for trees,
    whose thresholds are node attributes, the key covers the whole fitted model.
    """
    model = onnx.load_from_string(onnx_bytes)
    for tensor in model.graph.initializer:
        tensor.ClearField("raw_data")
        for name in ("float_data", "int32_data", "int64_data", "double_data"):
            tensor.ClearField(name)
    model.ClearField("producer_version")
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()


def _finish(
    trial: optuna.Trial,
    ctx: TrialContext,
    onnx_bytes: bytes,
    p95_ms: float,
    cost_violations: list[str],
    weights: bytes | None = None,
) -> tuple[float, np.ndarray]:
    """Evaluate the ONNX artifact on validation, record it, store it (and a network's weights).

    Returns the validation metric and the model's validation outputs.
    """
    req, prepared = ctx.requirements, ctx.prepared
    outputs = predict_outputs(onnx_bytes, prepared.X_val)
    val_metric = ctx.score(prepared.y_val, outputs)
    if prepared.task != "regression":
        trial.set_user_attr(rec.VAL_CONFUSION, confusion_matrix(prepared.y_val, outputs))
    if not np.isfinite(val_metric):
        raise FloatingPointError(f"validation {req.metric} is {val_metric}")
    if ctx.cv_ranking and prepared.folds and trial.params.get("family") != "ensemble":
        # Small validation split: rank on the fold mean; the split's own figure is kept.
        started = time.perf_counter()
        folds = fold_scores(
            prepared,
            trial.params["family"],
            trial.user_attrs.get(rec.FAMILY_PARAMS, {}),
            _fold_strategy(trial),
            seed=ctx.seed * 100_003 + trial.number,
            metric=req.metric,
        )
        trial.set_user_attr(rec.HOLDOUT_VAL_METRIC, val_metric)
        trial.set_user_attr(
            rec.CV,
            {
                "scores": list(folds.scores),
                "folds_per_repeat": folds.folds_per_repeat,
                "seconds": time.perf_counter() - started,  # retraining on the folds
            },
        )
        val_metric = folds.mean
    trial.set_user_attr(rec.VAL_METRIC, val_metric)
    quality_violation = req.quality_violation(val_metric)
    # Violations left: cost limits it was trained despite (for compression to close), quality.
    violations = cost_violations + ([quality_violation] if quality_violation else [])
    trial.set_user_attr(rec.VIOLATIONS, violations)
    trial.set_constraint("quality", quality_constraint(req, val_metric))
    trial.set_user_attr(rec.ARTIFACT, _store_artifact(trial, ctx.artifact_store, onnx_bytes))
    if weights is not None:
        # Tensors only, so that export can rebuild the in-memory model from family + params
        # and check the ONNX artifact against it (read back with weights_only=True).
        trial.set_user_attr(rec.WEIGHTS, _store_artifact(trial, ctx.artifact_store, weights, ".pt"))
    return val_metric, outputs


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

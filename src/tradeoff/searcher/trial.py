"""One trial's pipeline: suggest, build, measure cost, (maybe) train, evaluate, record.

Cost depends on the architecture, not the weights, so it is measured on the
untrained model; a candidate that breaks a hard constraint is recorded as
infeasible and never trained. Families trained outside PyTorch (``gbdt``) fit
first, in seconds, because their size is only known once fitted.

While a network trains, successive halving within cost bands
(:mod:`tradeoff.searcher.halving`) may stop it early; it is then recorded as
``pruned`` with its partial learning curve. Under ``--cv``, fold racing may stop retraining
any candidate on the folds (:class:`~tradeoff.searcher.halving.FoldRace`), likewise recorded.
"""

from __future__ import annotations

import io
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np
import optuna
import torch

from tradeoff.families import family_names, get_family
from tradeoff.inputs.table import as_shipped, cost_samples
from tradeoff.measure import (
    cost_record,
    predict_outputs,
)
from tradeoff.measure.quality import confusion_matrix
from tradeoff.measure.remote import TargetUnreachable
from tradeoff.measure.sites import architecture_key, measure_cost
from tradeoff.records import (
    Status,
    TrialRecord,
    Violation,
    fetch_artifact,
    store_artifact,
    trial_seed,
)
from tradeoff.records import attrs as rec
from tradeoff.records.attrs import WORKER
from tradeoff.requirements import COST_LIMITS
from tradeoff.retrain import FoldsOutOfTime, FoldsRaced, fold_scores
from tradeoff.rules import Objective, constraint_values, pareto_fronts
from tradeoff.searcher import compression
from tradeoff.searcher.context import TrialContext
from tradeoff.searcher.halving import FoldRace, RungReporter, nested_subsamples
from tradeoff.searcher.seeding import is_seeded, queue_larger, queue_smaller
from tradeoff.searcher.settings import worth_training
from tradeoff.searcher.workers import DiskFull, TargetDown, disk_full, worker_id
from tradeoff.train import NoTimeToValidate, Strategy, suggest_strategy, train


def set_constraints(trial: optuna.Trial, values: dict[str, float], *names: str) -> None:
    """Tell the sampler how far a candidate is from the limits ``names`` (<= 0: within it);
    Optuna takes each constraint once, so quality is set when known (or never will be)."""
    for name in names:
        trial.set_constraint(name, values[name])


def run_trial(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    """The objective: returns (validation metric, p95 latency in ms)."""
    try:
        values = _run(trial, ctx)
    except optuna.TrialPruned:
        _record_peak_rss(trial)
        raise
    except TargetUnreachable as error:
        raise TargetDown(str(error), trial.number) from error
    except Exception as error:
        if disk_full(error):  # nothing more is written: it would fail the same way
            raise DiskFull(trial.number) from error
        trial.set_user_attr(rec.ERROR, f"{type(error).__name__}: {error}"[:500])
        _record_peak_rss(trial)
        raise
    _record_peak_rss(trial)
    return values


def _record_peak_rss(trial: optuna.Trial) -> None:
    try:
        trial.set_user_attr(rec.PEAK_RSS_MB, peak_rss_mb())
    except Exception as error:
        if disk_full(error):
            raise DiskFull(trial.number) from error
        raise


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (``getrusage``: its high-water mark)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return round(peak / (1e6 if sys.platform == "darwin" else 1e3), 1)


def _run(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    trial.set_user_attr(WORKER, worker_id())
    family = get_family(trial.suggest_categorical("family", ctx.families))
    params = family.suggest(trial, ctx.prepared.input_shape)
    if family.class_weights and ctx.prepared.imbalanced:
        # Networks draw it in their strategy; a family declaring it takes it in its params.
        params["class_weight"] = trial.suggest_categorical("class_weight", ["none", "balanced"])
    trial.set_user_attr(rec.FAMILY_PARAMS, params)
    if family.stops_as is not None:
        trial.set_user_attr(rec.STOPPED_BY, family.stops_as)
    services = _Services(trial, ctx)
    # 1-4. The family builds, screens (cost before training), trains or fits or combines.
    candidate = family.produce(params, services)
    if candidate.train_seconds is not None:  # trained after it was screened, outside the loop
        trial.set_user_attr(rec.TRAIN_SECONDS, candidate.train_seconds)
    if candidate.rounds is not None:
        trial.set_user_attr(rec.BOOSTING_ROUNDS, candidate.rounds)
    if candidate.stopped_by is not None:  # e.g. a tree fit the deadline cut short
        trial.set_user_attr(rec.STOPPED_BY, candidate.stopped_by)
    model = candidate.model
    weights = None if model is None else _state_dict_bytes(model)
    val_metric, outputs = _finish(
        trial, ctx, candidate.onnx_model, services.p95_ms, services.violations, weights
    )
    # 5. Compress a trained network where it helps: each variant is a trial, with its lineage.
    # The passes judge variants by a paired test on accuracy, so classification only.
    if model is not None and ctx.prepared.task != "regression":
        compression.compress_trained(
            trial,
            ctx,
            family=family.name,
            params=params,
            strategy=asdict(services.strategy),
            model=model,
            onnx_bytes=candidate.onnx_model,
            val_pred=outputs.argmax(axis=1),
            val_metric=val_metric,
            p95_ms=services.p95_ms,
            misses_cost=bool(services.violations),
        )
    return val_metric, services.p95_ms


class _Services:
    """The search's side of :class:`tradeoff.families.TrialServices`: each step records what
    it learns in the trial, and stops the trial (``optuna.TrialPruned``) when it must."""

    def __init__(self, trial: optuna.Trial, ctx: TrialContext) -> None:
        self.trial, self.ctx = trial, ctx
        self.prepared = ctx.prepared
        self.seed = trial_seed(ctx.seed, trial.number)
        self.deadline = ctx.deadline
        self.strategy: Strategy | None = None
        self.p95_ms: float = float("nan")
        self.violations: list[Violation] = []

    def draw_strategy(self) -> None:
        self.strategy = replace(
            suggest_strategy(self.trial, self.prepared), max_epochs=self.ctx.max_epochs
        )
        self.trial.set_user_attr(rec.STRATEGY, asdict(self.strategy))

    def screen(
        self,
        onnx_model: bytes,
        *,
        model: torch.nn.Module | None = None,
        n_params: int | None = None,
        train_seconds: float = 0.0,
    ) -> None:
        self.p95_ms, self.violations = _measure_cost(
            self.trial,
            self.ctx,
            onnx_model,
            model=model,
            n_params=n_params,
            train_seconds=train_seconds,
        )

    def train(self, model: torch.nn.Module) -> None:
        """Train with early stopping (and halving) under the machine's cost lock."""
        trial, ctx, strategy = self.trial, self.ctx, self.strategy
        halving = None
        if ctx.halving is not None:
            halving = RungReporter(
                ctx.halving,
                trial,
                ctx.halving.band(self.p95_ms),
                strategy.max_epochs,
                ctx.requirements.higher_is_better,
            )
        with ctx.cost_lock.training() as let_measurements_in:

            def report_epoch(epoch, point):
                let_measurements_in()  # another worker's latency measurement goes between epochs
                if ctx.on_epoch is not None:
                    ctx.on_epoch(trial.number, epoch, point)
                return halving is not None and halving(epoch, point)

            try:
                result = train(
                    model,
                    self.prepared,
                    strategy,
                    score=ctx.score,
                    higher_is_better=ctx.requirements.higher_is_better,
                    seed=self.seed,
                    deadline=ctx.deadline,
                    on_epoch=report_epoch,
                    rows_for_epoch=self._rows_for_epoch(),
                )
            except NoTimeToValidate as stopped:  # not validated, so not ranked
                trial.set_user_attr(rec.TRAIN_SECONDS, stopped.seconds)
                trial.set_user_attr(rec.STOPPED_BY, str(stopped))
                trial.set_user_attr(rec.STATUS, Status.PRUNED.value)
                trial.set_user_attr(rec.VIOLATIONS, [v.to_dict() for v in self.violations])
                raise optuna.TrialPruned(str(stopped)) from None
        trial.set_user_attr(rec.TRAIN_SECONDS, result.seconds)
        trial.set_user_attr(rec.CURVE, result.curve)
        trial.set_user_attr(rec.STOPPED_BY, result.stopped_by)
        if result.stopped_by == "pruned":
            # Halving keeps the best so far signed (higher is better): the metric's own value.
            best = Objective.of(ctx.requirements).key(halving.best)
            trial.set_user_attr(rec.VAL_METRIC, best)  # best so far, torch model
            trial.set_user_attr(rec.STATUS, Status.PRUNED.value)
            trial.set_user_attr(rec.VIOLATIONS, [v.to_dict() for v in self.violations])
            raise optuna.TrialPruned(f"halving: below its cost band at epoch {halving.pruned_at}")

    def _rows_for_epoch(self) -> Callable[[int], np.ndarray | None] | None:
        """The training rows of each epoch under halving's data-size rungs; None: all rows at
        every epoch (no halving, or a seeded trial: queued before the sampler's draws, it has
        no peers for halving to stop it with, and a subsample would only weaken it)."""
        halving, max_epochs = self.ctx.halving, self.strategy.max_epochs
        if halving is None or is_seeded(self.trial):
            return None
        subsets = nested_subsamples(
            self.prepared.y_train,
            halving.data_fractions,
            self.seed,
            stratified=self.prepared.task != "regression",
        )

        def rows_for_epoch(epoch: int) -> np.ndarray | None:
            fraction = halving.fraction_at(epoch, max_epochs)
            return None if fraction >= 1.0 else subsets[fraction]

        return rows_for_epoch

    def members(self, n: int) -> list[bytes]:
        """The best ``n`` candidates so far by Pareto rank; fewer than 2: the trial is skipped."""
        trial, ctx = self.trial, self.ctx
        ranked = front_members(trial.study, ctx.requirements.higher_is_better)
        combining = get_family(trial.params["family"])
        trial.set_user_attr(rec.FRONT_AT_DRAW, [m.number for m in ranked[: combining.max_members]])
        members = ranked[:n]
        if len(members) < 2:
            trial.set_user_attr(rec.STATUS, Status.SKIPPED.value)
            trial.set_user_attr(rec.VIOLATIONS, [])
            raise optuna.TrialPruned("too few trained candidates so far to combine")
        params = trial.user_attrs[rec.FAMILY_PARAMS]
        trial.set_user_attr(rec.FAMILY_PARAMS, {**params, "of_trials": [m.number for m in members]})
        return [fetch_artifact(ctx.artifact_store, m.user_attrs[rec.ARTIFACT]) for m in members]


def front_members(study: optuna.Study, higher_is_better: bool) -> list[optuna.trial.FrozenTrial]:
    """Trained candidates within every requirement, by Pareto rank on (validation quality,
    p95 latency): the front first, best quality first within it, then the next front once
    the first is used up, and so on (families combining others excluded)."""
    objective = Objective(higher_is_better)
    combining = {n for n in family_names() if get_family(n).combines_trials}
    left = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.params.get("family") not in combining
        and not t.user_attrs.get(rec.VIOLATIONS)
        and t.user_attrs.get(rec.ARTIFACT)
    ]
    fronts = pareto_fronts(left, lambda t: (objective.key(t.values[0]), t.values[1]))
    return [t for front in fronts for t in sorted(front, key=lambda t: -objective.key(t.values[0]))]


def _measure_cost(
    trial: optuna.Trial,
    ctx: TrialContext,
    onnx_bytes: bytes,
    *,
    model: torch.nn.Module | None = None,
    n_params: int | None = None,
    train_seconds: float = 0.0,
) -> tuple[float, list[Violation]]:
    """Measure and record the model's cost; raise TrialPruned (status infeasible) if it breaks a
    limit, unless it is an untrained network close enough for compression to rescue.

    Returns its p95 latency and the cost limits it breaks (none, or those of a near miss).
    """
    req = ctx.requirements
    shipped, shape = as_shipped(onnx_bytes, ctx.prepared)
    # A text's cost depends on its length: a model taking text is timed on training rows.
    samples = cost_samples(ctx.prepared)
    # Cost depends on the architecture, not the weights: an identical graph is not timed twice.
    key = architecture_key(shipped)
    if key in ctx.latency_cache:
        measured_by, measured = ctx.latency_cache[key]
        method = {**measured.latency.method, "reused_from_trial": measured_by}
        measured = replace(measured, latency=replace(measured.latency, method=method))
    else:
        with ctx.cost_lock.measuring():
            measured = measure_cost(
                shipped,
                shape,
                ctx.protocol,
                req,
                ctx.targets,
                samples=samples,
                limit_ms=req.max_latency_ms,
            )
        ctx.latency_cache[key] = (trial.number, measured)
    latency = measured.latency
    trial.set_user_attr(
        rec.COST,
        measured.record(
            cost_record(latency, shipped, model, ctx.prepared.input_shape, n_params=n_params)
        ),
    )
    # A hard latency limit is checked against the upper bound of p95, not its point estimate;
    # memory and throughput (when limited), and every target, before any training.
    violations = measured.violations(req)
    if violations:  # a seeded architecture too costly here: its smaller version is tried next
        queue_smaller(trial, trial.user_attrs[rec.FAMILY_PARAMS])
    elif req.max_latency_ms is not None:  # it fits: its larger version may too (screened first)
        queue_larger(trial, trial.user_attrs[rec.FAMILY_PARAMS])
    # Every cost axis, memory and throughput included where they were measured (when limited).
    figures = measured.figures
    limits = constraint_values(req, figures, None)
    set_constraints(trial, limits, *COST_LIMITS)
    trial.set_user_attr(rec.TRAIN_SECONDS, train_seconds)
    # A near miss is trained all the same when compression may bring it within the limits.
    near_miss = model is not None and worth_training(ctx.compression, req, figures)
    if violations and not near_miss:
        set_constraints(trial, limits, "quality")  # unknown: never evaluated
        trial.set_user_attr(rec.STATUS, Status.INFEASIBLE.value)
        trial.set_user_attr(rec.VIOLATIONS, [v.to_dict() for v in violations])
        raise optuna.TrialPruned("; ".join(map(str, violations)))
    return latency.p95_ms, violations


def _finish(
    trial: optuna.Trial,
    ctx: TrialContext,
    onnx_bytes: bytes,
    p95_ms: float,
    cost_violations: list[Violation],
    weights: bytes | None = None,
) -> tuple[float, np.ndarray]:
    """Evaluate the ONNX artifact on validation, record it, store it (and a network's weights).

    Returns the validation metric and the model's validation outputs.
    """
    req, prepared = ctx.requirements, ctx.prepared
    outputs = predict_outputs(onnx_bytes, prepared.X_val)
    val_metric = ctx.score(prepared.y_val, outputs)
    trial.set_user_attr(rec.VAL_REPLICATES, ctx.val_replicates(outputs))
    if prepared.task != "regression":
        trial.set_user_attr(rec.VAL_CONFUSION, confusion_matrix(prepared.y_val, outputs))
    if not np.isfinite(val_metric):
        raise FloatingPointError(f"validation {req.metric} is {val_metric}")
    family = get_family(trial.params["family"])
    if ctx.cv_ranking and prepared.folds and not family.combines_trials:
        # Small validation split: rank on the fold mean; the split's own figure is kept.
        started = time.perf_counter()
        trial.set_user_attr(rec.HOLDOUT_VAL_METRIC, val_metric)
        race = _fold_race(trial, ctx, p95_ms)
        try:
            folds = fold_scores(
                prepared,
                family.name,
                trial.user_attrs.get(rec.FAMILY_PARAMS, {}),
                trial.user_attrs.get(rec.STRATEGY, {}),
                seed=trial_seed(ctx.seed, trial.number),
                metric=req.metric,
                curve=trial.user_attrs.get(rec.CURVE),
                rounds=trial.user_attrs.get(rec.BOOSTING_ROUNDS),
                deadline=ctx.deadline,
                race=race,
            )
        except FoldsOutOfTime as stopped:
            if _any_ranked_on_folds(trial):  # not ranked: pruned, its hold-out figure kept
                trial.set_user_attr(rec.STOPPED_BY, str(stopped))
                raise optuna.TrialPruned(str(stopped)) from None
            # Nothing ranked on folds yet: a budget shorter than one trial's folds must not
            # end the search empty-handed. Ranked on its validation figure (not refitted).
            trial.set_user_attr(rec.STOPPED_BY, f"{stopped}; {RANKED_ON_VALIDATION}")
            folds = None
        except FoldsRaced as raced:  # not ranked: its partial folds and their time are kept
            seconds = time.perf_counter() - started
            _record_folds(
                trial, raced.scores, raced.folds_per_repeat, seconds, raced_against=race.peer[0]
            )
            trial.set_user_attr(rec.STOPPED_BY, str(raced))
            trial.set_user_attr(rec.STATUS, Status.PRUNED.value)
            raise optuna.TrialPruned(str(raced)) from None
        if folds is not None:
            seconds = time.perf_counter() - started
            _record_folds(trial, folds.scores, folds.folds_per_repeat, seconds)
            val_metric = folds.mean
    trial.set_user_attr(rec.VAL_METRIC, val_metric)
    quality_violation = req.quality_violation(val_metric)
    # Violations left: cost limits it was trained despite (for compression to close), quality.
    violations = cost_violations + ([quality_violation] if quality_violation else [])
    trial.set_user_attr(rec.VIOLATIONS, [v.to_dict() for v in violations])
    set_constraints(trial, constraint_values(req, {}, val_metric), "quality")
    store = ctx.artifact_store
    name = f"trial-{trial.number}"
    trial.set_user_attr(rec.ARTIFACT, store_artifact(trial, store, onnx_bytes, name + ".onnx"))
    if weights is not None:
        # Tensors only, so that export can rebuild the in-memory model from family + params
        # and check the ONNX artifact against it (read back with weights_only=True).
        trial.set_user_attr(rec.WEIGHTS, store_artifact(trial, store, weights, name + ".pt"))
    return val_metric, outputs


#: How a trial whose folds the deadline cut, before any trial was ranked on folds, is ranked.
RANKED_ON_VALIDATION = "ranked on the validation split instead (no trial had finished its folds)"


def _any_ranked_on_folds(trial: optuna.Trial) -> bool:
    """Whether another trial of the study is ranked on its fold mean."""
    done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return any(TrialRecord.from_trial(t).cross_validation is not None for t in done)


def _fold_race(trial: optuna.Trial, ctx: TrialContext, p95_ms: float) -> FoldRace | None:
    """The race that may stop ``trial``'s folds early (halving on), or None."""
    if ctx.halving is None or ctx.halving.race_confidence is None:
        return None
    folds = ctx.prepared.folds
    # One held-out row: the smallest difference a fold's accuracy (or F1, ...) can show.
    resolution = 0.0 if ctx.prepared.task == "regression" else 1 / min(len(f.y_val) for f in folds)
    return FoldRace(
        ctx.halving, trial, p95_ms, len(folds), ctx.requirements.higher_is_better, resolution
    )


def _record_folds(
    trial: optuna.Trial,
    scores: tuple[float, ...],
    folds_per_repeat: int,
    seconds: float,
    **raced_against: int,
) -> None:
    folds = {"scores": list(scores), "folds_per_repeat": folds_per_repeat, "seconds": seconds}
    trial.set_user_attr(rec.CV, {**folds, **raced_against})  # seconds: retraining on the folds


def _state_dict_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()

"""The contenders of ``benchmarks/run.py``: tradeoff as shipped, and the searches a user would
write instead with plain Optuna (NSGA-II, random).

The naive searches reuse tradeoff's own families, strategies, training loop, ONNX export,
latency measurement and quality scoring, and record every trial with the same user
attributes (so that :class:`tradeoff.searcher.TrialRecord` reads them), so that the only
difference is the search policy: every candidate is trained first and its cost measured
after; the requirements reach the sampler only through NSGA-II's ``constraints_func``
(random search ignores them, and is filtered afterwards). No cost screening before
training, no halving, no per-family default trials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact

from tradeoff.datasets import Dataset
from tradeoff.families import count_parameters, get_family
from tradeoff.measure import Estimate, LatencyProtocol, bootstrap, measure_latency, predict_outputs
from tradeoff.prepare import Prepared
from tradeoff.records import Status, artifact_store, trial_seed
from tradeoff.records import attrs as rec
from tradeoff.requirements import COST_LIMITS, Requirements
from tradeoff.rules import Objective, constraint_values
from tradeoff.searcher import SearchSettings, records, run_search
from tradeoff.searcher.context import TrialContext
from tradeoff.searcher.trial import front_members
from tradeoff.selection import hypervolume, meets, select
from tradeoff.train import suggest_strategy, train

#: Trial attribute holding the constraint values (each cost axis, then quality), <= 0 when met.
CONSTRAINTS = "bench_constraints"
#: What a trial without constraints (a failed one) counts as: within every limit and the floor.
_WITHIN = (0.0,) * (len(COST_LIMITS) + 1)


@dataclass(frozen=True)
class Outcome:
    """One contender's figures on one data set."""

    contender: str
    trials: int  # finished trials (trained, screened out, pruned, skipped, failed)
    trained: int
    feasible: int  # trained and within every requirement
    wall_s: float
    train_s: float  # training (and fitting) seconds over all trials
    wasted_train_s: float  # ... on candidates that break a hard cost limit
    hypervolume: float  # of the feasible front, as a fraction of the reference box
    pick_family: str | None
    pick_val: float | None
    pick_p95_ms: float | None
    test: Estimate | None  # the pick's test quality with its 95 % bootstrap interval
    per_family_test: dict  # family -> (val, Estimate) of its best-validation trained trial


@dataclass(frozen=True)
class AutoGluonOutcome:
    """AutoGluon tabular's pick under its own latency limit (``infer_limit``, s per row)."""

    best_model: str
    models: int  # models in its leaderboard
    fit_s: float
    val: float  # its validation score of the pick (accuracy on our validation split)
    test: Estimate
    p95_ms_batch1: float  # its Python predict_proba at batch 1, not ONNX Runtime
    size_mb: float  # its model folder on disk


def run_autogluon(
    python: str, prepared: Prepared, req: Requirements, budget_s: float, out: Path
) -> AutoGluonOutcome:
    """Run ``ag_contender.py`` with the Python of AutoGluon's own environment, on our splits."""
    req = req.for_task(prepared.task)
    splits = out / "splits.npz"
    np.savez(
        splits,
        X_train=prepared.X_train,
        y_train=prepared.y_train,
        X_val=prepared.X_val,
        y_val=prepared.y_val,
        X_test=prepared.X_test,
    )
    script = Path(__file__).with_name("ag_contender.py")
    limit_s = str(req.max_latency_ms / 1000 if req.max_latency_ms else 1.0)
    subprocess.run(
        [python, str(script), str(splits), str(out), str(budget_s), limit_s],
        check=True,
        capture_output=True,
        timeout=3 * budget_s + 300,
    )
    result = json.loads((out / "result.json").read_text())
    probabilities = np.load(out / "test_probabilities.npy", allow_pickle=False)
    return AutoGluonOutcome(
        best_model=result["best_model"],
        models=result["models"],
        fit_s=result["fit_s"],
        val=result["val_score"],
        test=bootstrap(req.metric, prepared.y_test, probabilities, split="test"),
        p95_ms_batch1=result["p95_ms_batch1"],
        size_mb=result["size_mb"],
    )


def run_tradeoff(
    data: Dataset,
    prepared: Prepared,
    req: Requirements,
    budget_s: float,
    seed: int,
    out: Path,
    *,
    families: tuple[str, ...] | None = None,
    n_trials: int | None = None,
    max_epochs: int = 60,
) -> tuple[optuna.study.Study, FileSystemArtifactStore]:
    """tradeoff as shipped: cost screening, halving, TPE, per-family defaults first."""
    settings = SearchSettings(
        time_budget_s=budget_s,
        seed=seed,
        families=families,
        n_trials=n_trials,
        max_epochs=max_epochs,
    )
    study, _ = run_search(data, req, out, settings, show_progress=False, prepared=prepared)
    return study, artifact_store(out / "artifacts")


def run_naive(
    sampler_name: str,
    prepared: Prepared,
    req: Requirements,
    families: list[str],
    budget_s: float,
    seed: int,
    out: Path,
    protocol: LatencyProtocol | None = None,
    max_epochs: int = 60,
) -> tuple[optuna.study.Study, FileSystemArtifactStore]:
    """Plain Optuna over the same space: every trial trained, cost checked afterwards."""
    req = req.for_task(prepared.task)
    if sampler_name == "nsga2":
        # constraints_func is deprecated in Optuna 5 (for Trial.set_constraint) but is the
        # interface most NSGA-II code in the wild uses; both reach the same constrained
        # domination.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sampler = optuna.samplers.NSGAIISampler(
                seed=seed,
                constraints_func=lambda t: t.user_attrs.get(CONSTRAINTS, _WITHIN),
            )
    elif sampler_name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        raise ValueError(f"unknown sampler {sampler_name!r}")
    study = optuna.create_study(
        directions=["maximize" if req.higher_is_better else "minimize", "minimize"],
        sampler=sampler,
    )
    store = artifact_store(out / "artifacts")
    ctx = TrialContext(
        prepared=prepared,
        requirements=req,
        families=families,
        artifact_store=store,
        protocol=protocol or LatencyProtocol(),
        seed=seed,
        max_epochs=max_epochs,
        deadline=time.monotonic() + budget_s,
        halving=None,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # as run_search does for 1 worker
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study.optimize(lambda trial: naive_trial(trial, ctx), timeout=budget_s, catch=(Exception,))
    finally:
        torch.set_num_threads(threads)
    return study, store


class _NaiveServices:
    """A family's search services with no screening: everything drawn is trained (or fitted,
    or combined), and its cost is measured afterwards."""

    def __init__(self, trial: optuna.Trial, ctx: TrialContext) -> None:
        self.trial, self.ctx, self.prepared = trial, ctx, ctx.prepared
        self.seed = trial_seed(ctx.seed, trial.number)
        self.strategy = None
        self.n_params: int | None = None
        self.train_seconds = 0.0

    def draw_strategy(self) -> None:
        self.strategy = replace(
            suggest_strategy(self.trial, self.prepared), max_epochs=self.ctx.max_epochs
        )
        self.trial.set_user_attr(rec.STRATEGY, asdict(self.strategy))

    def screen(self, onnx_model, *, model=None, n_params=None, train_seconds=0.0) -> None:
        self.n_params, self.train_seconds = n_params, train_seconds  # no screening: noted only

    def train(self, model: torch.nn.Module) -> None:
        ctx = self.ctx
        result = train(
            model,
            self.prepared,
            self.strategy,
            score=ctx.score,
            higher_is_better=ctx.requirements.higher_is_better,
            seed=self.seed,
            deadline=ctx.deadline,
        )
        self.train_seconds = result.seconds
        self.trial.set_user_attr(rec.CURVE, result.curve)
        self.trial.set_user_attr(rec.STOPPED_BY, result.stopped_by)

    def members(self, n: int) -> list[bytes]:
        study, hib = self.trial.study, self.ctx.requirements.higher_is_better
        members = front_members(study, hib)[:n]
        if len(members) < 2:
            self.trial.set_user_attr(rec.STATUS, Status.SKIPPED.value)
            raise optuna.TrialPruned("ensemble: fewer than 2 trained candidates so far")
        return [_download(self.ctx, m) for m in members]


def naive_trial(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, float]:
    """Suggest, train (or fit, or combine), then export, measure and score: no screening."""
    prepared, req = ctx.prepared, ctx.requirements
    family = get_family(trial.suggest_categorical("family", ctx.families))
    params = family.suggest(trial, prepared.input_shape)
    trial.set_user_attr(rec.FAMILY_PARAMS, params)
    if family.stops_as is not None:
        trial.set_user_attr(rec.STOPPED_BY, family.stops_as)
    services = _NaiveServices(trial, ctx)
    candidate = family.produce(params, services)
    onnx_bytes = candidate.onnx_model
    seconds = (
        candidate.train_seconds if candidate.train_seconds is not None else services.train_seconds
    )
    n_params = (
        count_parameters(candidate.model) if candidate.model is not None else services.n_params
    )

    latency = measure_latency(onnx_bytes, prepared.input_shape, ctx.protocol)
    size_mb = len(onnx_bytes) / 1e6
    trial.set_user_attr(
        rec.COST,
        {
            "p50_ms": latency.p50_ms,
            "p95_ms": latency.p95_ms,
            "p99_ms": latency.p99_ms,
            "size_mb": size_mb,
            "n_params": n_params,
            "method": latency.method,
        },
    )
    trial.set_user_attr(rec.TRAIN_SECONDS, seconds)
    val_metric = ctx.score(prepared.y_val, predict_outputs(onnx_bytes, prepared.X_val))
    if not np.isfinite(val_metric):
        raise FloatingPointError(f"validation {req.metric} is {val_metric}")
    trial.set_user_attr(rec.VAL_METRIC, val_metric)
    violations = req.violations(latency.p95_ms, size_mb, val_metric)
    trial.set_user_attr(rec.VIOLATIONS, [v.to_dict() for v in violations])
    trial.set_user_attr(
        CONSTRAINTS,
        tuple(
            constraint_values(
                req, {"latency": latency.p95_ms, "size": size_mb}, val_metric
            ).values()
        ),
    )
    trial.set_user_attr(rec.ARTIFACT, _upload(trial, ctx.artifact_store, onnx_bytes))
    return val_metric, latency.p95_ms


def outcome(
    contender: str,
    study: optuna.study.Study,
    store: FileSystemArtifactStore,
    prepared: Prepared,
    req: Requirements,
    wall_s: float,
    q_ref: float,
) -> Outcome:
    """Score a finished search: pick by validation under ``req``, test it once, measure its front.

    The hypervolume is over (validation quality, p95 latency) of the candidates meeting every
    requirement, with the reference point (``q_ref``, ``req.max_latency_ms``), as a fraction of
    that box (quality up to 1).
    """
    req = req.for_task(prepared.task)
    trials = records(study)
    feasible = [r for r in trials if meets(r, req)]
    quality = Objective.of(req).key
    points = [(quality(r.val_metric), r.p95_ms) for r in feasible]
    box = (1.0 - q_ref) * req.max_latency_ms
    pick = select(trials, req)
    per_family = {}
    for family in sorted({r.family for r in feasible if r.family}):
        best = select([r for r in feasible if r.family == family], req)
        per_family[family] = (best.val_metric, _test(store, best, prepared, req))
    return Outcome(
        contender=contender,
        trials=sum(r.status not in ("running", "queued") for r in trials),
        trained=sum(r.trained for r in trials),
        feasible=len(feasible),
        wall_s=wall_s,
        train_s=sum(r.train_seconds for r in trials),
        wasted_train_s=sum(
            r.train_seconds
            for r in trials
            if r.p95_ms is not None and req.cost_violations(r.p95_ms, r.size_mb)
        ),
        hypervolume=hypervolume(points, (q_ref, req.max_latency_ms)) / box,
        pick_family=pick.family if pick else None,
        pick_val=pick.val_metric if pick else None,
        pick_p95_ms=pick.p95_ms if pick else None,
        test=_test(store, pick, prepared, req) if pick else None,
        per_family_test=per_family,
    )


def _test(store, record, prepared: Prepared, req: Requirements) -> Estimate:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        download_artifact(artifact_store=store, file_path=path, artifact_id=record.artifact_id)
        outputs = predict_outputs(path, prepared.X_test)
    return bootstrap(req.metric, prepared.y_test, outputs, split="test")


def _download(ctx: TrialContext, member: optuna.trial.FrozenTrial) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "member.onnx")
        download_artifact(
            artifact_store=ctx.artifact_store,
            file_path=path,
            artifact_id=member.user_attrs[rec.ARTIFACT],
        )
        return Path(path).read_bytes()


def _upload(trial: optuna.Trial, store: FileSystemArtifactStore, payload: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"trial-{trial.number}.onnx")
        Path(path).write_bytes(payload)
        return upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)


def fresh(folder: Path) -> Path:
    """An empty folder (a previous benchmark's is replaced)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder

"""Running trials for a study: the sampler, the threads, the budget; a worker joining a study.

Used by a search in its own process and by every worker that joins it (on this machine, on
others through PostgreSQL, or as Ray tasks).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from functools import partial

import optuna
import torch
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.prepare import Prepared, prepare_from_description
from tradeoff.records import RunSettings, artifact_store, make_storage, redact_password
from tradeoff.records.attrs import PEAK_RSS_MB
from tradeoff.requirements import Requirements
from tradeoff.searcher.context import TrialContext
from tradeoff.searcher.gates import FamilyGate, StopWhenNothingFits, combination_is_new
from tradeoff.searcher.progress import SearchProgress
from tradeoff.searcher.settings import SearchSettings, check_budget, recorded_settings
from tradeoff.searcher.trial import peak_rss_mb, run_trial
from tradeoff.searcher.workers import CostLock, DiskFull, TargetDown, disk_full, disk_full_error


def run_worker(
    storage: str,
    study_name: str,
    *,
    time_budget_s: float | None,
    n_trials: int | None = None,
    stop_at: int | None = None,
    artifacts: str | None = None,
    workers_on_host: int = 1,
    show_progress: bool = False,
) -> optuna.Study:
    """Join an existing study (on any machine that reaches its storage) and run trials for it.

    Stops at the time budget, after ``n_trials`` more finished trials, or once the study
    holds ``stop_at`` finished trials (the count a launcher shares out among its workers).
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    except KeyError:
        raise TradeoffError(
            f"--study: no study named {study_name!r} in {redact_password(storage)}"
        ) from None
    if "dataset" not in study.user_attrs:
        raise TradeoffError(f"--study: {study_name!r} was not created by tradeoff")
    run = RunSettings.from_dict(study.user_attrs)
    prepared = prepare_from_description(run.prepare, run.seed)
    if prepared.fingerprint() != run.prepare["fingerprint"]:
        raise TradeoffError(f"--study: the data here differs from the data {study_name!r} uses")
    settings = recorded_settings(
        run, time_budget_s=time_budget_s, n_trials=n_trials or stop_at, workers=workers_on_host
    )
    check_budget(settings)
    if artifacts:
        run = replace(run, artifacts=artifacts)
    requirements = Requirements(**run.requirements)
    if stop_at is None and n_trials:
        stop_at = finished_count(study) + n_trials
    optimize(
        study,
        prepared,
        requirements,
        run,
        settings,
        show_progress,
        stop_at=stop_at,
        salt=os.getpid(),
    )
    return study


def optimize(
    study: optuna.Study,
    prepared: Prepared,
    requirements: Requirements,
    run: RunSettings,
    settings: SearchSettings,
    show_progress: bool,
    *,
    stop_at: int | None,
    salt: int = 0,
) -> None:
    """Run trials until the budget ends or the study holds ``stop_at`` finished trials."""
    # Seeded by the trials already there, so a resumed search does not replay its start; helper
    # workers add a salt of their own so that parallel workers do not draw the same candidates.
    sampler_seed = settings.seed + len(study.get_trials(deepcopy=False)) + salt
    study.sampler = FamilyGate(
        optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=10),
        partial(combination_is_new, higher_is_better=requirements.higher_is_better),
        sampler_seed,
    )
    # One training thread per worker: these small models train as fast on one thread, and
    # a second would fight the other workers (and the latency measurements) for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(
        settings.train_threads or max(1, (os.cpu_count() or 1) // (2 * settings.workers))
    )
    on_their_own = [f for f in run.families if not get_family(f).combines_trials]
    callbacks = [StopWhenNothingFits(requirements, on_their_own)]
    if stop_at is not None:
        if finished_count(study) >= stop_at:
            return  # other workers already ran this invocation's trials
        callbacks.append(MaxTrialsCallback(stop_at, states=_FINISHED))
    start = time.monotonic()
    progress = SearchProgress(
        budget_s=settings.time_budget_s,
        n_trials=settings.n_trials,
        enabled=show_progress,
        higher_is_better=requirements.higher_is_better,
    )
    ctx = TrialContext(
        prepared=prepared,
        requirements=requirements,
        families=list(run.families),
        artifact_store=artifact_store(run.artifacts),
        protocol=settings.protocol,
        seed=settings.seed,
        max_epochs=settings.max_epochs,
        deadline=start + settings.time_budget_s if settings.time_budget_s else float("inf"),
        on_epoch=progress.on_epoch,
        cost_lock=CostLock(),
        halving=settings.halving,
        compression=settings.compression,
        targets=settings.targets,
        cv_ranking=bool(prepared.folds),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with progress:
            study.optimize(
                lambda trial: run_trial(trial, ctx),
                n_trials=None,
                timeout=settings.time_budget_s,
                callbacks=[*callbacks, progress],
                catch=(Exception,),
            )
    except TargetDown as error:
        raise TradeoffError(
            f"{error} during trial {error.trial}; once it answers again, continue with --resume"
        ) from None
    except (DiskFull, Exception) as error:
        # In a trial (DiskFull), or in Optuna's ask or tell around it: a failed tell of a
        # finished trial surfaces as an AssertionError raised while handling the storage's error.
        if not (full := disk_full(error)):
            raise
        trial = f"trial {error.trial}" if isinstance(error, DiskFull) else "a trial"
        doing = "writing the model of " if isinstance(full, OSError) else "recording "
        raise disk_full_error(full, run.storage, doing + trial) from None
    finally:
        torch.set_num_threads(threads)
        # The search process's memory high-water mark, kept with the study (each trial has its own).
        try:
            peak = max(peak_rss_mb(), study.user_attrs.get(PEAK_RSS_MB, 0.0))
            study.set_user_attr(PEAK_RSS_MB, peak)
        except Exception as error:  # a full disk: its error is the one to report, not this one
            if not disk_full(error):
                raise


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=_FINISHED))

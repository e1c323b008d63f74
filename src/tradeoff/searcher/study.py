"""A search from start to end: validate, create (or resume) the run folder and its study, run.

The embedded default is a SQLite file in the run folder. With ``storage`` set to a
PostgreSQL URL, workers on other machines join the same study (``run_worker``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from secrets import token_hex

import optuna

from tradeoff.datasets import Dataset
from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.measure.remote import TOKEN_ENV
from tradeoff.prepare import Prepared, prepare
from tradeoff.records import (
    ARTIFACT_DIR,
    RUN_FILE,
    STUDY_NAME,
    RunSettings,
    artifact_location,
    check_writable,
    load_run_info,
    make_storage,
    redact_password,
    run_storage_url,
    storage_url,
    write_run_info,
)
from tradeoff.requirements import Requirements
from tradeoff.searcher.distributed import run_on_ray
from tradeoff.searcher.optimize import finished_count, optimize, run_worker
from tradeoff.searcher.progress import SearchProgress
from tradeoff.searcher.seeding import queue_default_trials, queue_given_trials
from tradeoff.searcher.settings import SearchSettings, check_budget, recorded_settings
from tradeoff.searcher.workers import disk_full, disk_full_error, reclaim_orphans

# Kept importable from here (their home before searcher/settings.py and searcher/optimize.py).
__all__ = ["SearchSettings", "recorded_settings", "run_search", "run_worker"]

_DEFAULT_SETTINGS = SearchSettings()


def run_search(
    data: Dataset,
    requirements: Requirements,
    out: str | os.PathLike,
    settings: SearchSettings = _DEFAULT_SETTINGS,
    *,
    resume: bool = False,
    show_progress: bool = True,
    prepared: Prepared | None = None,
) -> tuple[optuna.Study, Prepared]:
    """Run (or continue) the study of run folder ``out``; returns it with the prepared splits.

    Everything is validated before the run folder is created, so bad input
    leaves nothing behind.
    """
    out = Path(out)
    requirements = requirements.for_task(data.task)
    families = settings.resolve_families(data.modality)
    _check_settings(settings, out, resume)
    prepared = prepared or prepare(data, seed=settings.seed)
    if prepared.folds:
        # Ranked on fold means (searcher/cv.py, tradeoff.retrain): combining families and compressed variants are
        # judged on the validation split alone, so they would be ranked on another scale.
        families = [f for f in families if not get_family(f).combines_trials]
        settings = replace(settings, compression=None)
    previous = load_run_info(out) if resume else {}
    url = settings.storage or (run_storage_url(out, previous) if resume else storage_url(out))
    run = _describe_run(data, requirements, families, settings, prepared, out, url)
    if resume:
        _check_same_run(out, previous, run)
        run = replace(run, study=previous["study"], artifacts=str(artifact_location(out, previous)))
    study = _open_run(out, run, url, settings, prepared, resume)
    stop_at = finished_count(study) + settings.n_trials if settings.n_trials else None
    if settings.ray_address:
        _run_on_ray(study, run, url, settings, requirements, stop_at, show_progress)
        return study, prepared
    helpers = _start_helpers(url, run.study, settings, stop_at, run.artifacts)
    try:
        optimize(study, prepared, requirements, run, settings, show_progress, stop_at=stop_at)
    finally:
        for helper in helpers:
            helper.wait()
    return study, prepared


def _check_settings(settings: SearchSettings, out: Path, resume: bool) -> None:
    """Fail on bad settings or a wrong run folder before anything is written."""
    check_budget(settings)
    if settings.max_epochs < 1:
        raise TradeoffError(f"--max-epochs: must be >= 1, got {settings.max_epochs}")
    if settings.workers < 1:
        raise TradeoffError(f"--workers: must be >= 1, got {settings.workers}")
    if settings.compression:
        settings.compression.resolve_passes()  # raises naming --passes
    has_run = (out / RUN_FILE).exists()
    if resume and not has_run:
        raise TradeoffError(f"--resume: {out} holds no run to resume")
    if not resume and has_run:
        raise TradeoffError(f"--out: {out} already holds a run; pass --resume to continue it")
    if out.exists() and not out.is_dir():
        raise TradeoffError(f"--out: {out} exists and is not a folder")


def _describe_run(
    data: Dataset,
    requirements: Requirements,
    families: list[str],
    settings: SearchSettings,
    prepared: Prepared,
    out: Path,
    url: str,
) -> RunSettings:
    compression = settings.compression
    return RunSettings(
        dataset=data.name,
        requirements=requirements.to_dict(),
        families=tuple(families),
        seed=settings.seed,
        prepare=prepared.describe(),
        latency_protocol=asdict(settings.protocol),
        max_epochs=settings.max_epochs,
        cv_ranking=bool(prepared.folds),
        halving=asdict(settings.halving) if settings.halving else None,
        compression=None
        if compression is None
        else {
            "passes": compression.resolve_passes(),
            "max_quality_drop": str(compression.tolerance),
            "tolerance": asdict(compression.tolerance),
        },
        requirements_origin=settings.requirements_origin,
        prefer=settings.prefer,
        objectives=(f"maximize validation {requirements.metric}", "minimize p95 latency (ms)"),
        storage=redact_password(url),
        # A shared storage holds many studies: name this one after its run folder, uniquely.
        study=STUDY_NAME if not settings.storage else f"{out.resolve().name}-{token_hex(4)}",
        artifacts=str(Path(settings.artifacts or out / ARTIFACT_DIR).resolve()),
        # Where cost is measured: each target's URL and machine (its /info); tokens stay out.
        targets=tuple({"url": t.url, **t.info()} for t in settings.targets),
    )


def _open_run(
    out: Path,
    run: RunSettings,
    url: str,
    settings: SearchSettings,
    prepared: Prepared,
    resume: bool,
) -> optuna.Study:
    """Create (or load, on resume) the study; a new run's folder is removed if that fails."""
    created = not out.exists()
    check_writable(out, "--resume" if resume else "--out")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar says what happens
    higher = Requirements(**run.requirements).higher_is_better
    try:
        storage = make_storage(url)
        study = optuna.create_study(
            storage=storage,
            study_name=run.study,
            directions=["maximize" if higher else "minimize", "minimize"],
            load_if_exists=resume,
        )
        if resume:
            reclaim_orphans(study, storage)
        else:
            _record_run(study, out, run, url, settings, prepared)
    except optuna.exceptions.DuplicatedStudyError:
        _remove_if(created, out)
        raise TradeoffError(f"--storage: a study named {run.study!r} already exists") from None
    except TradeoffError:
        _remove_if(created, out)
        raise
    except Exception as error:
        if not (full := disk_full(error)):
            raise
        _remove_if(created, out)
        raise disk_full_error(full, run.storage, "creating the run") from None
    return study


def _record_run(
    study: optuna.Study,
    out: Path,
    run: RunSettings,
    url: str,
    settings: SearchSettings,
    prepared: Prepared,
) -> None:
    """Write a new run's description (in the study and in run.json) and queue its first trials."""
    for key, value in run.to_dict().items():
        study.set_user_attr(key, value)
    # The full URL (it may hold a password) stays out of the study; run.json keeps it locally.
    # The run folder may move: run.json names its own artifact folder relative to it.
    local = replace(
        run, storage=url, artifacts=run.artifacts if settings.artifacts else ARTIFACT_DIR
    )
    write_run_info(out, local.to_dict())
    families = list(run.families)
    queue_given_trials(study, settings.first_trials, families)
    queue_default_trials(study, families, prepared)


def _run_on_ray(
    study: optuna.Study,
    run: RunSettings,
    url: str,
    settings: SearchSettings,
    requirements: Requirements,
    stop_at: int | None,
    show_progress: bool,
) -> None:
    progress = SearchProgress(
        budget_s=settings.time_budget_s,
        n_trials=settings.n_trials,
        enabled=show_progress,
        higher_is_better=requirements.higher_is_better,
    )
    with progress:
        run_on_ray(
            settings.ray_address,
            url,
            run.study,
            workers=settings.workers,
            time_budget_s=settings.time_budget_s,
            stop_at=stop_at,
            artifacts=run.artifacts,
            on_poll=lambda: progress(study, None),
        )


def _start_helpers(
    url: str, study_name: str, settings: SearchSettings, stop_at: int | None, artifacts: str
) -> list[subprocess.Popen]:
    """Start ``workers - 1`` worker processes on this machine; this process is the first."""
    helpers = []
    for _ in range(settings.workers - 1):
        command = [
            sys.executable,
            "-m",
            "tradeoff",
            "worker",
            "--storage",
            url,
            "--study",
            study_name,
        ]
        command += ["--workers-on-host", str(settings.workers)]
        if settings.time_budget_s:
            command += ["--time-budget", str(settings.time_budget_s)]
        if stop_at is not None:
            command += ["--stop-at-trials", str(stop_at)]
        command += ["--artifacts", artifacts]
        env = dict(os.environ)
        if settings.targets and settings.targets[0].token:  # a token read from a file
            env[TOKEN_ENV] = settings.targets[0].token
        helpers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env))
    return helpers


def _check_same_run(out: Path, before: dict, run: RunSettings) -> None:
    now = run.to_dict()
    for key in ("dataset", "requirements", "families", "seed"):
        if before.get(key) != now[key]:
            raise TradeoffError(
                f"--resume: {out} was searched with {key}={before.get(key)!r}, "
                f"not {now[key]!r}; start a new run folder instead"
            )
    if before["prepare"]["fingerprint"] != run.prepare["fingerprint"]:
        raise TradeoffError(f"--resume: the data differs from the data {out} was searched with")


def _remove_if(created: bool, out: Path) -> None:
    if created:
        import shutil

        shutil.rmtree(out, ignore_errors=True)

"""The Optuna study behind a search: storage, sampler, budget, resume, workers.

The embedded default is a SQLite file in the run folder. With ``storage`` set to a
PostgreSQL URL, workers on other machines join the same study (``run_worker``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from secrets import token_hex

import optuna
import torch
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from tradeoff.compress import QualityTolerance
from tradeoff.datasets import Dataset
from tradeoff.errors import TradeoffError
from tradeoff.families import family_names, get_family
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import Prepared, prepare, prepare_from_description
from tradeoff.requirements import Requirements
from tradeoff.search.compression import CompressionSettings
from tradeoff.search.distributed import run_on_ray
from tradeoff.search.gates import FamilyGate, StopWhenNothingFits
from tradeoff.search.halving import Halving
from tradeoff.search.progress import SearchProgress
from tradeoff.search.storage import (
    ARTIFACT_DIR,
    RUN_FILE,
    STUDY_NAME,
    artifact_location,
    artifact_store,
    check_writable,
    load_run_info,
    make_storage,
    redact_password,
    storage_url,
)
from tradeoff.search.trial import TrialContext, default_trials, front_members, run_trial
from tradeoff.search.workers import (
    CostLock,
    DiskFull,
    disk_full,
    disk_full_error,
    reclaim_orphans,
)


@dataclass(frozen=True)
class SearchSettings:
    """How to search, apart from the data and the requirements."""

    time_budget_s: float | None = 300.0
    n_trials: int | None = None  # trials this invocation runs, over all its workers
    families: tuple[str, ...] | None = None  # None: every family serving the modality
    seed: int = 0
    protocol: LatencyProtocol = field(default_factory=LatencyProtocol)
    max_epochs: int = 60  # per trial, before early stopping
    train_threads: int = 0  # torch threads per worker; 0: the cores shared out, one at least
    workers: int = 1  # processes on this machine sharing the study
    storage: str | None = None  # None: SQLite in the run folder
    artifacts: str | None = None  # None: artifacts/ in the run folder
    ray_address: str | None = None  # run the workers as Ray tasks on this cluster
    #: Points the search evaluates first (Optuna's enqueue_trial), e.g. a known-good default;
    #: parameters a point leaves out are sampled as usual.
    first_trials: tuple[dict, ...] = ()
    halving: Halving | None = field(default_factory=Halving)  # None: no early stopping of trials
    #: Compression in the loop (None: off); see search/compression.py.
    compression: CompressionSettings | None = field(default_factory=CompressionSettings)
    #: How the requirements were set, when they were derived rather than given (the demo's, from
    #: a measurement on this machine); recorded in run.json as ``requirements_origin``.
    requirements_origin: dict | None = None

    def resolve_families(self, modality: str) -> list[str]:
        serving = family_names(modality)
        if not self.families:
            return serving
        for name in self.families:
            if modality not in get_family(name).modalities:
                raise TradeoffError(
                    f"--families: {name!r} does not serve {modality} data; families that do: "
                    + ", ".join(serving)
                )
        return list(dict.fromkeys(self.families))


def run_search(
    data: Dataset,
    requirements: Requirements,
    out: str | os.PathLike,
    settings: SearchSettings = SearchSettings(),
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
    _check_budget(settings)
    if settings.max_epochs < 1:
        raise TradeoffError(f"--max-epochs: must be >= 1, got {settings.max_epochs}")
    if settings.workers < 1:
        raise TradeoffError(f"--workers: must be >= 1, got {settings.workers}")
    has_run = (out / RUN_FILE).exists()
    passes = settings.compression.resolve_passes() if settings.compression else []
    if resume and not has_run:
        raise TradeoffError(f"--resume: {out} holds no run to resume")
    if not resume and has_run:
        raise TradeoffError(f"--out: {out} already holds a run; pass --resume to continue it")
    if out.exists() and not out.is_dir():
        raise TradeoffError(f"--out: {out} exists and is not a folder")
    prepared = prepared or prepare(data, seed=settings.seed)
    if prepared.folds:
        # Ranked on fold means (search/cv.py): ensembles and compressed variants are judged
        # on the validation split alone, so they would be ranked on another scale; left out.
        families = [f for f in families if get_family(f).trained_by != "members"]
        settings = replace(settings, compression=None)
        passes = []
    previous = load_run_info(out) if resume else {}
    url = settings.storage or previous.get("storage") or storage_url(out)
    run_info = {
        "dataset": data.name,
        "requirements": requirements.to_dict(),
        "families": families,
        "seed": settings.seed,
        "prepare": prepared.describe(),
        "latency_protocol": asdict(settings.protocol),
        "max_epochs": settings.max_epochs,
        "cv_ranking": bool(prepared.folds),
        "halving": asdict(settings.halving) if settings.halving else None,
        "compression": None
        if settings.compression is None
        else {
            "passes": passes,
            "max_quality_drop": str(settings.compression.tolerance),
            "tolerance": asdict(settings.compression.tolerance),
        },
        "requirements_origin": settings.requirements_origin,
        "objectives": [f"maximize validation {requirements.metric}", "minimize p95 latency (ms)"],
        "storage": redact_password(url),
        # A shared storage holds many studies: name this one after its run folder, uniquely.
        "study": STUDY_NAME if not settings.storage else f"{out.resolve().name}-{token_hex(4)}",
        "artifacts": str(Path(settings.artifacts or out / ARTIFACT_DIR).resolve()),
    }
    if resume:
        _check_same_run(out, previous, run_info)
        run_info["study"] = previous["study"]
        run_info["artifacts"] = str(artifact_location(out, previous))

    created = not out.exists()
    check_writable(out, "--resume" if resume else "--out")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar says what happens
    try:
        study = optuna.create_study(
            storage=make_storage(url),
            study_name=run_info["study"],
            directions=["maximize" if requirements.higher_is_better else "minimize", "minimize"],
            load_if_exists=resume,
        )
        if resume:
            reclaim_orphans(study)
        else:
            _record_run(study, out, run_info, url, settings, prepared)
    except optuna.exceptions.DuplicatedStudyError:
        _remove_if(created, out)
        raise TradeoffError(
            f"--storage: a study named {run_info['study']!r} already exists"
        ) from None
    except TradeoffError:
        _remove_if(created, out)
        raise
    except Exception as error:
        if not (full := disk_full(error)):
            raise
        _remove_if(created, out)
        raise disk_full_error(full, run_info["storage"], "creating the run") from None

    stop_at = _finished_count(study) + settings.n_trials if settings.n_trials else None
    if settings.ray_address:
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
                run_info["study"],
                workers=settings.workers,
                time_budget_s=settings.time_budget_s,
                stop_at=stop_at,
                artifacts=run_info["artifacts"],
                on_poll=lambda: progress(study, None),
            )
        return study, prepared
    helpers = _start_helpers(url, run_info["study"], settings, stop_at, run_info["artifacts"])
    try:
        _optimize(study, prepared, requirements, run_info, settings, show_progress, stop_at=stop_at)
    finally:
        for helper in helpers:
            helper.wait()
    return study, prepared


def _record_run(
    study: optuna.Study, out: Path, run_info: dict, url: str, settings, prepared
) -> None:
    """Write a new run's description (in the study and in run.json) and queue its first trials."""
    for key, value in run_info.items():
        study.set_user_attr(key, value)
    # The full URL (it may hold a password) stays out of the study; run.json keeps it locally.
    # The run folder may move: run.json names its own artifact folder relative to it.
    local = {**run_info, "storage": url}
    if not settings.artifacts:
        local["artifacts"] = ARTIFACT_DIR
    _write_atomic(out / RUN_FILE, json.dumps(local, indent=2))
    families = run_info["families"]
    for params in settings.first_trials:
        if params.get("family", families[0]) in families:
            study.enqueue_trial(params, skip_if_exists=True)
    for params in default_trials(families, prepared):
        study.enqueue_trial(params, skip_if_exists=True)


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
    info = study.user_attrs
    if "dataset" not in info:
        raise TradeoffError(f"--study: {study_name!r} was not created by tradeoff")
    prepared = prepare_from_description(info["prepare"], info["seed"])
    if prepared.fingerprint() != info["prepare"]["fingerprint"]:
        raise TradeoffError(f"--study: the data here differs from the data {study_name!r} uses")
    settings = recorded_settings(
        info, time_budget_s=time_budget_s, n_trials=n_trials or stop_at, workers=workers_on_host
    )
    _check_budget(settings)
    if artifacts:
        info = {**info, "artifacts": artifacts}
    requirements = Requirements(**info["requirements"])
    if stop_at is None and n_trials:
        stop_at = _finished_count(study) + n_trials
    _optimize(
        study,
        prepared,
        requirements,
        info,
        settings,
        show_progress,
        stop_at=stop_at,
        salt=os.getpid(),
    )
    return study


def _optimize(
    study,
    prepared,
    requirements,
    info,
    settings: SearchSettings,
    show_progress,
    *,
    stop_at: int | None,
    salt: int = 0,
) -> None:
    """Run trials until the budget ends or the study holds ``stop_at`` finished trials."""
    # Seeded by the trials already there, so a resumed search does not replay its start; helper
    # workers add a salt of their own so that parallel workers do not draw the same candidates.
    sampler_seed = settings.seed + len(study.get_trials(deepcopy=False)) + salt
    hib = requirements.higher_is_better

    def ready(study: optuna.Study, family: str) -> bool:  # an ensemble needs two members
        return get_family(family).trained_by != "members" or len(front_members(study, hib)) >= 2

    study.sampler = FamilyGate(
        optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=10), ready, sampler_seed
    )
    # One training thread per worker: these small models train as fast on one thread, and
    # a second would fight the other workers (and the latency measurements) for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(
        settings.train_threads or max(1, (os.cpu_count() or 1) // (2 * settings.workers))
    )
    on_their_own = [f for f in info["families"] if get_family(f).trained_by != "members"]
    callbacks = [StopWhenNothingFits(requirements, on_their_own)]
    if stop_at is not None:
        if _finished_count(study) >= stop_at:
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
        families=list(info["families"]),
        artifact_store=artifact_store(info["artifacts"]),
        protocol=settings.protocol,
        seed=settings.seed,
        max_epochs=settings.max_epochs,
        deadline=start + settings.time_budget_s if settings.time_budget_s else float("inf"),
        on_epoch=progress.on_epoch,
        cost_lock=CostLock(),
        halving=settings.halving,
        compression=settings.compression,
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
    except (DiskFull, Exception) as error:
        # In a trial (DiskFull), or in Optuna's ask or tell around it: a failed tell of a
        # finished trial surfaces as an AssertionError raised while handling the storage's error.
        if not (full := disk_full(error)):
            raise
        trial = f"trial {error.trial}" if isinstance(error, DiskFull) else "a trial"
        doing = "writing the model of " if isinstance(full, OSError) else "recording "
        raise disk_full_error(full, info["storage"], doing + trial) from None
    finally:
        torch.set_num_threads(threads)


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=_FINISHED))


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
        helpers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    return helpers


def recorded_settings(
    info: dict, *, time_budget_s: float | None, n_trials: int | None, workers: int = 1
) -> SearchSettings:
    """The settings a run recorded (``run.json`` or the study's attributes), with a new budget:
    a resumed search or a joining worker searches exactly as the run began."""
    compression = info.get("compression")
    return SearchSettings(
        time_budget_s=time_budget_s,
        n_trials=n_trials,
        families=tuple(info["families"]),
        seed=info["seed"],
        protocol=LatencyProtocol(**info["latency_protocol"]),
        max_epochs=info.get("max_epochs", 60),
        halving=Halving(**info["halving"]) if info.get("halving") else None,
        compression=CompressionSettings(
            passes=tuple(compression["passes"]),
            tolerance=QualityTolerance(**compression["tolerance"]),
        )
        if compression
        else None,
        workers=workers,
    )


def _check_budget(settings: SearchSettings) -> None:
    if settings.n_trials is not None and settings.n_trials < 1:
        raise TradeoffError(f"--trials: must be >= 1, got {settings.n_trials}")
    if not settings.time_budget_s and not settings.n_trials:
        raise TradeoffError(
            "give a --time-budget or a number of --trials, or the search never ends"
        )


def _check_same_run(out: Path, before: dict, run_info: dict) -> None:
    for key in ("dataset", "requirements", "families", "seed"):
        if before.get(key) != run_info[key]:
            raise TradeoffError(
                f"--resume: {out} was searched with {key}={before.get(key)!r}, "
                f"not {run_info[key]!r}; start a new run folder instead"
            )
    if before["prepare"]["fingerprint"] != run_info["prepare"]["fingerprint"]:
        raise TradeoffError(f"--resume: the data differs from the data {out} was searched with")


def _remove_if(created: bool, out: Path) -> None:
    if created:
        import shutil

        shutil.rmtree(out, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text)
    except OSError as error:  # a failed write() names no file: name it
        if tmp.exists():  # unlinking in a read-only folder fails even for no file
            tmp.unlink()
        raise OSError(error.errno, error.strerror, str(path)) from error
    os.replace(tmp, path)

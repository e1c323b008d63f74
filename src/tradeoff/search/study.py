"""The Optuna study behind a search: storage in the run folder, sampler, budget, resume."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore

from tradeoff.datasets import Dataset
from tradeoff.errors import TradeoffError
from tradeoff.families import family_names, get_family
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import Prepared, prepare
from tradeoff.requirements import Requirements
from tradeoff.search.compression import CompressionSettings
from tradeoff.search.progress import SearchProgress
from tradeoff.search.trial import TrialContext, run_trial

RUN_FILE, STUDY_FILE, ARTIFACT_DIR, STUDY_NAME = "run.json", "study.db", "artifacts", "tradeoff"


@dataclass(frozen=True)
class SearchSettings:
    """How to search, apart from the data and the requirements."""

    time_budget_s: float | None = 300.0
    n_trials: int | None = None
    families: tuple[str, ...] | None = None  # None: every family serving the modality
    seed: int = 0
    protocol: LatencyProtocol = field(default_factory=LatencyProtocol)
    train_threads: int = 0  # 0: torch's default (all cores)
    #: Compression in the loop (None: off); see search/compression.py.
    compression: CompressionSettings | None = field(default_factory=CompressionSettings)

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


def storage_url(out: Path) -> str:
    return f"sqlite:///{(out / STUDY_FILE).resolve()}"


def artifact_store(out: Path) -> FileSystemArtifactStore:
    (out / ARTIFACT_DIR).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(out / ARTIFACT_DIR))


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
    """Run (or continue) the study in ``out``; returns it with the prepared splits.

    Everything is validated before the run folder is created, so bad input
    leaves nothing behind.
    """
    out = Path(out)
    families = settings.resolve_families(data.modality)
    if settings.n_trials is not None and settings.n_trials < 1:
        raise TradeoffError(f"--trials: must be >= 1, got {settings.n_trials}")
    if not settings.time_budget_s and not settings.n_trials:
        raise TradeoffError(
            "give a --time-budget or a number of --trials, or the search never ends"
        )
    passes = settings.compression.resolve_passes() if settings.compression else []
    has_run = (out / STUDY_FILE).exists()
    if resume and not has_run:
        raise TradeoffError(f"--resume: {out} holds no run to resume")
    if not resume and has_run:
        raise TradeoffError(f"--out: {out} already holds a run; pass --resume to continue it")
    if out.exists() and not out.is_dir():
        raise TradeoffError(f"--out: {out} exists and is not a folder")
    prepared = prepared or prepare(data, seed=settings.seed)
    run_info = {
        "dataset": data.name,
        "requirements": requirements.to_dict(),
        "families": families,
        "seed": settings.seed,
        "prepare": prepared.describe(),
        "latency_protocol": asdict(settings.protocol),
        "compression": None
        if settings.compression is None
        else {"passes": passes, "max_quality_drop": str(settings.compression.tolerance)},
        "objectives": [f"maximize validation {requirements.metric}", "minimize p95 latency (ms)"],
    }
    if resume:
        _check_same_run(out, run_info)

    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage_url(out),
        study_name=STUDY_NAME,
        directions=["maximize" if requirements.higher_is_better else "minimize", "minimize"],
        sampler=optuna.samplers.TPESampler(
            seed=settings.seed + len(_existing_trials(out)),
            n_startup_trials=10,
        ),
        load_if_exists=resume,
    )
    if not resume:
        for key, value in run_info.items():
            study.set_user_attr(key, value)
        _write_atomic(out / RUN_FILE, json.dumps(run_info, indent=2))

    if settings.train_threads:
        torch.set_num_threads(settings.train_threads)
    start = time.monotonic()
    progress = SearchProgress(
        budget_s=settings.time_budget_s, n_trials=settings.n_trials, enabled=show_progress
    )
    ctx = TrialContext(
        prepared=prepared,
        requirements=requirements,
        families=families,
        artifact_store=artifact_store(out),
        protocol=settings.protocol,
        seed=settings.seed,
        deadline=start + settings.time_budget_s if settings.time_budget_s else float("inf"),
        on_epoch=progress.on_epoch,
        compression=settings.compression,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with progress:
        study.optimize(
            lambda trial: run_trial(trial, ctx),
            n_trials=settings.n_trials,
            timeout=settings.time_budget_s,
            callbacks=[progress],
            catch=(Exception,),
        )
    return study, prepared


def load_run_info(out: str | os.PathLike) -> dict:
    path = Path(out) / RUN_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TradeoffError(f"{out}: not a tradeoff run folder (no {RUN_FILE})") from None
    except json.JSONDecodeError as error:
        raise TradeoffError(f"{path}: unreadable run description ({error})") from None


def open_study(out: str | os.PathLike) -> optuna.Study:
    out = Path(out)
    if not (out / STUDY_FILE).exists():
        raise TradeoffError(f"{out}: not a tradeoff run folder (no {STUDY_FILE})")
    return optuna.load_study(study_name=STUDY_NAME, storage=storage_url(out))


def _existing_trials(out: Path) -> list:
    if not (out / STUDY_FILE).exists():
        return []
    return open_study(out).get_trials(deepcopy=False)


def _check_same_run(out: Path, run_info: dict) -> None:
    before = load_run_info(out)
    for key in ("dataset", "requirements", "families", "seed"):
        if before.get(key) != run_info[key]:
            raise TradeoffError(
                f"--resume: {out} was searched with {key}={before.get(key)!r}, "
                f"not {run_info[key]!r}; start a new run folder instead"
            )
    if before["prepare"]["fingerprint"] != run_info["prepare"]["fingerprint"]:
        raise TradeoffError(f"--resume: the data differs from the data {out} was searched with")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

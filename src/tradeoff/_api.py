"""The Python API's search(): run the study, then open the run for reading."""

from __future__ import annotations

import os

from tradeoff.datasets import Dataset, load
from tradeoff.frontier import Run
from tradeoff.measure.remote import Target, resolve_token
from tradeoff.requirements import Requirements
from tradeoff.searcher import run_search
from tradeoff.searcher.cv import prepare_for_search
from tradeoff.searcher.settings import search_settings
from tradeoff.train import DEFAULT_MAX_EPOCHS


def search(
    data: Dataset | str | os.PathLike,
    requirements: Requirements,
    *,
    out: str | os.PathLike,
    time_budget: str | float | None = "5m",
    n_trials: int | None = None,
    families: list[str] | None = None,
    seed: int = 0,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    resume: bool = False,
    show_progress: bool = True,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    cv: int | str | None = "auto",
    augment: str | None = "auto",
    compress: bool | list[str] = True,
    quick_latency: bool = False,
    max_quality_drop: str | float = "1%",
    targets: list[str] | None = None,
    target_token: str | None = None,
    prefer: str = "accurate",
) -> Run:
    """Search for the most accurate models ``requirements`` can afford; returns the run.

    ``data`` is a :class:`Dataset`, a built-in name or a file path (with
    ``target``/``task``/``modality`` as in :func:`tradeoff.datasets.load`);
    ``cv`` is ``"auto"`` (as the CLI's ``--cv``: rank on folds when the validation split is
    small), a number of folds, or ``"off"``; ``augment`` is passed to
    :func:`tradeoff.prepare.prepare`.

    >>> import tradeoff
    >>> req = tradeoff.Requirements(max_latency_ms=0.2, max_size_mb=1.0)
    >>> run = tradeoff.search("mnist1d", req, out="runs/m1d", time_budget="2m")  # doctest: +SKIP
    >>> run.leaderboard(); run.front(); pick = run.select(req)  # doctest: +SKIP

    ``quick_latency`` screens latency with a short protocol (a first look, not figures
    to rely on). ``compress``: ``True`` runs every compression pass on front members and near
    misses, a list names the passes, ``False`` turns compression off;
    ``max_quality_drop`` is ``"1%"`` (relative) or an absolute number such as ``0.005``.
    ``targets``: URLs of ``tradeoff agent`` instances to measure cost on (the requirements
    must hold on each), with ``target_token`` (default: ``$TRADEOFF_TARGET_TOKEN``).
    ``prefer``: which the run picks (``run.select()``), ``"accurate"`` (the most accurate
    candidate meeting every requirement) or ``"cheaper"`` (its cheaper twin, the same quality
    within noise); recorded in run.json.
    """
    settings = search_settings(
        time_budget=time_budget,
        compress=compress,
        max_quality_drop=max_quality_drop,
        quick_latency=quick_latency,
        n_trials=n_trials,
        families=tuple(families) if families else None,
        seed=seed,
        max_epochs=max_epochs,
        targets=tuple(
            Target(url, target_token or resolve_token(None)) for url in dict.fromkeys(targets or [])
        ),
        prefer=prefer,
    )
    if isinstance(data, (str, os.PathLike)):
        data = load(data, seed=seed, target=target, task=task, modality=modality)
    prepared = prepare_for_search(data, seed=seed, cv=cv, augment=augment)
    _, prepared = run_search(
        data,
        requirements,
        out,
        settings,
        resume=resume,
        show_progress=show_progress,
        prepared=prepared,
    )
    return Run.open(out, prepared=prepared)

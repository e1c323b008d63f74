"""How a search runs, apart from the data and the requirements: SearchSettings, CompressionSettings.

Declared and validated once here (``check``), read by the study, the trial pipeline and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tradeoff.compress import QualityTolerance, get_pass, pass_names
from tradeoff.errors import TradeoffError
from tradeoff.families import family_names, get_family
from tradeoff.measure import LatencyProtocol
from tradeoff.measure.remote import Target, resolve_token
from tradeoff.records import RunSettings
from tradeoff.requirements import COST_LIMITS, Requirements, check_prefer
from tradeoff.searcher.halving import Halving
from tradeoff.train import DEFAULT_MAX_EPOCHS


@dataclass(frozen=True)
class CompressionSettings:
    """Which passes run, how much quality a variant may lose, and which misses are worth training."""

    passes: tuple[str, ...] | None = None  # None: every registered pass
    tolerance: QualityTolerance = field(default_factory=QualityTolerance)
    #: Train a candidate that misses the latency limit by at most this factor (p95 bound / limit).
    latency_margin: float = 1.3
    #: ... or the size limit by at most this factor (int8 weights are up to ~4x smaller).
    size_margin: float = 2.5
    #: ... or the memory limit (a process's memory is more than its weights: as latency's).
    memory_margin: float = 1.3
    #: ... or the throughput floor (limit / rows per second: compression's speed-up, as latency's).
    throughput_margin: float = 1.3

    def margin(self, axis: str) -> float:
        """How far over the ``axis`` limit (a cost axis of ``COST_LIMITS``) is worth training."""
        return getattr(self, f"{axis}_margin")

    def resolve_passes(self) -> list[str]:
        if not self.passes:
            return pass_names()
        for name in self.passes:
            get_pass(name)  # raises a TradeoffError naming --passes
        return list(dict.fromkeys(self.passes))


def worth_training(
    settings: CompressionSettings | None, req: Requirements, figures: dict[str, float | None]
) -> bool:
    """Whether a candidate breaking a cost limit is close enough for compression to rescue it:
    within each limit's margin (:meth:`CompressionSettings.margin`) on every cost axis, from
    its ``figures`` by axis (latency: p95's upper bound; an axis not measured: within)."""
    if settings is None:
        return False
    for axis, limit in COST_LIMITS.items():
        bound, figure = getattr(req, limit.requirement_field), figures.get(axis)
        if bound is None or figure is None:
            continue
        margin = settings.margin(axis)
        if limit.broken_by(figure, bound / margin if limit.floor else bound * margin):
            return False
    return True


@dataclass(frozen=True)
class SearchSettings:
    """How to search, apart from the data and the requirements."""

    time_budget_s: float | None = 300.0
    n_trials: int | None = None  # trials this invocation runs, over all its workers
    families: tuple[str, ...] | None = None  # None: every family serving the modality
    seed: int = 0
    protocol: LatencyProtocol = field(default_factory=LatencyProtocol)
    max_epochs: int = DEFAULT_MAX_EPOCHS  # per trial, before early stopping
    train_threads: int = 0  # torch threads per worker; 0: the cores shared out, one at least
    workers: int = 1  # processes on this machine sharing the study
    storage: str | None = None  # None: SQLite in the run folder
    artifacts: str | None = None  # None: artifacts/ in the run folder
    ray_address: str | None = None  # run the workers as Ray tasks on this cluster
    #: Points the search evaluates first (Optuna's enqueue_trial), e.g. a known-good default;
    #: parameters a point leaves out are sampled as usual.
    first_trials: tuple[dict, ...] = ()
    halving: Halving | None = field(default_factory=Halving)  # None: no early stopping of trials
    #: Compression in the loop (None: off); see searcher/compression.py.
    compression: CompressionSettings | None = field(default_factory=CompressionSettings)
    #: Target agents to measure cost on (none: this machine); the requirements hold on each.
    targets: tuple[Target, ...] = ()
    #: How the requirements were set, when they were derived rather than given (the demo's, from
    #: a measurement on this machine); recorded in run.json as ``requirements_origin``.
    requirements_origin: dict | None = None
    #: Which answer the run ships: the most accurate pick or its cheaper twin (``--prefer``);
    #: recorded in run.json, so that ``select`` and ``export`` answer as the search did.
    prefer: str = "accurate"

    def __post_init__(self) -> None:
        check_prefer(self.prefer)

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


def check_budget(settings: SearchSettings) -> None:
    if settings.n_trials is not None and settings.n_trials < 1:
        raise TradeoffError(f"--trials: must be >= 1, got {settings.n_trials}")
    if not settings.time_budget_s and not settings.n_trials:
        raise TradeoffError(
            "give a --time-budget or a number of --trials, or the search never ends"
        )


def recorded_settings(
    info: dict | RunSettings,
    *,
    time_budget_s: float | None,
    n_trials: int | None,
    workers: int = 1,
) -> SearchSettings:
    """The settings a run recorded (``run.json`` or the study's attributes), with a new budget:
    a resumed search or a joining worker searches exactly as the run began."""
    run = info if isinstance(info, RunSettings) else RunSettings.from_dict(info)
    compression = run.compression
    return SearchSettings(
        time_budget_s=time_budget_s,
        n_trials=n_trials,
        families=tuple(run.families),
        seed=run.seed,
        protocol=LatencyProtocol(**run.latency_protocol),
        max_epochs=run.max_epochs or DEFAULT_MAX_EPOCHS,
        halving=Halving(**run.halving) if run.halving else None,
        compression=CompressionSettings(
            passes=tuple(compression["passes"]),
            tolerance=QualityTolerance(**compression["tolerance"]),
        )
        if compression
        else None,
        workers=workers,
        prefer=run.prefer,
        # The token is not recorded: it comes from the environment (TRADEOFF_TARGET_TOKEN).
        targets=tuple(Target(t["url"], resolve_token(None)) for t in run.targets),
    )


def search_settings(
    *,
    time_budget: str | float | None,
    compress: bool | Sequence[str] = True,
    max_quality_drop: str | float = "1%",
    quick_latency: bool = False,
    threads: int = 1,
    protocol: LatencyProtocol | None = None,
    **fields,
) -> SearchSettings:
    """A new search's settings from the options a user gives, as ``tradeoff search``,
    ``tradeoff.search()`` and the estimators take them: their defaults and checks in one place.

    ``time_budget``: ``"5m"``-style text or seconds (None: none). ``compress``: True for every
    pass, False for none, or the passes by name (an unknown one fails naming ``--passes``).
    ``protocol`` (default: the full one, or the quick one with ``quick_latency``) measured on
    ``threads``. The other ``fields`` are :class:`SearchSettings`' own.
    """
    from tradeoff.measure import QUICK_PROTOCOL
    from tradeoff.searcher.budget import parse_duration

    if threads < 1:
        raise TradeoffError(f"--threads: must be >= 1, got {threads}")
    compression = None
    if compress is not False:
        compression = CompressionSettings(
            passes=None if compress is True else tuple(compress),
            tolerance=QualityTolerance.parse(max_quality_drop),
        )
        compression.resolve_passes()  # unknown names fail here, naming --passes
    if protocol is None:
        protocol = replace(QUICK_PROTOCOL if quick_latency else LatencyProtocol(), threads=threads)
    return SearchSettings(
        time_budget_s=parse_duration(time_budget) if time_budget is not None else None,
        compression=compression,
        protocol=protocol,
        **fields,
    )

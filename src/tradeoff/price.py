"""The price of each constraint: the best quality the recorded trials attain as a limit moves.

For each cost axis (latency, size, memory, throughput), a step curve of the best trained
candidate meeting every other requirement as the threshold varies, and the sentence a user reads ("relaxing p95 latency
from 0.10 ms to 0.20 ms buys +1.3 points of accuracy (model #41, cnn)"). Reads records
only: nothing is trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tradeoff.records import Status, TrialRecord
from tradeoff.requirements import COST_LIMITS, Requirements
from tradeoff.rules import RECORD_FIELDS, Objective, cost_figure, cost_figures
from tradeoff.selection import meets, select

#: The cost axes a requirement can bound (requirements.COST_LIMITS): record field,
#: requirement field, words, unit.
COST_AXES = {
    axis: (RECORD_FIELDS[axis], limit.requirement_field, limit.words, limit.unit)
    for axis, limit in COST_LIMITS.items()
}
#: Axes whose requirement is a floor (relaxing it lowers the threshold); the others are caps.
FLOOR_AXES = frozenset(axis for axis, limit in COST_LIMITS.items() if limit.floor)


def priced_axes(candidates: list[TrialRecord], requirements: Requirements) -> list[str]:
    """The axes worth pricing: latency and size always; memory and throughput when required
    (or, for memory, measured: a search on a target measures it for every candidate)."""
    axes = ["latency", "size"]
    if requirements.max_memory_mb is not None or any(
        r.inference_rss_mb is not None for r in candidates
    ):
        axes.append("memory")
    if requirements.min_throughput is not None:
        axes.append("throughput")
    return axes


@dataclass(frozen=True)
class PriceStep:
    """From ``threshold`` on, ``quality`` is the best attainable (reached by trial ``number``)."""

    threshold: float
    quality: float
    number: int
    family: str | None


@dataclass(frozen=True)
class ConstraintPrice:
    """What moving one cost requirement to the neighbouring steps of its curve would buy."""

    axis: str
    current: float | None  # the requirement now (None: unconstrained)
    best_now: PriceStep | None  # the best attainable within it
    next_step: PriceStep | None  # the cheapest relaxation that buys more quality
    previous_step: PriceStep | None  # the best left if the limit fell below best_now's cost
    untrained_beyond: int  # candidates rejected before training beyond the limit (up to next_step)

    @property
    def gain(self) -> float | None:
        """Quality bought by relaxing to ``next_step`` (from nothing: its whole quality)."""
        if self.next_step is None:
            return None
        return self.next_step.quality - (self.best_now.quality if self.best_now else 0.0)

    @property
    def loss(self) -> float | None:
        """Quality given up by tightening just below ``best_now``'s cost."""
        if self.best_now is None or self.previous_step is None:
            return None
        return self.best_now.quality - self.previous_step.quality


def price_curve(
    candidates: list[TrialRecord], requirements: Requirements, axis: str
) -> list[PriceStep]:
    """Best attainable validation quality as the ``axis`` threshold varies, as a step curve.

    The other requirements stay as they are; a step is added where a cheaper-or-equal
    threshold first admits a better trained candidate.

    >>> [(s.threshold, s.quality) for s in price_curve(trials, req, "latency")]  # doctest: +SKIP
    [(0.005, 0.31), (0.03, 0.62)]
    """
    _, requirement_field, _, _ = COST_AXES[axis]
    freed = {requirement_field: None, "min_quality": None}
    if axis == "throughput":
        freed["throughput_batch"] = None  # a batch without a throughput floor is refused
    free = replace(requirements, **freed)
    objective = Objective.of(requirements)
    cheaper = -1.0 if axis in FLOOR_AXES else 1.0  # a floor: the higher figure is the harder
    admitted = sorted(
        (
            r
            for r in candidates
            if meets(r, free) and cost_figure(r, axis, requirements) is not None
        ),
        key=lambda r: (cheaper * cost_figure(r, axis, requirements), -objective.key(r.val_metric)),
    )
    steps: list[PriceStep] = []
    for r in admitted:
        if not steps or objective.better(r.val_metric, steps[-1].quality):
            steps.append(
                PriceStep(cost_figure(r, axis, requirements), r.val_metric, r.number, r.family)
            )
    return steps


def price_of_constraint(
    candidates: list[TrialRecord], requirements: Requirements, axis: str
) -> ConstraintPrice:
    """The best model within the ``axis`` requirement now, and the steps either side of it."""
    _, requirement_field, _, _ = COST_AXES[axis]
    current = getattr(requirements, requirement_field)
    steps = price_curve(candidates, requirements, axis)
    d = -1.0 if axis in FLOOR_AXES else 1.0  # compare as caps: a floor's figures negated
    limit = float("inf") if current is None else d * current
    within = [s for s in steps if d * s.threshold <= limit]
    beyond = [s for s in steps if d * s.threshold > limit]
    next_step = beyond[0] if beyond else None
    upper = d * next_step.threshold if next_step else float("inf")
    untrained = sum(
        r.status is Status.INFEASIBLE
        and (v := cost_figure(r, axis, requirements)) is not None
        and limit < d * v <= upper
        for r in candidates
    )
    return ConstraintPrice(
        axis,
        current,
        within[-1] if within else None,
        next_step,
        within[-2] if len(within) > 1 else None,
        untrained,
    )


def describe_price(price: ConstraintPrice, metric: str) -> str:
    """A sentence or two, e.g. "relaxing p95 latency from 0.10 ms to 0.20 ms buys +1.3 points of accuracy (model #41, cnn)."."""
    _, _, words, unit = COST_AXES[price.axis]

    def amount(delta: float) -> str:
        return (
            f"{100 * delta:.1f} points of {metric}"
            if metric == "accuracy"
            else f"{delta:.4g} {metric}"
        )

    best, step = price.best_now, price.next_step
    if price.current is None:
        if best is None:
            return f"{words} is unconstrained; no trained candidate meets the other requirements."
        sentence = (
            f"{words} is unconstrained; the best recorded model (#{best.number}, {best.family}) "
            f"needs {best.threshold:.4g} {unit}."
        )
    elif step is not None and best is None:
        sentence = (
            f"relaxing {words} from {price.current:.4g} {unit} to {step.threshold:.4g} {unit} "
            f"admits model #{step.number} ({step.family}, {metric} {step.quality:.4f}); "
            "today no trained candidate fits"
        )
    elif step is not None:
        sentence = (
            f"relaxing {words} from {price.current:.4g} {unit} to {step.threshold:.4g} {unit} "
            f"buys +{amount(abs(price.gain))} (model #{step.number}, {step.family})"
        )
    if step is not None:
        if price.untrained_beyond:
            sentence += (
                f"; it would also admit {price.untrained_beyond} candidate(s) rejected before "
                "training, of unknown quality"
            )
        sentence += "."
    elif price.current is not None:
        sentence = f"relaxing {words} beyond {price.current:.4g} {unit} buys nothing known: "
        sentence += (
            f"the {price.untrained_beyond} candidate(s) beyond it were rejected before training."
            if price.untrained_beyond
            else "no trained candidate beyond it is better."
        )
    if price.loss is not None:
        prev = price.previous_step
        sentence += (
            f" Tightening it below {best.threshold:.4g} {unit} (model #{best.number}) would cost "
            f"{amount(abs(price.loss))} (best then: model #{prev.number}, {prev.family})."
        )
    return sentence


@dataclass(frozen=True)
class Relaxation:
    """The least change of one requirement, the others held, that admits a recorded candidate.

    ``pick`` is what selection would then return; ``None`` with ``trained`` false means the
    candidate admitted was measured but never trained (its quality is unknown until it is).
    """

    flag: str  # --max-latency-ms, --max-size-mb, --max-memory-mb, --min-throughput, --min-quality
    current: float
    needed: float
    pick: TrialRecord | None
    trained: bool

    def describe(self, metric: str) -> str:
        then = (
            f"`tradeoff select` would then pick #{self.pick.number} ({self.pick.family}, "
            f"validation {metric} {self.pick.val_metric:.4f})"
            if self.pick is not None
            else "it admits only candidates rejected before training: search again with it"
        )
        return f"{self.flag} {self.needed:.4g} (now {self.current:g}): {then}"


def _admitting(records: list[TrialRecord], requirements: Requirements, flag: str) -> float | None:
    """The least value of ``flag`` at which some record of ``records`` meets ``requirements``."""
    if flag == "--min-quality":
        values = [r.val_metric for r in records if r.val_metric is not None]
        if not values:
            return None
        return Objective.of(requirements).best(values)
    axis = _FLAG_AXES[flag]
    values = [cost_figures(r, requirements)[axis] for r in records]
    values = [v for v in values if v is not None]
    if not values:
        return None
    return max(values) if axis in FLOOR_AXES else min(values)


#: Each requirement's flag and the cost axis it bounds (quality: none).
_FLAG_AXES = {limit.flag: axis for axis, limit in COST_LIMITS.items()}
_FIELDS = {flag: COST_AXES[axis][1] for flag, axis in _FLAG_AXES.items()} | {
    "--min-quality": "min_quality"
}


def least_relaxations(
    candidates: list[TrialRecord], requirements: Requirements
) -> list[Relaxation]:
    """For each requirement set, the least relaxation (the others held) admitting a candidate.

    Trained candidates first (selection could then pick one, no training); failing those, a
    candidate measured before training (cost limits only). Requirements no relaxation of which
    alone admits anything are left out.
    """
    relaxations = []
    for flag, name in _FIELDS.items():
        current = getattr(requirements, name)
        if current is None:
            continue
        freed = {name: None} | ({"throughput_batch": None} if name == "min_throughput" else {})
        others = replace(requirements, **freed)  # a throughput batch needs its floor
        trained = [r for r in candidates if meets(r, others)]
        needed = _admitting(trained, requirements, flag)
        if needed is not None:
            # Latency and size figures are rounded up, quality down, so the limit admits them.
            needed = _round_towards_admitting(needed, flag, requirements.higher_is_better)
            pick = select(candidates, replace(requirements, **{name: needed}))
            relaxations.append(Relaxation(flag, current, needed, pick, True))
            continue
        if flag == "--min-quality":
            continue
        measured = [
            r
            for r in candidates
            if r.size_mb is not None
            and r.p95_ms is not None
            and not others.cost_violations_in(cost_figures(r, requirements))
        ]
        needed = _admitting(measured, requirements, flag)
        if needed is not None:
            needed = _round_towards_admitting(needed, flag, requirements.higher_is_better)
            relaxations.append(Relaxation(flag, current, needed, None, False))
    return relaxations


def _round_towards_admitting(value: float, flag: str, higher_is_better: bool) -> float:
    """``value`` to 3 significant digits, rounded so that the candidate stays admitted."""
    if value == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    # Caps round up; floors (throughput, a higher-is-better quality) down.
    up = flag != "--min-throughput" and (flag != "--min-quality" or not higher_is_better)
    return float(f"{(math.ceil if up else math.floor)(value / scale) * scale:.3g}")

"""The Pareto front and the one selection rule: the most accurate candidate meeting every
requirement, its cheaper twin, the margins and sentences that explain a pick, the hypervolume.

Reads recorded trials only (no training stack): `tradeoff select` must answer in well under 2 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeoff.records import TrialRecord
from tradeoff.requirements import COST_LIMITS, Requirements, check_prefer
from tradeoff.rules import Objective, cost_figure, meets, pareto_fronts


def pareto_front(candidates: list[TrialRecord], higher_is_better: bool = True) -> list[TrialRecord]:
    """Trained candidates no other trained candidate beats on both quality and p95 latency.

    Sorted by latency, fastest first.
    """
    trained = [r for r in candidates if r.trained and r.val_metric is not None]
    if not trained:
        return []
    objective = Objective(higher_is_better)
    front = pareto_fronts(trained, lambda r: (objective.key(r.val_metric), r.p95_ms))[0]
    return sorted(front, key=lambda r: r.p95_ms)


def most_accurate(candidates: list[TrialRecord], requirements: Requirements) -> TrialRecord | None:
    """The candidate meeting ``requirements`` with the best estimate (``val_metric``: the
    validation figure, or the fold mean under ``--cv``); exact ties go to fewer parameters
    (a count, so the same trials give the same pick; latency is measured, hence noisy), then
    to the faster p95, then to the earlier trial."""
    fitting = [r for r in candidates if meets(r, requirements)]
    if not fitting:
        return None
    sign = Objective.of(requirements).sign
    return max(
        fitting, key=lambda r: (sign * r.val_metric, -(r.n_params or 0), -r.p95_ms, -r.number)
    )


def difference_error(best: TrialRecord, other: TrialRecord) -> float:
    """The standard error of ``best``'s estimate minus ``other``'s, paired; NaN when the two
    were not scored on the same rows.

    Fold-ranked candidates (``--cv``) pair fold by fold
    (:meth:`CrossValidation.standard_error_of_difference`); validation-ranked ones through
    their replicates on the run's shared bootstrap resamples of the validation rows (the
    spread of the replicates' difference is the bootstrap's standard error of it).
    """
    ours, theirs = best.cross_validation, other.cross_validation
    if ours is not None and theirs is not None:
        return ours.standard_error_of_difference(theirs)
    if ours is not None or theirs is not None:
        return float("nan")
    if not best.val_replicates or len(best.val_replicates) != len(other.val_replicates):
        return float("nan")
    diff = np.subtract(best.val_replicates, other.val_replicates)
    diff = diff[np.isfinite(diff)]
    return float(np.std(diff, ddof=1)) if len(diff) >= 2 else float("nan")


def tied(best: TrialRecord, other: TrialRecord, higher_is_better: bool = True) -> bool:
    """Whether ``other``'s estimate is within one standard error of the paired difference
    below ``best``'s (or not below it): the data cannot tell the two apart."""
    gap = Objective(higher_is_better).sign * (best.val_metric - other.val_metric)
    return gap <= 0 or gap <= difference_error(best, other)  # NaN error: never tied


def cheaper_twin(candidates: list[TrialRecord], requirements: Requirements) -> TrialRecord | None:
    """The cheapest candidate meeting ``requirements`` whose estimate is tied with the most
    accurate one's (:func:`tied`) and that is cheaper beyond its own latency noise: the upper
    bound of its p95 (its p95 where none was recorded) is below the pick's p95. ``None``
    when no such candidate exists."""
    best = most_accurate(candidates, requirements)
    if best is None:
        return None
    objective = Objective.of(requirements)
    twins = [
        r
        for r in candidates
        if r is not best
        and meets(r, requirements)
        and (r.p95_high_ms if r.p95_high_ms is not None else r.p95_ms) < best.p95_ms
        and tied(best, r, requirements.higher_is_better)
    ]
    return min(
        twins,
        key=lambda r: (r.p95_ms, -objective.key(r.val_metric), r.n_params or 0, r.number),
        default=None,
    )


def select(
    candidates: list[TrialRecord], requirements: Requirements, prefer: str = "accurate"
) -> TrialRecord | None:
    """The pick under ``requirements``: the one selection rule, used by ``tradeoff search``,
    ``select`` and ``export``, :class:`Run` and the scikit-learn estimators.

    ``prefer="accurate"`` (the default): the most accurate candidate meeting every
    requirement (:func:`most_accurate`). ``prefer="cheaper"``: its cheaper twin
    (:func:`cheaper_twin`) where there is one, else the most accurate.
    """
    check_prefer(prefer)
    best = most_accurate(candidates, requirements)
    if prefer == "cheaper":
        return cheaper_twin(candidates, requirements) or best
    return best


@dataclass(frozen=True)
class Margin:
    """How far a model is inside (``slack`` >= 0) or outside (< 0) one requirement."""

    requirement: str  # the flag, e.g. "--max-latency-ms"
    value: float
    limit: float

    @property
    def slack(self) -> float:
        return self.value - self.limit if self.requirement in _FLOORS else self.limit - self.value


#: The requirements that are floors (a figure above them is inside): throughput, quality.
_FLOORS = {limit.flag for limit in COST_LIMITS.values() if limit.floor} | {"--min-quality"}
#: Each cost requirement's unit, by flag.
_UNITS = {limit.flag: limit.unit for limit in COST_LIMITS.values()}


@dataclass(frozen=True)
class Selection:
    """A re-selection under requirements, explained: the pick, its margins, the next better model."""

    requirements: Requirements
    pick: TrialRecord | None
    margins: tuple[Margin, ...]
    next_better: TrialRecord | None
    needs: tuple[Margin, ...]  # the requirements ``next_better`` breaks, with its values
    #: The most accurate candidate and its cheaper twin (one of them is ``pick``)
    most_accurate: TrialRecord | None = None
    twin: TrialRecord | None = None


def margins(record: TrialRecord, requirements: Requirements) -> tuple[Margin, ...]:
    """``record`` against each requirement that is set (quality only when it was trained)."""
    pairs = [
        (
            limit.flag,
            cost_figure(record, axis, requirements),  # throughput only at the required batch
            getattr(requirements, limit.requirement_field),
        )
        for axis, limit in COST_LIMITS.items()
    ]
    if requirements.higher_is_better:
        pairs.append(("--min-quality", record.val_metric, requirements.min_quality))
    return tuple(Margin(flag, v, limit) for flag, v, limit in pairs if None not in (v, limit))


def explain_selection(
    candidates: list[TrialRecord], requirements: Requirements, prefer: str = "accurate"
) -> Selection:
    """Select under ``requirements`` and say why: margins, the cheaper twin, and what the
    next better model needs.

    The next better model is the trained candidate just above the pick in validation
    quality (the best trained one when nothing fits); re-selection never trains.
    """
    pick = select(candidates, requirements, prefer)
    quality = Objective.of(requirements).key
    trained = [r for r in candidates if r.trained and r.val_metric is not None]
    floor = quality(pick.val_metric) if pick else float("-inf")
    better = [r for r in trained if quality(r.val_metric) > floor and r is not pick]
    if pick is None:
        next_better = max(better, key=lambda r: (quality(r.val_metric), -r.p95_ms), default=None)
    else:
        next_better = min(better, key=lambda r: (quality(r.val_metric), r.p95_ms), default=None)
    needs = ()
    if next_better is not None:
        needs = tuple(m for m in margins(next_better, requirements) if m.slack < 0)
    return Selection(
        requirements,
        pick,
        margins(pick, requirements) if pick else (),
        next_better,
        needs,
        most_accurate(candidates, requirements),
        cheaper_twin(candidates, requirements),
    )


def describe_twin(
    best: TrialRecord, twin: TrialRecord | None, metric: str, picked: TrialRecord | None
) -> str:
    """One line on the most accurate pick's cheaper twin, whichever of the two was picked."""
    if twin is None:
        return "No cheaper candidate is tied with it within noise."
    ratio = best.p95_ms / twin.p95_ms if twin.p95_ms else float("inf")
    if picked is not None and picked.number == twin.number:  # by number: records are re-read
        return (
            f"Picked as the cheaper twin (--prefer cheaper) of #{best.number} ({best.family}), "
            f"validation {metric} {best.val_metric:.4f} at p95 {best.p95_ms:.4f} ms: "
            f"{ratio:.1f}x cheaper, the same quality within noise."
        )
    return (
        f"Same quality within noise: #{twin.number} ({twin.family}), validation {metric} "
        f"{twin.val_metric:.4f} at p95 {twin.p95_ms:.4f} ms, {ratio:.1f}x cheaper "
        "(--prefer cheaper ships it)."
    )


def twin_summary(
    best: TrialRecord | None, twin: TrialRecord | None, metric: str, picked: TrialRecord | None
) -> dict:
    """The twin as every machine-readable answer gives it (``--json``, the card, the report):
    ``cheaper_twin`` (trial, family, val_metric, p95_ms, size_mb, ratio = the most accurate's
    p95 / the twin's; ``None`` without one), which of the two was ``shipped`` and ``why``, and
    the line saying so (:func:`describe_twin`)."""
    shipped = "other"  # a trial chosen by hand (--trial N): neither of the two
    number = None if picked is None else picked.number  # by number: records are re-read
    if best is not None and number == best.number:
        shipped = "most_accurate"
    elif twin is not None and number == twin.number:
        shipped = "cheaper_twin"
    brief = None
    if best is not None and twin is not None:
        brief = {
            "trial": twin.number,
            "family": twin.family,
            "val_metric": twin.val_metric,
            "p95_ms": twin.p95_ms,
            "size_mb": twin.size_mb,
            "ratio": best.p95_ms / twin.p95_ms if twin.p95_ms else None,
        }
    why = {
        "most_accurate": "the most accurate candidate meeting every requirement (--prefer accurate)",
        "cheaper_twin": "--prefer cheaper: the cheapest candidate tied with the most accurate "
        "within noise",
        "other": "chosen by trial number (--trial)",
    }[shipped]
    return {
        "most_accurate": None if best is None else best.number,
        "cheaper_twin": brief,
        "shipped": shipped,
        "why": why,
        "line": None if best is None else describe_twin(best, twin, metric, picked),
    }


def describe_selection(selection: Selection) -> list[str]:
    """A few lines: what was picked, its margins, and what the next better model would need."""
    req, pick, nxt = selection.requirements, selection.pick, selection.next_better
    metric = req.metric

    def unit(flag: str) -> str:
        return f" {_UNITS[flag]}" if flag in _UNITS else ""

    lines = []
    if pick is None:
        lines.append("No trained candidate meets these requirements.")
    else:
        lines.append(
            f"Picked #{pick.number} ({pick.family}): validation {metric} {pick.val_metric:.4f}, "
            f"p95 {pick.p95_ms:.4f} ms, {pick.size_mb:.3f} MB."
        )
        if pick.cross_validation is not None:
            lines.append(f"  validation {metric} is the fold mean: {pick.cross_validation}")
        for m in selection.margins:
            share = f" ({100 * m.slack / m.limit:.0f}% of the limit)" if m.limit else ""
            lines.append(
                f"  {m.requirement} {m.limit:g}: margin {m.slack:.4g}{unit(m.requirement)}{share}"
            )
        if not selection.margins:
            lines.append("  no requirement set: the most accurate trained model overall")
        if selection.most_accurate is not None:
            twin = describe_twin(selection.most_accurate, selection.twin, metric, pick)
            lines.append("  " + twin)
    if nxt is None:
        if pick is not None:
            lines.append(
                "No trained model is better: relaxing the requirements buys nothing known."
            )
        return lines
    gain = nxt.val_metric - (pick.val_metric if pick else 0.0)
    head = "Next better" if pick else "Best recorded"
    needs = (
        ", ".join(f"{m.requirement} {m.value:.4g} (now {m.limit:g})" for m in selection.needs)
        or "nothing more (it fits but ranks lower)"
    )
    change = f" ({gain:+.4f})" if pick else ""
    lines.append(
        f"{head}: #{nxt.number} ({nxt.family}), validation {metric} {nxt.val_metric:.4f}{change}, "
        f"p95 {nxt.p95_ms:.4f} ms, {nxt.size_mb:.3f} MB; it would need {needs}."
    )
    return lines


# The price of each constraint: pure functions over recorded trials, no training.


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``(quality, cost)`` points (higher quality, lower cost) up to ``reference``.

    ``reference`` is (worst quality, worst cost); points outside it add nothing.
    """
    q_ref, c_ref = reference
    inside = sorted((c, q) for q, c in points if q > q_ref and c < c_ref)
    area, best_q = 0.0, q_ref
    for i, (cost, quality) in enumerate(inside):
        best_q = max(best_q, quality)
        next_cost = inside[i + 1][0] if i + 1 < len(inside) else c_ref
        area += (next_cost - cost) * (best_q - q_ref)
    return area

"""The decisions every part after the requirements shares, each written once.

The search, selection, prices, the report and the CLI compare candidates by the same rules:

- **metric direction**: :class:`Objective` says which of two values of the run's metric is
  better (accuracy: the higher; log loss, MAE, RMSE: the lower), so no caller signs a
  metric itself;
- **the cost axes** of :data:`tradeoff.requirements.COST_LIMITS` (latency, size, memory,
  throughput): a record's figure on each (:func:`cost_figures`) and how far it is from each
  limit (:func:`constraint_values`, what the sampler sees); every rule that looks at limits
  iterates over them;
- **fits and Pareto order**: :func:`meets`, :func:`dominates`, :func:`pareto_fronts`.

It works on anything shaped like a trial record (:class:`Measured`), so that it sits below
``records`` and the search alike.

>>> Objective(higher_is_better=False).better(0.3, 0.5)  # log loss: lower is better
True
>>> dominates((0.9, 1.0), (0.8, 1.0))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tradeoff.requirements import COST_LIMITS, Requirements

T = TypeVar("T")


@dataclass(frozen=True)
class Objective:
    """The run's metric as an order: which value is better, and a key that sorts by it.

    >>> Objective(False).best([0.4, 0.2, 0.3])
    0.2
    >>> sorted([0.4, 0.2, 0.3], key=Objective(False).key, reverse=True)  # best first
    [0.2, 0.3, 0.4]
    """

    higher_is_better: bool = True

    @classmethod
    def of(cls, requirements: Requirements) -> Objective:
        return cls(requirements.higher_is_better)

    @property
    def sign(self) -> float:
        """+1 or -1: a value times ``sign`` is higher the better it is."""
        return 1.0 if self.higher_is_better else -1.0

    def key(self, value: float) -> float:
        """``value`` signed so that higher is better (a sort key, a point's quality)."""
        return self.sign * value

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return self.key(a) > self.key(b)

    def best(self, values: Iterable[float]) -> float | None:
        """The best of ``values``; ``None`` when there are none."""
        return max(values, key=self.key, default=None)


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether point ``a`` beats ``b``: (quality, cost) with quality signed so that higher is
    better (:meth:`Objective.key`) and cost lower is better; at least as good on both, strictly
    better on one.

    The one Pareto rule: the front, ensemble members and compression's "worth it" all use it.
    """
    (qa, ca), (qb, cb) = a, b
    return qa >= qb and ca <= cb and (qa > qb or ca < cb)


def pareto_fronts(items: list[T], point: Callable[[T], tuple[float, float]]) -> list[list[T]]:
    """``items`` by Pareto rank on ``point(item)`` = (signed quality, cost): the front first
    (nothing dominates its members), then the front of what is left, and so on.

    >>> pareto_fronts([(0.9, 2.0), (0.8, 1.0), (0.7, 3.0)], lambda p: p)
    [[(0.9, 2.0), (0.8, 1.0)], [(0.7, 3.0)]]
    """
    points = [point(item) for item in items]
    left = list(range(len(items)))
    fronts = []
    while left:
        front = [i for i in left if not any(dominates(points[o], points[i]) for o in left)]
        fronts.append([items[i] for i in front])
        left = [i for i in left if i not in front]
    return fronts


class Measured(Protocol):
    """What the rules read of a candidate: a trial record's figures (``records.TrialRecord``)."""

    trained: bool
    val_metric: float | None
    p95_ms: float | None
    p95_high_ms: float | None
    size_mb: float | None
    inference_rss_mb: float | None
    throughput_rows_per_s: float | None
    throughput_batch: int | None


#: The record field holding each cost axis's point figure.
RECORD_FIELDS = {
    "latency": "p95_ms",
    "size": "size_mb",
    "memory": "inference_rss_mb",
    "throughput": "throughput_rows_per_s",
}
assert RECORD_FIELDS.keys() == COST_LIMITS.keys()  # a new cost axis names its record field


def cost_figure(record: Measured, axis: str, requirements: Requirements) -> float | None:
    """The record's point figure on ``axis`` (throughput only at the batch the requirement
    names: a figure at another batch says nothing about it)."""
    if axis == "throughput" and record.throughput_batch != requirements.batch_for_throughput:
        return None
    return getattr(record, RECORD_FIELDS[axis])


def cost_figures(record: Measured, requirements: Requirements) -> dict[str, float | None]:
    """The record's figure on each cost axis as limits are checked: latency is p95's upper
    bound (a hard limit holds only if the bound is within it), throughput only at the
    required batch."""
    figures = {axis: cost_figure(record, axis, requirements) for axis in COST_LIMITS}
    if record.p95_high_ms is not None:
        figures["latency"] = record.p95_high_ms
    return figures


def meets(record: Measured, requirements: Requirements) -> bool:
    """Whether a trained candidate's recorded cost and quality satisfy ``requirements``.

    A limit holds only where it was measured: a memory limit on a record without a memory
    figure (or a throughput floor without one at the required batch) is not met.
    """
    if not record.trained or record.val_metric is None:
        return False
    figures = cost_figures(record, requirements)
    for axis, limit in COST_LIMITS.items():
        if getattr(requirements, limit.requirement_field) is not None and figures[axis] is None:
            return False
    return not requirements.cost_violations_in(figures) and (
        requirements.quality_violation(record.val_metric) is None
    )


def constraint_values(
    requirements: Requirements, figures: dict[str, float | None], quality: float | None
) -> dict[str, float]:
    """How far a candidate is from each limit, for Optuna's constraints (<= 0: within it).

    One value per cost axis of ``figures`` (latency, size, memory, throughput: a floor, so
    its figure below the limit is the positive distance) and one for quality; an axis without
    a limit, or a figure not measured (``None``), counts as within.
    """
    values = {}
    for axis, limit in COST_LIMITS.items():
        bound, figure = getattr(requirements, limit.requirement_field), figures.get(axis)
        if bound is None or figure is None:
            values[axis] = 0.0
        else:
            values[axis] = bound - figure if limit.floor else figure - bound
    if requirements.min_quality is None or quality is None:
        values["quality"] = 0.0
    else:
        values["quality"] = Objective.of(requirements).key(requirements.min_quality - quality)
    return values

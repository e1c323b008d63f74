"""A finished run opened for reading: its trials, leaderboard, front, pick and counts.

Reads recorded trials only, so this module imports Optuna but not the training stack:
`tradeoff select` must answer in well under 2 s. A run's splits are rebuilt when asked for;
the figures that train again (test estimate, cross-validation, the refit) are
:mod:`tradeoff.evaluate`'s; the selection rule is :mod:`tradeoff.selection`'s.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.artifacts.exceptions import ArtifactNotFound

from tradeoff.errors import TradeoffError
from tradeoff.records import (
    Status,
    TrialRecord,
    Violation,
    artifact_location,
    artifact_store,
    download_to,
    load_run_info,
    open_study,
    trial_records,
)
from tradeoff.requirements import Requirements
from tradeoff.selection import cheaper_twin, pareto_front, select

if TYPE_CHECKING:
    from tradeoff.prepare import Prepared


class Run:
    """A run folder opened for reading: its trials, front and selection (figures that need
    training again, such as the test estimate, are :mod:`tradeoff.evaluate`'s).

    >>> run = Run.open("runs/m1d")  # doctest: +SKIP
    >>> pick = run.select(Requirements(max_latency_ms=0.2))  # doctest: +SKIP
    """

    def __init__(
        self, out: Path, study: optuna.Study, info: dict, prepared: Prepared | None = None
    ):
        self.out, self.study, self.info = out, study, info
        self.requirements = Requirements(**info["requirements"])
        #: The search's own --prefer; runs recorded before it was read as "accurate".
        self.prefer: str = info.get("prefer") or "accurate"
        self._prepared = prepared

    @classmethod
    def open(cls, out: str | os.PathLike, prepared: Prepared | None = None) -> Run:
        out = Path(out)
        if not out.is_dir():
            raise TradeoffError(f"{out}: no such run folder")
        return cls(out, open_study(out), load_run_info(out), prepared)

    @property
    def prepared(self) -> Prepared:
        """The splits, rebuilt from the run description when the run was opened from disk."""
        if self._prepared is None:
            from tradeoff.prepare import prepare_from_description

            self._prepared = prepare_from_description(self.info["prepare"], self.info["seed"])
            if self._prepared.fingerprint() != self.info["prepare"]["fingerprint"]:
                raise TradeoffError(f"{self.out}: the data no longer matches the run's fingerprint")
        return self._prepared

    def trials(self) -> list[TrialRecord]:
        return trial_records(self.study)

    def leaderboard(self):
        """Every trial as a pandas DataFrame, best validation quality first."""
        import pandas as pd

        rows = [
            {
                "trial": r.number,
                "family": r.family,
                "status": r.status,
                f"val_{self.requirements.metric}": r.val_metric,
                "p95_ms": r.p95_ms,
                "size_mb": r.size_mb,
                "params": r.n_params,
                "feasible": r.feasible,
                "train_s": r.train_seconds,
                "why_not": "; ".join(map(str, r.violations)) or (r.error or ""),
                "config": {**r.params, **r.strategy},
            }
            for r in self.trials()
        ]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        metric = f"val_{self.requirements.metric}"
        return frame.sort_values(
            [metric, "p95_ms"],
            ascending=[not self.requirements.higher_is_better, True],
            na_position="last",
        ).reset_index(drop=True)

    def front(self) -> list[TrialRecord]:
        return pareto_front(self.trials(), self.requirements.higher_is_better)

    def select(
        self, requirements: Requirements | None = None, prefer: str | None = None
    ) -> TrialRecord | None:
        """Re-select under ``requirements`` and ``prefer`` (default: the run's own) without
        training anything."""
        return select(self.trials(), requirements or self.requirements, prefer or self.prefer)

    def cheaper_twin(self, requirements: Requirements | None = None) -> TrialRecord | None:
        """The most accurate pick's cheaper twin under ``requirements`` (see :func:`cheaper_twin`)."""
        return cheaper_twin(self.trials(), requirements or self.requirements)

    def counts(self) -> dict:
        from tradeoff.families import get_family

        trials = self.trials()
        return {
            "trials": len(trials),
            "trained": sum(r.trained for r in trials),
            "feasible": sum(r.feasible for r in trials),
            "infeasible": sum(r.status is Status.INFEASIBLE for r in trials)
            + sum(r.trained and not r.feasible for r in trials),
            "infeasible_untrained": sum(r.status is Status.INFEASIBLE for r in trials),
            "pruned": sum(r.status is Status.PRUNED for r in trials),
            "skipped": sum(r.status is Status.SKIPPED for r in trials),
            "failed": sum(r.status is Status.FAILED for r in trials),
            "train_seconds": sum(r.train_seconds for r in trials),
            "train_seconds_on_cost_infeasible": sum(
                r.train_seconds for r in trials if r.status is Status.INFEASIBLE
            ),
            # Of which: families whose cost is known only once built (gbdt is fitted, an
            # ensemble combined), so they are built first.
            "fit_seconds_before_cost_known": sum(
                r.train_seconds
                for r in trials
                if r.status is Status.INFEASIBLE
                and r.family
                and not get_family(r.family).builds_network
            ),
            # Networks trained although they miss a cost limit, for compression to rescue.
            "train_seconds_on_near_misses": sum(
                r.train_seconds
                for r in trials
                if r.trained and r.parent_trial is None and _cost_violations(r)
            ),
        }

    def artifact_path(self, record: TrialRecord, directory: str) -> str:
        """Download a trained trial's ONNX model into ``directory``; returns its path."""
        if record.artifact_id is None:
            raise TradeoffError(
                f"trial {record.number} has no model artifact (status {record.status})"
            )
        path = os.path.join(directory, f"trial-{record.number}.onnx")
        self.download(record.artifact_id, path, f"the model file of trial {record.number}")
        return path

    def download(self, artifact_id: str, path: str, what: str) -> None:
        """Copy one artifact of the run's store to ``path``; a missing one is a one-line error."""
        location = artifact_location(self.out, self.info)
        try:
            download_to(artifact_store(location), artifact_id, path)
        except ArtifactNotFound:
            raise TradeoffError(f"{location}: {what} is missing") from None

    def keep(self, key: str, figure: dict) -> None:
        """Record a figure in the study so that it is computed once. A study that cannot be
        written (a read-only run folder) is left as it is: the figure is the same when
        computed again (fixed seeds)."""
        with contextlib.suppress(optuna.exceptions.StorageInternalError):
            self.study.set_user_attr(key, figure)


def _cost_violations(record: TrialRecord) -> list[Violation]:
    return [v for v in record.violations if v.is_cost]

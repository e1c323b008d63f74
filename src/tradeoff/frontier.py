"""The Pareto front, selection under requirements, and a finished run opened for reading."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import optuna
from optuna.artifacts import download_artifact

from tradeoff.datasets import load
from tradeoff.errors import TradeoffError
from tradeoff.measure import Estimate, bootstrap_accuracy
from tradeoff.prepare import Prepared, prepare
from tradeoff.requirements import Requirements
from tradeoff.search import TrialRecord, load_run_info, open_study, records
from tradeoff.search.study import artifact_store
from tradeoff.search.trial import predict_classes


def pareto_front(candidates: list[TrialRecord], higher_is_better: bool = True) -> list[TrialRecord]:
    """Trained candidates no other trained candidate beats on both quality and p95 latency.

    Sorted by latency, fastest first.
    """
    trained = [r for r in candidates if r.trained and r.val_metric is not None]
    sign = 1.0 if higher_is_better else -1.0

    def dominates(a: TrialRecord, b: TrialRecord) -> bool:
        qa, qb = sign * a.val_metric, sign * b.val_metric
        return qa >= qb and a.p95_ms <= b.p95_ms and (qa > qb or a.p95_ms < b.p95_ms)

    front = [r for r in trained if not any(dominates(o, r) for o in trained)]
    return sorted(front, key=lambda r: r.p95_ms)


def meets(record: TrialRecord, requirements: Requirements) -> bool:
    """Whether a trained candidate's recorded cost and quality satisfy ``requirements``."""
    if not record.trained or record.val_metric is None:
        return False
    # A hard latency limit holds only if the upper bound of p95 is within it.
    p95_ms = record.p95_high_ms if record.p95_high_ms is not None else record.p95_ms
    return not requirements.cost_violations(p95_ms, record.size_mb) and (
        requirements.quality_violation(record.val_metric) is None
    )


def select(candidates: list[TrialRecord], requirements: Requirements) -> TrialRecord | None:
    """The most accurate candidate meeting ``requirements`` (ties: the faster one)."""
    fitting = [r for r in candidates if meets(r, requirements)]
    if not fitting:
        return None
    sign = 1.0 if requirements.higher_is_better else -1.0
    return max(fitting, key=lambda r: (sign * r.val_metric, -r.p95_ms))


class Run:
    """A run folder opened for reading: its trials, front, selection and test figures.

    >>> run = Run.open("runs/m1d")  # doctest: +SKIP
    >>> pick = run.select(Requirements(max_latency_ms=0.2))  # doctest: +SKIP
    """

    def __init__(
        self, out: Path, study: optuna.Study, info: dict, prepared: Prepared | None = None
    ):
        self.out, self.study, self.info = out, study, info
        self.requirements = Requirements(**info["requirements"])
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
            data = load(self.info["dataset"], seed=self.info["seed"])
            self._prepared = prepare(data, seed=self.info["seed"])
            if self._prepared.fingerprint() != self.info["prepare"]["fingerprint"]:
                raise TradeoffError(f"{self.out}: the data no longer matches the run's fingerprint")
        return self._prepared

    def trials(self) -> list[TrialRecord]:
        return records(self.study)

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
                "why_not": "; ".join(r.violations) or (r.error or ""),
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

    def select(self, requirements: Requirements | None = None) -> TrialRecord | None:
        """Re-select under ``requirements`` (default: the run's own) without training anything."""
        return select(self.trials(), requirements or self.requirements)

    def counts(self) -> dict:
        trials = self.trials()
        return {
            "trials": len(trials),
            "trained": sum(r.trained for r in trials),
            "feasible": sum(r.feasible for r in trials),
            "infeasible": sum(r.status == "infeasible" for r in trials)
            + sum(r.trained and not r.feasible for r in trials),
            "infeasible_untrained": sum(r.status == "infeasible" for r in trials),
            "failed": sum(r.status == "failed" for r in trials),
            "train_seconds": sum(r.train_seconds for r in trials),
            "train_seconds_on_cost_infeasible": sum(
                r.train_seconds for r in trials if r.status == "infeasible"
            ),
        }

    def artifact_path(self, record: TrialRecord, directory: str) -> str:
        if record.artifact_id is None:
            raise TradeoffError(
                f"trial {record.number} has no model artifact (status {record.status})"
            )
        path = os.path.join(directory, f"trial-{record.number}.onnx")
        download_artifact(
            artifact_store=artifact_store(self.out), file_path=path, artifact_id=record.artifact_id
        )
        return path

    def test_estimate(self, record: TrialRecord) -> Estimate:
        """The pick's quality on the held-out test split, computed once and kept in the study."""
        key = f"test:{record.number}"
        stored = self.study.user_attrs.get(key)
        if stored is not None:
            return Estimate(**stored)
        prepared = self.prepared
        with tempfile.TemporaryDirectory() as tmp:
            predictions = predict_classes(self.artifact_path(record, tmp), prepared.X_test)
        estimate = bootstrap_accuracy(prepared.y_test, predictions, split="test")
        self.study.set_user_attr(key, estimate.__dict__)
        return estimate

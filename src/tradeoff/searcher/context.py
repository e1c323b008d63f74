"""TrialContext: what every trial of one search shares (the splits, the requirements, the store)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from optuna.artifacts import FileSystemArtifactStore

from tradeoff.measure import LatencyProtocol
from tradeoff.measure.quality import replicates, score
from tradeoff.measure.remote import Target
from tradeoff.prepare import Prepared
from tradeoff.requirements import Requirements
from tradeoff.searcher.halving import Halving
from tradeoff.searcher.settings import CompressionSettings
from tradeoff.searcher.workers import CostLock
from tradeoff.train import DEFAULT_MAX_EPOCHS


@dataclass
class TrialContext:
    """Everything a trial needs that is the same for the whole search."""

    prepared: Prepared
    requirements: Requirements  # metric resolved for the task
    families: list[str]
    artifact_store: FileSystemArtifactStore
    protocol: LatencyProtocol
    seed: int
    deadline: float  # time.monotonic() instant at which training stops
    on_epoch: object = None  # optional callable(trial_number, epoch, point)
    halving: Halving | None = None  # None: every trial trains until early stopping
    max_epochs: int = DEFAULT_MAX_EPOCHS
    cost_lock: CostLock = field(default_factory=CostLock)
    compression: CompressionSettings | None = None  # None: no compression
    targets: tuple[Target, ...] = ()  # measure cost on these agents (none: on this machine)
    #: architecture_key -> (trial that measured it, its Latency), filled as trials run
    latency_cache: dict = field(default_factory=dict)
    #: Rank on the mean over ``prepared.folds`` instead of the validation split (--cv)
    cv_ranking: bool = False

    def score(self, y_true: np.ndarray, outputs: np.ndarray) -> float:
        return score(self.requirements.metric, y_true, outputs)

    def val_replicates(self, outputs: np.ndarray) -> list[float]:
        """The metric of validation ``outputs`` on the run's bootstrap resamples of the
        validation rows, the same resamples for every trial (selection's noise: ``tied``)."""
        samples = replicates(self.requirements.metric, self.prepared.y_val, outputs)
        return [round(float(v), 6) for v in samples]

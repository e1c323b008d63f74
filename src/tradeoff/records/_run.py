"""RunSettings: what a run was searched with, as recorded in its study and in run.json."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tradeoff.records._storage import ARTIFACT_DIR, SCHEMA_VERSION, STUDY_NAME


@dataclass(frozen=True)
class RunSettings:
    """The description of a run: everything needed to resume it, join it or read it back.

    Written once when a run starts (:func:`tradeoff.records.write_run_info` and the study's
    user attributes); a resumed search or a joining worker searches exactly as it began.
    Keys this version does not know (written by a newer one) are kept in ``extra``.
    """

    dataset: str
    requirements: dict
    families: tuple[str, ...]
    seed: int
    prepare: dict
    latency_protocol: dict
    max_epochs: int | None = None  # None: a run recorded before max_epochs was
    #: Candidates ranked on the fold mean of cross-validation (``--cv``), not validation
    cv_ranking: bool = False
    halving: dict | None = None
    compression: dict | None = None
    requirements_origin: dict | None = None  # how derived requirements were set (the demo's)
    #: Which of the most accurate pick and its cheaper twin ``--prefer`` ships by default
    prefer: str = "accurate"
    objectives: tuple[str, ...] = ()
    storage: str = ""
    study: str = STUDY_NAME
    artifacts: str = ARTIFACT_DIR
    #: Where cost is measured: each target's URL and machine (its agent's /info), no token.
    targets: tuple[dict, ...] = ()
    #: The run folder's layout and record version (:data:`SCHEMA_VERSION`); 0: written before
    #: versions were (those runs read as version 1 does).
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        info = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        info["families"] = list(self.families)
        info["objectives"] = list(self.objectives)
        info["targets"] = list(self.targets)
        return {**info, **self.extra}

    @classmethod
    def from_dict(cls, info: dict) -> RunSettings:
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in info.items() if k in known}
        kwargs["families"] = tuple(kwargs.get("families", ()))
        kwargs["objectives"] = tuple(kwargs.get("objectives", ()))
        kwargs["targets"] = tuple(kwargs.get("targets", ()))
        kwargs.setdefault("schema_version", 0)
        return cls(**kwargs, extra={k: v for k, v in info.items() if k not in known})


def trial_seed(run_seed: int, trial_number: int) -> int:
    """The seed trial ``trial_number`` of a run seeded ``run_seed`` trains with: the one formula
    the search, cross-validation (which must reproduce a trial) and compression passes share."""
    return run_seed * 100_003 + trial_number

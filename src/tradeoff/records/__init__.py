"""A run's records: the typed trial record and the run folder's storage.

Written by :mod:`tradeoff.searcher`, read by everything after it (selection, prices, the report,
export, the CLI), which never import the search: selection reads records, not the optimizer.
Names load on first use (:mod:`tradeoff._lazy`): the records need Optuna, never PyTorch, and
writing a file atomically (``write_atomic``) needs neither.
"""

import importlib

from tradeoff._lazy import lazy_names

_WHERE = {
    "AtomicArtifactStore": "_artifacts",
    "artifact_store": "_artifacts",
    "download_to": "_artifacts",
    "fetch_artifact": "_artifacts",
    "store_artifact": "_artifacts",
    "CrossValidation": "_cv",
    "write_atomic": "_files",
    "RunSettings": "_run",
    "trial_seed": "_run",
    "ARTIFACT_DIR": "_storage",
    "SCHEMA_VERSION": "_storage",
    "GRACE_S": "_storage",
    "HEARTBEAT_S": "_storage",
    "RUN_FILE": "_storage",
    "STUDY_FILE": "_storage",
    "STUDY_NAME": "_storage",
    "artifact_location": "_storage",
    "check_writable": "_storage",
    "load_run_info": "_storage",
    "make_storage": "_storage",
    "open_study": "_storage",
    "redact_password": "_storage",
    "run_storage_url": "_storage",
    "storage_url": "_storage",
    "write_run_info": "_storage",
    "Status": "_trial",
    "TrialRecord": "_trial",
    "trial_records": "_trial",
    "Violation": "_trial",  # defined in tradeoff.requirements, re-exported with the record
}

__all__ = sorted(_WHERE)

_lazy = lazy_names(__name__, {name: f"tradeoff.records.{m}" for name, m in _WHERE.items()})


def __getattr__(name: str):
    if name == "attrs":  # the submodule of user-attribute names
        # import_module, not ``from tradeoff.records import attrs``: that looks the name up
        # here again before the submodule is loaded, and recursed without end.
        return importlib.import_module("tradeoff.records.attrs")
    return _lazy(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

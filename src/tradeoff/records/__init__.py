"""A run's records: the typed trial record and the run folder's storage.

Written by :mod:`tradeoff.search`, read by everything after it (selection, prices, the report,
export, the CLI), which never import the search: selection reads records, not the optimizer.
Needs Optuna, never PyTorch, so that reading a finished run starts fast.
"""

from tradeoff.records._artifacts import (
    AtomicArtifactStore,
    artifact_store,
    download_to,
    fetch_artifact,
    store_artifact,
    write_atomic,
)
from tradeoff.records._run import RunSettings, trial_seed
from tradeoff.records._storage import (
    ARTIFACT_DIR,
    GRACE_S,
    HEARTBEAT_S,
    RUN_FILE,
    STUDY_FILE,
    STUDY_NAME,
    artifact_location,
    check_writable,
    load_run_info,
    make_storage,
    open_study,
    redact_password,
    storage_url,
    write_run_info,
)
from tradeoff.records._trial import Status, TrialRecord, dominates, trial_records
from tradeoff.requirements import Violation

__all__ = [
    "ARTIFACT_DIR",
    "GRACE_S",
    "HEARTBEAT_S",
    "RUN_FILE",
    "STUDY_FILE",
    "STUDY_NAME",
    "AtomicArtifactStore",
    "RunSettings",
    "Status",
    "TrialRecord",
    "Violation",
    "artifact_location",
    "artifact_store",
    "check_writable",
    "dominates",
    "download_to",
    "fetch_artifact",
    "load_run_info",
    "make_storage",
    "open_study",
    "redact_password",
    "storage_url",
    "store_artifact",
    "trial_records",
    "trial_seed",
    "write_atomic",
    "write_run_info",
]

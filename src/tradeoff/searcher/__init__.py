"""The search: an Optuna study over families x training strategies, cost-screened before training.

What a search writes (trial records, the run folder) lives in :mod:`tradeoff.records`, which
what comes after the search reads; the record names are re-exported here for older callers.
``run_search`` and ``SearchSettings`` load the training stack (PyTorch) on first use.
"""

from tradeoff._lazy import lazy_names
from tradeoff.records import TrialRecord, load_run_info, open_study, trial_records
from tradeoff.searcher.budget import parse_duration

records = trial_records  # the name before tradeoff.records existed

__all__ = [
    "SearchSettings",
    "TrialRecord",
    "load_run_info",
    "open_study",
    "parse_duration",
    "records",
    "run_search",
]

__getattr__ = lazy_names(
    __name__,
    {"SearchSettings": "tradeoff.searcher.settings", "run_search": "tradeoff.searcher.study"},
)

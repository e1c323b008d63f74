"""The search: an Optuna study over families x training strategies, cost-screened before training."""

from tradeoff.search.budget import parse_duration
from tradeoff.search.record import TrialRecord, records
from tradeoff.search.study import (
    SearchSettings,
    load_run_info,
    open_study,
    run_search,
)

__all__ = [
    "SearchSettings",
    "TrialRecord",
    "load_run_info",
    "open_study",
    "parse_duration",
    "records",
    "run_search",
]

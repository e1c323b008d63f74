"""The search: an Optuna study over families x training strategies, cost-screened before training.

Reading a finished run needs only the light names; ``run_search`` and ``SearchSettings``
load the training stack (PyTorch) on first use, so `tradeoff select` starts fast.
"""

from tradeoff.search.budget import parse_duration
from tradeoff.search.record import TrialRecord, records
from tradeoff.search.storage import load_run_info, open_study

_FROM_STUDY = ("SearchSettings", "run_search")

__all__ = [
    "SearchSettings",
    "TrialRecord",
    "load_run_info",
    "open_study",
    "parse_duration",
    "records",
    "run_search",
]


def __getattr__(name: str):
    if name in _FROM_STUDY:
        from tradeoff.search import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

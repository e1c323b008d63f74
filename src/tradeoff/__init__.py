"""tradeoff: find the most accurate model your deployment can afford.

>>> import tradeoff
>>> req = tradeoff.Requirements(max_latency_ms=0.2, max_size_mb=1.0)
>>> run = tradeoff.search("mnist1d", req, out="runs/m1d", time_budget="2m")  # doctest: +SKIP
>>> pick = run.select(req)  # doctest: +SKIP
>>> tradeoff.export(run, "model/")  # doctest: +SKIP
>>> tradeoff.load("model/").predict(X)  # doctest: +SKIP
"""

from importlib import import_module

from tradeoff._install import require_full_install
from tradeoff._lazy import lazy_names
from tradeoff.errors import TradeoffError
from tradeoff.requirements import Requirements

__version__ = "0.1.0"
__all__ = [
    "Predictor",
    "Requirements",
    "Run",
    "TradeoffClassifier",
    "TradeoffError",
    "TradeoffRegressor",
    "datasets",
    "export",
    "load",
    "search",
]

#: Public names imported on first use (PEP 562), and where from: reading a finished run
#: or printing --help should not pay for PyTorch and scikit-learn. The parts defining
#: ``search`` and ``export`` are named ``searcher`` and ``exporter``, so that importing
#: them never hides these functions.
_LAZY = {
    "Predictor": "tradeoff.bundle",
    "Run": "tradeoff.frontier",
    "TradeoffClassifier": "tradeoff.estimator",
    "TradeoffRegressor": "tradeoff.estimator",
    "export": "tradeoff.exporter",
    "load": "tradeoff.bundle",
    "search": "tradeoff._api",
}


_lazy = lazy_names(__name__, _LAZY)


def __getattr__(name: str):
    if name in _LAZY or name == "datasets":
        require_full_install(f"tradeoff.{name}")
    if name == "datasets":
        return import_module("tradeoff.datasets")
    return _lazy(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

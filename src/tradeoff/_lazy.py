"""The one lazy-import mechanism of the package (PEP 562 module ``__getattr__``).

Reading a finished run or printing ``--help`` should not pay for PyTorch and scikit-learn, so
a package names what it exports and where it comes from, and the module is imported on the
name's first use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``where[name]`` on first use of
    ``name`` and keeps the value in the package, so the next access costs nothing.

    >>> __getattr__ = lazy_names(__name__, {"Run": "tradeoff.frontier"})  # doctest: +SKIP
    """

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

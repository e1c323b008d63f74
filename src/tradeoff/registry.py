"""The one registry of plug-ins found by name: model families, compression passes, metrics.

A built-in plug-in registers itself with a decorator when its module is imported (as models
do in timm). A third party's package adds its own without touching tradeoff, through an
entry point in its ``pyproject.toml`` (as pytest plug-ins do); entry points are loaded on
the first look-up:

.. code-block:: toml

    [project.entry-points."tradeoff.families"]
    centroid = "my_package.centroid:NearestCentroid"

A name registered twice by two different plug-ins is refused, naming both.

>>> passes = Registry("compression pass", "--passes")
>>> passes.register("noop", object) is object
True
>>> passes.names()
['noop']
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from tradeoff.errors import TradeoffError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one kind by name; ``group``: the entry-point group third parties add to.

    ``named``: the registered object (a class) is told its name (``cls.name``), as the
    family and pass classes expect.
    """

    def __init__(self, what: str, flag: str, group: str | None = None, *, named: bool = False):
        self.what, self.flag, self.group, self.named = what, flag, group, named
        self._entries: dict[str, T] = {}
        self._loaded = group is None

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; registering the same object again changes nothing."""
        existing = self._entries.get(name)
        if existing is not None and existing is not entry:
            raise TradeoffError(
                f"{self.what} {name!r} is registered twice: by {_origin(existing)} "
                f"and by {_origin(entry)}; rename one of them"
            )
        if self.named:
            entry.name = name
        self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """Every registered name, sorted (third parties' included)."""
        self._load()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._entries.items()))

    def get(self, name: str) -> T:
        """The entry under ``name``; an unknown name is the user's error, naming the flag."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names())
            raise TradeoffError(
                f"{self.flag}: unknown {self.what} {name!r}; known: {known}"
            ) from None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: a plug-in's module may look names up while it loads
        for point in entry_points(group=self.group):
            try:
                entry = point.load()
            except Exception as error:  # a broken plug-in is named, not a bare traceback
                raise TradeoffError(
                    f"{self.what} {point.name!r} from entry point {point.value!r} "
                    f"({self.group}) failed to load: {type(error).__name__}: {error}"
                ) from error
            self.register(point.name, entry)


def _origin(entry: object) -> str:
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', entry)!s}"

"""The command line: thin Typer commands over the library. One module per command group.

Importing a command module registers its commands on ``app``.
"""

from tradeoff.cli import bench as _bench  # noqa: F401
from tradeoff.cli import export as _export  # noqa: F401
from tradeoff.cli import report as _report  # noqa: F401
from tradeoff.cli import search as _search  # noqa: F401
from tradeoff.cli import workers as _workers  # noqa: F401
from tradeoff.cli._app import app

__all__ = ["app"]

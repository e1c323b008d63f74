"""The command line: thin Typer commands over the library. One module per command group.

Importing a command module registers its commands on ``app``. ``main`` imports only the
module of the command asked for, so that a quick command (`tradeoff select`) does not
pay for PyTorch; a bare `tradeoff` or `tradeoff --help` loads them all to list them.
"""

import sys
from importlib import import_module

from tradeoff._install import require_full_install
from tradeoff.errors import TradeoffError

#: Each command, and the module of ``tradeoff.cli`` that defines it.
COMMANDS = {
    "demo": "search",
    "search": "search",
    "families": "search",
    "datasets": "search",
    "worker": "workers",
    "export": "export",
    "predict": "export",
    "serve": "export",
    "report": "report",
    "select": "report",
    "bench": "bench",
    "agent": "agent",
}

__all__ = ["COMMANDS", "app", "main"]


def load_commands(argv: list[str] | None = None):
    """The Typer app with the command named in ``argv`` registered (every command if none is)."""
    command = next((arg for arg in argv or [] if not arg.startswith("-")), None)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        import_module(f"tradeoff.cli.{module}")
    from tradeoff.cli._app import app

    return app


def main() -> None:
    """The `tradeoff` command."""
    argv = sys.argv[1:]
    if argv[:1] == ["agent"]:  # on a target: NumPy, ONNX Runtime, FastAPI only (no Typer)
        from tradeoff.agent import main as agent_main

        agent_main(argv[1:])
        return
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    try:
        require_full_install(f"tradeoff {command}" if command in COMMANDS else "tradeoff")
    except TradeoffError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    load_commands(argv)(prog_name="tradeoff")


def __getattr__(name: str):
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

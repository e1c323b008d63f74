"""The command line: thin Typer commands over the library. One module per command group.

Importing a command module registers its commands on ``app``. ``main`` imports only the
module of the command asked for, so that a quick command (`tradeoff select`) does not
pay for PyTorch; a bare `tradeoff` or `tradeoff --help` loads them all to list them.
"""

import sys
from importlib import import_module

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
    load_commands(argv)(prog_name="tradeoff")


def __getattr__(name: str):
    if name == "app":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

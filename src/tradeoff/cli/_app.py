"""The Typer app, its consoles, and how a user mistake becomes one line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from tradeoff.errors import TradeoffError

app = typer.Typer(
    help="Find the most accurate model your deployment can afford.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
#: The width of output that is not a terminal's (a CI log, `| grep`, `| tee`): nothing to fit,
#: so that no table is squeezed to Rich's default 80 columns, which cut names short ("fashio…").
PIPED_WIDTH = 10_000


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)


out_console = _console()
err_console = _console(stderr=True)


#: ``--prefer``, on every command that selects (search, select, export).
PREFER_HELP = (
    "Which answer to ship: accurate (the most accurate candidate meeting every requirement) "
    "or cheaper (its cheaper twin: the cheapest candidate tied with it within noise)."
)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def agent_urls(agents: list[str] | None, legacy: list[str] | None) -> list[str]:
    """The agents to measure on: the ``--agent`` values, then ``legacy``, the values meant as
    agents but given with the old spelling ``--target URL`` (kept for one release), each of
    those with a deprecation line on stderr."""
    for url in legacy or []:
        err_console.print(
            f"warning: `--target {url}` for an agent is deprecated and goes in the next "
            f"release; write `--agent {url}` (--target is the column to predict)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    return [*(agents or []), *(legacy or [])]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a TradeoffError raised inside the block into one line and exit 2."""
    try:
        yield
    except TradeoffError as error:
        fail(str(error))


def _print_version(value: bool) -> None:
    if value:
        from tradeoff import __version__

        out_console.print(f"tradeoff {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Find the most accurate model your deployment can afford."""

"""`tradeoff agent`: listed here for `tradeoff --help`; ``tradeoff.cli.main`` hands the
command to :func:`tradeoff.agent.main` before Typer loads, so the agent needs no Typer."""

from __future__ import annotations

import typer

from tradeoff.cli._app import app


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def agent(ctx: typer.Context) -> None:
    """On a deployment target: measure the cost of ONNX models sent to it (see --help)."""
    from tradeoff.agent import main

    main(ctx.args)

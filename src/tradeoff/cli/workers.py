"""`tradeoff worker`: join a shared study from any machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeoff.cli._app import app, out_console, user_errors
from tradeoff.searcher import parse_duration
from tradeoff.searcher.optimize import run_worker


@app.command()
def worker(
    storage: Annotated[str, typer.Option(help="The study's storage URL (e.g. postgresql://...).")],
    study: Annotated[str, typer.Option(help="The study's name (`run.json` of the run says it).")],
    time_budget: Annotated[str | None, typer.Option(help="Wall-clock budget, e.g. 30m.")] = "1h",
    trials: Annotated[
        int | None, typer.Option(help="Stop once this many more trials have finished.")
    ] = None,
    artifacts: Annotated[
        Path | None, typer.Option(help="Shared artifact folder, if mounted elsewhere here.")
    ] = None,
    stop_at_trials: Annotated[
        int | None,
        typer.Option(help="Stop once the study holds this many finished trials.", hidden=True),
    ] = None,
    workers_on_host: Annotated[
        int, typer.Option(help="Workers on this machine (training threads are shared out).")
    ] = 1,
) -> None:
    """Run trials for an existing study, e.g. one created with `tradeoff search --storage URL`."""
    with user_errors():
        budget = parse_duration(time_budget) if time_budget else None
        result = run_worker(
            storage,
            study,
            time_budget_s=budget,
            n_trials=trials,
            stop_at=stop_at_trials,
            artifacts=str(artifacts) if artifacts else None,
            workers_on_host=workers_on_host,
        )
    out_console.print(f"worker done: the study now holds {len(result.trials)} trials")

"""`tradeoff report` (the HTML report) and `tradeoff select` (what-if re-selection, no training)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated

import typer

from tradeoff.cli._app import PREFER_HELP, app, out_console, user_errors
from tradeoff.errors import TradeoffError
from tradeoff.frontier import Run
from tradeoff.price import describe_price, price_of_constraint, priced_axes
from tradeoff.records import TrialRecord
from tradeoff.requirements import Requirements, check_prefer
from tradeoff.selection import describe_selection, explain_selection, twin_summary

#: What `--drop` can remove from the run's requirements, and the field it clears.
DROPPABLE = {
    "latency": "max_latency_ms",
    "size": "max_size_mb",
    "memory": "max_memory_mb",
    "throughput": "min_throughput",
    "quality": "min_quality",
}


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="Run folder written by `tradeoff search`.")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write (default: RUN/report.html).")
    ] = None,
) -> None:
    """Write RUN/report.html: Pareto front, price of each constraint, leaderboard, the pick in detail.

    One self-contained file (Plotly inlined) that opens offline. Nothing is trained;
    the pick's artifact is re-measured for its latency distribution.
    """
    from tradeoff.report import build_report  # plotly is only needed here

    with user_errors():
        if out is not None and out.is_dir():
            raise TradeoffError(f"--out: {out} is a folder; give an .html file path")
        opened = Run.open(run)
        with out_console.status("building the report (test split, latency re-measure)"):
            path = build_report(opened, out)
    out_console.print(f"report written: {path}", highlight=False)


@app.command("select")
def select_command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `tradeoff search`.")],
    max_latency_ms: Annotated[
        float | None,
        typer.Option(help="What-if limit on p95 latency (ms); default: the run's own."),
    ] = None,
    max_size_mb: Annotated[
        float | None,
        typer.Option(help="What-if limit on the ONNX size (MB); default: the run's own."),
    ] = None,
    min_quality: Annotated[
        float | None,
        typer.Option(help="What-if minimum validation quality; default: the run's own."),
    ] = None,
    max_memory_mb: Annotated[
        float | None,
        typer.Option(
            help="What-if limit on inference memory (MB); only candidates whose memory was "
            "measured (a run searched with --max-memory-mb or --agent) can meet it."
        ),
    ] = None,
    min_throughput: Annotated[
        float | None,
        typer.Option(
            help="What-if floor on throughput (rows/s) at the batch the run measured it at."
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="Quality metric; must be one the run recorded.")
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            help="Drop a requirement of the run: latency, size, memory, throughput or quality "
            "(repeatable)."
        ),
    ] = None,
    prefer: Annotated[
        str | None, typer.Option(help=PREFER_HELP + " Default: the run's own.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Re-select from the recorded trials under new requirements, without training anything.

    Requirements not given keep the run's values. Explains what was picked, its margins
    against each requirement, and what the next better model would need.
    """
    with user_errors():
        opened = Run.open(run)
        req = what_if(
            opened,
            max_latency_ms,
            max_size_mb,
            min_quality,
            metric,
            drop or [],
            max_memory_mb=max_memory_mb,
            min_throughput=min_throughput,
        )
        records = opened.trials()
        prefer = check_prefer(prefer or opened.prefer)
        selection = explain_selection(records, req, prefer)
        lines = describe_selection(selection)
        prices = [
            describe_price(price_of_constraint(records, req, a), req.metric)
            for a in priced_axes(records, req)
        ]
        test = None
        if selection.pick is not None:
            # Only a test figure already computed after selection is shown: never a new look.
            test = opened.study.user_attrs.get(f"test:{selection.pick.number}")
    if as_json:
        print(json.dumps(_as_json(opened, selection, lines, prices, test, prefer), indent=2))
        return
    for line in lines:
        out_console.print(line, highlight=False)
    if test is not None:
        out_console.print(
            f"  test {req.metric} (computed earlier): {test['value']:.4f} "
            f"[95% CI {test['low']:.4f}, {test['high']:.4f}]",
            highlight=False,
        )
    for sentence in prices:
        out_console.print(sentence[0].upper() + sentence[1:], highlight=False)


def what_if(
    run: Run,
    max_latency_ms: float | None,
    max_size_mb: float | None,
    min_quality: float | None,
    metric: str | None,
    drop: list[str],
    *,
    max_memory_mb: float | None = None,
    min_throughput: float | None = None,
) -> Requirements:
    """The run's requirements with the given flags replacing (or dropping) its values."""
    base = run.requirements
    if metric is not None and metric != base.metric:
        Requirements(metric=metric)  # an unknown metric fails here, naming --metric
        raise TradeoffError(
            f"--metric: {run.out} recorded validation {base.metric} only, not {metric!r}"
        )
    changes = {
        k: v
        for k, v in (
            ("max_latency_ms", max_latency_ms),
            ("max_size_mb", max_size_mb),
            ("min_quality", min_quality),
            ("max_memory_mb", max_memory_mb),
            ("min_throughput", min_throughput),
        )
        if v is not None
    }
    for name in drop:
        if name not in DROPPABLE:
            raise TradeoffError(f"--drop: expected one of {', '.join(DROPPABLE)}, got {name!r}")
        if DROPPABLE[name] in changes:
            raise TradeoffError(
                f"--drop {name}: conflicts with --{DROPPABLE[name].replace('_', '-')}"
            )
        changes[DROPPABLE[name]] = None
    if "min_throughput" in changes and changes["min_throughput"] is None:
        changes["throughput_batch"] = None
    return replace(base, **changes)


def _brief(r: TrialRecord | None) -> dict | None:
    if r is None:
        return None
    keys = ("number", "family", "val_metric", "p95_ms", "p50_ms", "size_mb", "n_params")
    keys += ("inference_rss_mb", "throughput_rows_per_s", "throughput_batch")
    return {k: getattr(r, k) for k in keys} | {"params": r.params, "strategy": r.strategy}


def _as_json(run: Run, selection, lines: list[str], prices: list[str], test, prefer: str) -> dict:
    twin = twin_summary(
        selection.most_accurate, selection.twin, selection.requirements.metric, selection.pick
    )
    return {
        "run": str(run.out),
        "requirements": selection.requirements.to_dict(),
        "prefer": prefer,
        "pick": _brief(selection.pick),
        "cheaper_twin": twin["cheaper_twin"],
        "shipped": twin["shipped"],
        "test_estimate": test,
        "margins": [asdict(m) | {"slack": m.slack} for m in selection.margins],
        "next_better": _brief(selection.next_better),
        "next_better_needs": [asdict(m) for m in selection.needs],
        "explanation": lines,
        "price_of_constraints": prices,
        "trials": len(run.trials()),
    }

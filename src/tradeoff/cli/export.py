"""`tradeoff export`, `tradeoff predict` and `tradeoff serve`: the pick leaves the search."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from tradeoff.bundle import Predictor, softmax
from tradeoff.cli._app import PREFER_HELP, app, err_console, out_console, user_errors
from tradeoff.errors import TradeoffError
from tradeoff.records import write_atomic


@app.command("export")
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `tradeoff search`.")],
    out: Annotated[
        Path, typer.Option(help="Bundle folder to create (must not exist or be empty).")
    ],
    trial: Annotated[
        str, typer.Option(help="Trial number to export, or 'best' (the run's selection).")
    ] = "best",
    prefer: Annotated[
        str | None, typer.Option(help=PREFER_HELP + " Default: the run's own.")
    ] = None,
) -> None:
    """Export a trial as a bundle: model.onnx (preprocessing inside) + card.json (its cost card)."""
    with user_errors():
        from tradeoff.exporter import export  # the training stack: only this command needs it
        from tradeoff.requirements import check_prefer

        if prefer is not None:
            check_prefer(prefer)  # before anything is refitted or written
        bundle = export(run, out, trial=trial, prefer=prefer)
        card = Predictor(bundle).card
    parity, cost, test = card["parity"], card["cost"], card["metrics"]["test"]
    test_line = (
        "-" if test is None else f"{test['value']:.4f} [{test['low']:.4f}, {test['high']:.4f}]"
    )
    if test is not None:
        test_line += f" (n={test['n']})"
    raw = parity.get("raw_rows")
    raw_line = (
        ""
        if raw is None
        else f"\n  table encoding inside model.onnx: {raw} raw test rows, max |diff| "
        f"{parity['raw_max_abs_diff']:.2e} vs the model on prepared features"
    )
    out_console.print(
        f"Exported trial #{card['lineage']['trial']} ({card['lineage']['family']}) to {bundle}\n"
        f"  test {card['metrics']['metric']}: {test_line}\n"
        f"  p95 {cost['p95_ms']:.4f} ms at batch 1, {cost['size_mb']:.3f} MB\n"
        f"  parity vs {parity['reference']} on {parity['split']}: argmax agreement "
        f"{parity['argmax_agreement']}, max |diff| {parity['max_abs_diff']:.2e}"
        + _float32_figures(parity)
        + raw_line
        + _selection_line(card.get("selection")),
        highlight=False,
    )


def _selection_line(selection: dict | None) -> str:
    """Which candidate was shipped and its cheaper twin (absent from cards of older bundles)."""
    if not selection or selection.get("line") is None:
        return ""
    return f"\n  shipped: {selection['why']}\n  {selection['line']}"


def _float32_figures(parity: dict) -> str:
    """The figures the float32-aware check decides on (absent from cards of older bundles)."""
    parts = []
    if parity.get("max_prob_diff") is not None:
        parts.append(f"max |dp| {parity['max_prob_diff']:.2e}")
    if parity.get("max_rel_diff") is not None:
        parts.append(f"relative {parity['max_rel_diff']:.2e}")
    if parity.get("near_ties"):
        parts.append(f"{parity['near_ties']} near ties")
    if "worst_to_tolerance" in parity:
        parts.append(f"worst diff / tolerance {parity['worst_to_tolerance']:.2g}")
    return f" ({', '.join(parts)})" if parts else ""


@app.command()
def predict(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `tradeoff export`.")],
    input: Annotated[
        Path,
        typer.Argument(
            help="Rows to predict: a .csv, .parquet or .npy file, or a folder of images (one "
            "row per image, sorted by path)."
        ),
    ],
    proba: Annotated[
        bool, typer.Option("--proba", help="Also write one probability column per class.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: standard output).")
    ] = None,
) -> None:
    """Predict every row of INPUT; rows failing the input schema get an error, not a prediction.

    Exit status 0: every row predicted; 1: some rows failed the schema (see the
    `error` column); 2: the input as a whole is unusable.
    """
    with user_errors():
        predictor = Predictor(bundle)
        if proba and predictor.task == "regression":
            raise TradeoffError("--proba: this bundle is a regression model")
        feeds, problems = predictor.read_file(input)
        n_rows = len(next(iter(feeds.values())))
        good = np.array([i for i in range(n_rows) if i not in problems], dtype=np.int64)
        outputs = None
        if len(good):
            outputs = predictor.session.run(None, {k: v[good] for k, v in feeds.items()})[0]
        text = _predictions_csv(predictor, n_rows, good, outputs, problems, proba)
        _write(out, text)
    if problems:
        for row, why in list(problems.items())[:5]:
            err_console.print(f"row {row}: {why}", highlight=False)
        err_console.print(
            f"{len(problems)} of {n_rows} rows failed the input schema; they have an error "
            "and no prediction",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def serve(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `tradeoff export`.")],
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Interface to bind (0.0.0.0 to accept remote clients).")
    ] = "127.0.0.1",
    max_batch: Annotated[int, typer.Option(help="Most instances in one request.")] = 1024,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body accepted (MB).")] = 8.0,
    strict_categories: Annotated[
        bool,
        typer.Option(
            "--strict-categories",
            help="Refuse (422) a category not seen in training, or null, instead of counting "
            "it as the training split's most frequent category (the card's rule) with a "
            "warning in the response.",
        ),
    ] = False,
) -> None:
    """Serve a bundle over HTTP: POST /predict, GET /health, GET /metadata (the cost card)."""
    from tradeoff.serve import create_app

    with user_errors():
        if not 0 < port < 65536:
            raise TradeoffError(f"--port: must be in 1..65535, got {port}")
        if max_body_mb <= 0:
            raise TradeoffError(f"--max-body-mb: must be > 0, got {max_body_mb}")
        application = create_app(
            bundle,
            max_batch=max_batch,
            max_body_bytes=int(max_body_mb * 1e6),
            strict_categories=strict_categories,
        )
    import uvicorn

    err_console.print(f"serving {bundle} on http://{host}:{port} (docs at /docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def _predictions_csv(predictor, n_rows, good, outputs, problems, proba) -> str:
    classification = predictor.task != "regression"
    header = ["row", "prediction"]
    if proba:
        header += [f"proba_{c}" for c in predictor.classes]
    header.append("error")
    by_row = {}
    if outputs is not None:
        probabilities = softmax(outputs) if classification else None
        for k, row in enumerate(good):
            label = (
                predictor.classes[outputs[k].argmax()] if classification else f"{outputs[k, 0]:.6g}"
            )
            extra = [f"{p:.6g}" for p in probabilities[k]] if proba else []
            by_row[int(row)] = [label, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    blanks = [""] * (len(header) - 3)
    for row in range(n_rows):
        if row in by_row:
            writer.writerow([row, *by_row[row], ""])
        else:
            writer.writerow([row, "", *blanks, problems.get(row, "")])
    return buffer.getvalue()


def _write(out: Path | None, text: str) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    if out.is_dir():
        raise TradeoffError(f"--out: {out} is a folder; give a file name")
    try:
        write_atomic(out, text)
    except OSError as error:
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None

"""`tradeoff export`, `tradeoff predict` and `tradeoff serve`: the pick leaves the search."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from tradeoff.bundle import Predictor, row_problems, softmax
from tradeoff.cli._app import app, err_console, out_console, user_errors
from tradeoff.errors import TradeoffError

TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@app.command("export")
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `tradeoff search`.")],
    out: Annotated[
        Path, typer.Option(help="Bundle folder to create (must not exist or be empty).")
    ],
    trial: Annotated[
        str, typer.Option(help="Trial number to export, or 'best' (the run's selection).")
    ] = "best",
) -> None:
    """Export a trial as a bundle: model.onnx (preprocessing inside) + card.json (its cost card)."""
    with user_errors():
        from tradeoff.export import export  # the training stack: only this command needs it

        bundle = export(run, out, trial=trial)
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
        f"{parity['argmax_agreement']}, max |diff| {parity['max_abs_diff']:.2e}" + raw_line,
        highlight=False,
    )


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
        feeds, problems = read_rows(input, predictor)
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
) -> None:
    """Serve a bundle over HTTP: POST /predict, GET /health, GET /metadata (the cost card)."""
    from tradeoff.serve import create_app

    with user_errors():
        if not 0 < port < 65536:
            raise TradeoffError(f"--port: must be in 1..65535, got {port}")
        if max_body_mb <= 0:
            raise TradeoffError(f"--max-body-mb: must be > 0, got {max_body_mb}")
        application = create_app(bundle, max_batch=max_batch, max_body_bytes=int(max_body_mb * 1e6))
    import uvicorn

    err_console.print(f"serving {bundle} on http://{host}:{port} (docs at /docs)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def read_rows(path: Path, predictor: Predictor) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """The rows of ``path`` as the model's inputs, plus the rows failing the schema and why."""
    name = predictor.session.get_inputs()[0].name
    if path.is_dir():
        return _as_feeds(name, *_read_images(path, predictor))
    if not path.is_file():
        raise TradeoffError(f"INPUT: {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _as_feeds(name, *_read_npy(path, predictor))
    if suffix in TABLE_SUFFIXES and predictor.text:
        return _read_texts(path, TABLE_SUFFIXES[suffix], predictor)
    if suffix == ".txt" and predictor.text:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return _checked_texts(name, np.asarray(lines, dtype=object), predictor)
    if suffix in TABLE_SUFFIXES:
        if predictor.table:
            return _read_raw_table(path, TABLE_SUFFIXES[suffix], predictor)
        return _as_feeds(name, *_read_table(path, TABLE_SUFFIXES[suffix], predictor))
    raise TradeoffError(
        f"INPUT: {path}: unsupported file type {suffix!r}; use .csv, .parquet, .npy or a "
        "folder of images"
    )


def _read_texts(path: Path, kind: str, predictor: Predictor):
    """The text column of a table (named as in the card, or its only column)."""
    frame = _read_frame(path, kind, [predictor.features[0]["name"]])
    column = predictor.features[0]["name"]
    if column not in frame.columns:
        if frame.shape[1] != 1:
            raise TradeoffError(f"INPUT: {path}: no column {column!r} (the model's text column)")
        column = frame.columns[0]
    values = frame[column].to_numpy(dtype=object)
    return _checked_texts(predictor.session.get_inputs()[0].name, values, predictor)


def _checked_texts(name: str, values: np.ndarray, predictor: Predictor):
    """Texts as the model's input; rows that are missing or too long are reported, not run."""
    import pandas as pd

    problems: dict[int, str] = {}
    rows = np.empty((len(values), 1), dtype=object)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            problems[i] = "missing text" if pd.isna(value) else f"not a text ({value!r:.40})"
            value = ""
        elif len(value) > predictor.max_chars:
            problems[i] = f"{len(value)} characters, over the limit of {predictor.max_chars}"
            value = ""
        rows[i, 0] = value
    return {name: rows}, problems


def _read_images(path: Path, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    """Every image under ``path`` (sorted by path; class sub-folders allowed), one row each."""
    from tradeoff.datasets.images import IMAGE_SUFFIXES, read_image

    shape = predictor.input_shape
    if len(shape) != 3:
        raise TradeoffError(f"INPUT: {path} is a folder of images; this model takes {list(shape)}")
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TradeoffError(f"INPUT: {path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    channels, height, width = shape
    rows = np.zeros((len(files), *shape), np.float32)
    problems: dict[int, str] = {}
    for i, file in enumerate(files):
        try:
            pixels = read_image(file, height, width)
        except TradeoffError as error:
            problems[i] = str(error)
            continue
        if pixels.shape[0] != channels:
            problems[i] = f"{file.name}: {pixels.shape[0]} channels, the model takes {channels}"
            continue
        rows[i] = pixels
    return rows, problems


def _read_npy(path: Path, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    try:
        array = np.load(path, allow_pickle=False)  # never unpickle a user's file
    except ValueError as error:
        raise TradeoffError(f"INPUT: {path}: not a plain numeric .npy file ({error})") from None
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise TradeoffError(f"INPUT: {path}: dtype {array.dtype} is not numeric")
    shape = predictor.input_shape
    if array.ndim == 2 and array.shape[1] == int(np.prod(shape)):
        array = array.reshape(len(array), *shape)
    if array.shape[1:] != shape:
        raise TradeoffError(
            f"INPUT: {path}: rows shaped {list(array.shape[1:])}, the model takes {list(shape)}"
        )
    array = array.astype(np.float64)
    problems = row_problems(array)
    return _to_float32(array, problems), problems


def _as_feeds(name: str, X: np.ndarray, problems: dict[int, str]):
    return {name: X}, problems


def _read_frame(path: Path, kind: str, text_columns: list[str] = ()):
    import pandas as pd

    try:
        if kind == "csv":
            # Text columns stay text: "01" is a category, not the number 1.
            return pd.read_csv(path, dtype={name: str for name in text_columns})
        return pd.read_parquet(path)
    except Exception as error:  # pandas/pyarrow raise many types for a bad file
        raise TradeoffError(
            f"INPUT: {path}: cannot read it as {kind}: {error}".splitlines()[0]
        ) from None


def _read_raw_table(path: Path, kind: str, predictor: Predictor):
    """A table bundle's inputs (raw numeric and text columns) from a CSV or Parquet file."""
    text = [f["name"] for f in predictor.features if f["type"] == "categorical"]
    frame = _read_frame(path, kind, text)
    try:
        return predictor.table_feeds(frame)
    except TradeoffError as error:
        raise TradeoffError(f"INPUT: {path}: {error}".replace(": input:", ":")) from None


def _read_table(path: Path, kind: str, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    import pandas as pd

    frame = _read_frame(path, kind)
    features = predictor.card["input"].get("features")
    n_values = int(np.prod(predictor.input_shape))
    if features:
        names = [f["name"] for f in features]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise TradeoffError(
                f"INPUT: {path}: missing column(s) {', '.join(map(repr, missing[:5]))}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        frame = frame[names]
    elif frame.shape[1] != n_values:
        raise TradeoffError(
            f"INPUT: {path}: {frame.shape[1]} columns, the model takes {n_values} values a row "
            f"(shape {list(predictor.input_shape)}, row-major)"
        )
    problems: dict[int, str] = {}
    columns = []
    for name in frame.columns:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        for row in np.flatnonzero(values.isna().to_numpy()):
            problems.setdefault(
                int(row),
                f"column {name!r}: missing"
                if pd.isna(raw.iloc[row])
                else f"column {name!r}: not a number ({raw.iloc[row]!r})",
            )
        columns.append(values.to_numpy())
    array = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))
    for row, why in row_problems(np.nan_to_num(array, nan=0.0)).items():
        problems.setdefault(row, why)
    array = array.reshape(len(frame), *predictor.input_shape)
    return _to_float32(array, problems), dict(sorted(problems.items()))


def _to_float32(array: np.ndarray, problems: dict[int, str]) -> np.ndarray:
    array = array.copy()
    if problems:
        array[list(problems)] = 0.0  # placeholders; these rows are never predicted
    return array.astype(np.float32)


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
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, out)
    except OSError as error:
        if tmp.exists():  # unlinking in a read-only folder fails even for no file
            tmp.unlink()
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None

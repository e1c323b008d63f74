"""`tradeoff bench`: re-measure a model's cost in a fresh process and check each requirement."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated

import numpy as np
import onnx
import typer
from rich.markup import escape
from rich.table import Table

from tradeoff.bundle import agreement_with_parent, check_agreement, read_card, read_check
from tradeoff.cli._app import agent_urls, app, err_console, out_console, user_errors
from tradeoff.errors import TradeoffError
from tradeoff.frontier import Run
from tradeoff.measure import QUICK_PROTOCOL, LatencyProtocol, cpu_model, describe_method
from tradeoff.measure.candidate import Measurement, MeasureSpec, latency_from_dict, measure_model
from tradeoff.measure.machine import describe_machine
from tradeoff.measure.remote import measure_on_target, targets_from
from tradeoff.requirements import Requirements

BUNDLE_MODEL, BUNDLE_CARD = "model.onnx", "card.json"


def resolve_target(path: Path, workdir: str) -> tuple[Path, Requirements | None, str]:
    """The ONNX file to measure, the requirements it was chosen under (if known), and what it is."""
    if path.is_file():
        if path.suffix != ".onnx":
            raise TradeoffError(f"{path}: expected a .onnx file, a bundle folder or a run folder")
        return path, None, "ONNX file"
    if not path.is_dir():
        raise TradeoffError(f"{path}: no such file or folder")
    if (path / BUNDLE_MODEL).is_file() and (path / BUNDLE_CARD).is_file():
        try:
            card = json.loads((path / BUNDLE_CARD).read_text())
        except json.JSONDecodeError as error:
            raise TradeoffError(f"{path / BUNDLE_CARD}: unreadable card ({error})") from None
        known = {f.name for f in fields(Requirements)}
        stated = card.get("requirements") if isinstance(card, dict) else None
        req = Requirements(**{k: v for k, v in stated.items() if k in known}) if stated else None
        return path / BUNDLE_MODEL, req, "bundle"
    if (path / "run.json").is_file():
        run = Run.open(path)
        pick = run.select()
        if pick is None:
            raise TradeoffError(f"{path}: no trained candidate in this run meets its requirements")
        return (
            Path(run.artifact_path(pick, workdir)),
            run.requirements,
            f"run folder, selected trial #{pick.number}",
        )
    raise TradeoffError(
        f"{path}: not a run folder (run.json), a bundle ({BUNDLE_MODEL} + {BUNDLE_CARD}) or a .onnx file"
    )


def input_shape_of(onnx_path: Path) -> tuple[int, ...]:
    """The model's input shape without the batch axis, read from the ONNX graph."""
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as error:
        raise TradeoffError(f"{onnx_path}: not a readable ONNX model ({error})") from None
    dims = model.graph.input[0].type.tensor_type.shape.dim[1:]
    if not dims or any(not d.HasField("dim_value") for d in dims):
        raise TradeoffError(f"{onnx_path}: the input needs fixed sizes after the batch axis")
    return tuple(d.dim_value for d in dims)


def cost_inputs(target: Path, onnx_path: Path, texts: Path | None):
    """The inputs to time a model on where its cost depends on them: a text model's texts, or
    a mixed table's raw rows (every input by name); None for other models."""
    import numpy as np

    from tradeoff.inputs.table import CATEGORICAL_INPUT, TEXT_INPUT

    inputs = onnx.load(str(onnx_path), load_external_data=False).graph.input
    names = [i.name for i in inputs]
    text_model = len(inputs) == 1 and names != [CATEGORICAL_INPUT]
    text_model = text_model and inputs[0].type.tensor_type.elem_type == onnx.TensorProto.STRING
    if not (text_model or TEXT_INPUT in names):
        if texts is not None:
            raise TradeoffError(f"--texts: {onnx_path} does not take text")
        return None
    if texts is None:
        if (target / "run.json").is_file():
            from tradeoff.inputs.table import cost_samples

            return cost_samples(Run.open(target).prepared)
        raise TradeoffError(
            f"--texts: {target} takes text, whose latency depends on its length; give "
            + (
                "a .txt file (one text a line) or a table of texts to time it on"
                if text_model
                else "a .csv/.parquet of rows with the card's columns to time it on"
            )
        )
    from tradeoff.bundle import Predictor

    if not (target / BUNDLE_CARD).is_file():
        if not text_model:
            raise TradeoffError(
                f"--texts: {onnx_path} takes table rows, read through a bundle's card; bench "
                "its bundle folder"
            )
        lines = texts.read_text(encoding="utf-8", errors="replace").splitlines()
        return np.asarray([t for t in lines if t], dtype=object).reshape(-1, 1)
    feeds, problems = Predictor(target).read_file(texts)
    keep = np.setdiff1d(np.arange(len(next(iter(feeds.values())))), list(problems))
    if not len(keep):
        raise TradeoffError(f"--texts: {texts}: no usable row")
    rows = {name: values[keep] for name, values in feeds.items()}
    return next(iter(rows.values())) if text_model else rows


@app.command()
def bench(
    target: Annotated[
        Path,
        typer.Argument(help="A run folder (its selected model), a bundle folder or a .onnx file."),
    ],
    max_latency_ms: Annotated[
        float | None,
        typer.Option(
            help="Check this p95 limit (ms) instead of the one the model was chosen under."
        ),
    ] = None,
    max_size_mb: Annotated[
        float | None,
        typer.Option(help="Check this file-size limit (MB) instead of the stated one."),
    ] = None,
    max_memory_mb: Annotated[
        float | None,
        typer.Option(help="Check this inference-memory limit (MB) instead of the stated one."),
    ] = None,
    min_throughput: Annotated[
        float | None,
        typer.Option(help="Check this throughput (rows/s) instead of the stated one."),
    ] = None,
    throughput_batch: Annotated[
        int | None, typer.Option(help="Batch of --min-throughput (default 1).")
    ] = None,
    threads: Annotated[int, typer.Option(help="ONNX Runtime intra-op threads.")] = 1,
    batch: Annotated[int, typer.Option(help="Rows per inference call.")] = 1,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A short protocol (~0.5 s): a smoke test, noisy figures."),
    ] = False,
    texts: Annotated[
        Path | None,
        typer.Option(
            help="Inputs to time a model taking text on, cycled through: a .txt file (one "
            "text a line) or a .csv/.parquet with the card's columns (a table with free-text "
            "columns: whole rows). Default for a run folder: 256 rows of its training split."
        ),
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option(
            help="Measure on this URL's agent (`tradeoff agent`) instead of here; repeatable.",
        ),
    ] = None,
    legacy_agent: Annotated[
        list[str] | None,
        typer.Option("--target", hidden=True, help="Deprecated spelling of --agent."),
    ] = None,
    agent_token_file: Annotated[
        Path | None,
        typer.Option(
            "--agent-token-file",
            "--target-token-file",
            help="File with the agents' token (default: $TRADEOFF_TARGET_TOKEN).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Re-measure cost in a fresh process, here or on targets; say per requirement whether it
    holds (exit 1 if not)."""
    with user_errors(), tempfile.TemporaryDirectory() as workdir:
        if threads < 1:
            raise TradeoffError(f"--threads: must be >= 1, got {threads}")
        if batch < 1:
            raise TradeoffError(f"--batch: must be >= 1, got {batch}")
        targets = targets_from(agent_urls(agent, legacy_agent), agent_token_file)
        onnx_path, stated, kind = resolve_target(target, workdir)
        req = _with_overrides(
            stated or Requirements(),
            max_latency_ms=max_latency_ms,
            max_size_mb=max_size_mb,
            max_memory_mb=max_memory_mb,
            min_throughput=min_throughput,
            throughput_batch=throughput_batch,
        )
        shape = input_shape_of(onnx_path)
        protocol = replace(
            QUICK_PROTOCOL if quick else LatencyProtocol(), threads=threads, batch=batch
        )
        samples = cost_inputs(target, onnx_path, texts)
        spec = MeasureSpec(
            shape,
            protocol,
            memory=True,
            throughput_batch=req.batch_for_throughput,
            samples=samples,
        )
        onnx_bytes = onnx_path.read_bytes()
        # A compressed bundle: its classes against its fp32 parent's on its check rows, on
        # each machine measured (the int8 kernels are the target's), or here.
        card, check = _check_rows_of(target, kind)
        remote_check = check is not None and bool(targets)
        if remote_check:  # every input's rows by name: numbers, or a table's text columns
            spec = replace(spec, check_rows=check[0])
        if targets:
            measurements = [measure_on_target(t, onnx_bytes, spec) for t in targets]
        else:
            measurements = [measure_model(onnx_bytes, spec, fresh=True)]
        agreements = _agreements(target, card, check, measurements if remote_check else None)
    agreement = agreements[0] if agreements else None
    per_machine = [_checked(m, req, batch) for m in measurements]
    first = per_machine[0]
    result = {
        "target": str(target),
        "kind": kind,
        "model": str(onnx_path) if kind != "run folder" else None,
        "input_shape": list(shape),
        # The first machine's figures at the top (the only one without --target); all below.
        **{k: v for k, v in first.items() if k != "checks"},
        "checks": [c for m in per_machine for c in m["checks"]],
        "measurements": per_machine,
        "agreement": agreement,
        "agreements": agreements,
    }
    for each in agreements:
        result["checks"].append(
            {
                "requirement": f"agreement with {each['reference']} >= "
                f"{each['recorded_agreement']:.4f} (recorded at export on "
                f"{each['recorded_on']['cpu']})",
                "measured": f"{each['agreement']:.4f} on {each['rows']} test rows",
                "holds": each["holds"],
                "where": each["where"],
            }
        )
    if as_json:
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        _print(result)
    for each in agreements:
        if not each["holds"]:
            where = (
                "this CPU"
                if each["where"] == "this machine"
                else f"{each['where']} ({each['cpu']})"
            )
            err_console.print(
                f"error: on {where} the compressed model agrees {each['agreement']:.4f} with "
                f"{each['reference']}, below the {each['recorded_agreement']:.4f} recorded "
                "at export: its kernels compute differently there",
                highlight=False,
                soft_wrap=True,
            )
    if any(check["holds"] is False for check in result["checks"]):
        raise typer.Exit(1)


def _check_rows_of(target: Path, kind: str) -> tuple[dict, tuple | None]:
    """A bundle's card (read in full when it carries check rows) and its check rows."""
    card = json.loads((target / BUNDLE_CARD).read_text()) if kind == "bundle" else {}
    if not card.get("check"):
        return card, None
    card = read_card(target)  # checked in full: the check rows and model come from it
    return card, read_check(target, card)


def _agreements(
    target: Path, card: dict, check: tuple | None, remote: list[Measurement] | None
) -> list[dict]:
    """Each machine's agreement with the fp32 parent on the check rows: from the outputs the
    ``remote`` measurements brought back, else measured here."""
    if check is None:
        return []
    if remote is not None:
        return [
            agreement_with_parent(np.asarray(m.check_outputs).argmax(1), check[1], card)
            | {"where": m.where, "cpu": m.machine.get("cpu")}
            for m in remote
        ]
    # No targets: here.
    return [check_agreement(target, card) | {"where": "this machine", "cpu": cpu_model()}]


def _with_overrides(req: Requirements, **flags) -> Requirements:
    given = {k: v for k, v in flags.items() if v is not None}
    if "min_throughput" in given and "throughput_batch" not in given:
        given["throughput_batch"] = None  # a new throughput limit comes at its own batch
    return replace(req, **given) if given else req


def _checked(measured: Measurement, req: Requirements, batch: int) -> dict:
    """One machine's figures and, for each requirement, whether it holds there."""
    latency = measured.latency
    where = measured.where
    throughput = measured.throughput_rows_per_s
    # Whether each limit holds is the requirements' own verdict (Requirements.cost_violations).
    broken = {
        v.axis
        for v in req.cost_violations(
            latency.p95_high_ms, measured.size_mb, measured.inference_rss_mb, throughput
        )
    }
    checks = []
    if req.max_latency_ms is not None:
        checks.append(
            {
                "requirement": f"p95 latency <= {req.max_latency_ms} ms",
                "measured": f"p95 {latency.p95_ms:.4f} ms, 95% upper bound {latency.p95_high_ms:.4f} ms",
                "holds": "latency" not in broken,
                "where": where,
            }
        )
    if req.max_size_mb is not None:
        checks.append(
            {
                "requirement": f"size <= {req.max_size_mb} MB",
                "measured": f"{measured.size_mb:.4f} MB",
                "holds": "size" not in broken,
                "where": where,
            }
        )
    if req.max_memory_mb is not None:
        checks.append(
            {
                "requirement": f"inference memory <= {req.max_memory_mb} MB",
                "measured": f"{measured.inference_rss_mb:.1f} MB added by a fresh process "
                "holding the model",
                "holds": "memory" not in broken,
                "where": where,
            }
        )
    if req.min_throughput is not None:
        checks.append(
            {
                "requirement": f"throughput >= {req.min_throughput:g} rows/s at batch "
                f"{req.batch_for_throughput}",
                "measured": f"{throughput:,.0f} rows/s",
                "holds": "throughput" not in broken,
                "where": where,
            }
        )
    if req.min_quality is not None:
        checks.append(
            {
                "requirement": f"{req.metric} >= {req.min_quality}",
                "measured": "not re-measured here (needs labelled data)",
                "holds": None,
                "where": where,
            }
        )
    if throughput is None:  # no throughput requirement: the figure at the timing batch
        throughput = batch / latency.p50_ms * 1000.0
    return {
        "where": where,
        "machine": measured.machine,
        "latency": latency.to_dict(),
        "throughput_rows_per_s": throughput,
        "throughput_batch": measured.throughput_batch or batch,
        "size_mb": measured.size_mb,
        "peak_rss_mb": measured.peak_rss_mb,
        "inference_rss_mb": measured.inference_rss_mb,
        "checks": checks,
    }


def _json_default(value):
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def _print(result: dict) -> None:
    out_console.print(
        f"[bold]{result['target']}[/] ({result['kind']}), input {tuple(result['input_shape'])}",
        highlight=False,
    )
    for measured in result["measurements"]:
        latency = latency_from_dict(measured["latency"])
        low, high = latency.p95_interval_ms
        out_console.print(
            f"  on {escape(describe_machine(measured['machine']))} ({measured['where']}):\n"
            f"  latency: p50 {latency.p50_ms:.4f} ms, p95 {latency.p95_ms:.4f} ms "
            f"[95% CI {low:.4f}, {high:.4f}], p99 {latency.p99_ms:.4f} ms over {latency.calls} calls\n"
            f"  throughput at batch {measured['throughput_batch']}: "
            f"{measured['throughput_rows_per_s']:,.0f} rows/s\n"
            + (
                f"  ratio to the reference model: {latency.ratio_to_reference:.3f}\n"
                if latency.ratio_to_reference
                else ""
            )
            + f"  size {measured['size_mb']:.4f} MB, peak RSS {measured['peak_rss_mb']:.1f} MB "
            f"({measured['inference_rss_mb']:.1f} MB for the model's session)\n"
            f"  measured in a fresh process with {escape(describe_method(latency.method))}",
            highlight=False,
        )
    if not result["checks"]:
        out_console.print(
            "No requirements to check (give --max-latency-ms / --max-size-mb / --max-memory-mb "
            "/ --min-throughput)."
        )
        return
    table = Table()  # figures whole; on a narrow terminal a long word folds, never cut
    table.add_column("requirement", overflow="fold")
    table.add_column("measured", no_wrap=True)
    table.add_column("where", overflow="fold")
    table.add_column("holds?", no_wrap=True)
    for check in result["checks"]:
        holds = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[check["holds"]]
        table.add_row(check["requirement"], check["measured"], check["where"], holds)
    out_console.print(table)

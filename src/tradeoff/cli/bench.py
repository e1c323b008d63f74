"""`tradeoff bench`: re-measure a model's cost in a fresh process and check each requirement."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated

import onnx
import typer
from rich.markup import escape
from rich.table import Table

from tradeoff.bundle import check_agreement, read_card
from tradeoff.cli._app import app, err_console, out_console, user_errors
from tradeoff.errors import TradeoffError
from tradeoff.frontier import Run
from tradeoff.measure import QUICK_PROTOCOL, LatencyProtocol, describe_method, measure_fresh
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
    threads: Annotated[int, typer.Option(help="ONNX Runtime intra-op threads.")] = 1,
    batch: Annotated[int, typer.Option(help="Rows per inference call.")] = 1,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A short protocol (~0.5 s): a smoke test, noisy figures."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Re-measure cost in a fresh process; say per requirement whether it holds (exit 1 if not)."""
    with user_errors(), tempfile.TemporaryDirectory() as workdir:
        if threads < 1:
            raise TradeoffError(f"--threads: must be >= 1, got {threads}")
        if batch < 1:
            raise TradeoffError(f"--batch: must be >= 1, got {batch}")
        onnx_path, stated, kind = resolve_target(target, workdir)
        req = stated or Requirements()
        if max_latency_ms is not None or max_size_mb is not None:
            req = replace(
                req,
                max_latency_ms=max_latency_ms if max_latency_ms is not None else req.max_latency_ms,
                max_size_mb=max_size_mb if max_size_mb is not None else req.max_size_mb,
            )
        shape = input_shape_of(onnx_path)
        protocol = replace(
            QUICK_PROTOCOL if quick else LatencyProtocol(), threads=threads, batch=batch
        )
        fresh = measure_fresh(onnx_path, shape, protocol)
        size_mb = onnx_path.stat().st_size / 1e6
        # A compressed bundle: its classes here against its fp32 parent's, on its check rows.
        agreement = None
        if kind == "bundle" and "check" in json.loads((target / BUNDLE_CARD).read_text()):
            agreement = check_agreement(target, read_card(target))
    latency = fresh["latency"]
    checks = []
    if req.max_latency_ms is not None:
        checks.append(
            {
                "requirement": f"p95 latency <= {req.max_latency_ms} ms",
                "measured": f"p95 {latency.p95_ms:.4f} ms, 95% upper bound {latency.p95_high_ms:.4f} ms",
                "holds": latency.p95_high_ms <= req.max_latency_ms,
            }
        )
    if req.max_size_mb is not None:
        checks.append(
            {
                "requirement": f"size <= {req.max_size_mb} MB",
                "measured": f"{size_mb:.4f} MB",
                "holds": size_mb <= req.max_size_mb,
            }
        )
    if agreement is not None:
        checks.append(
            {
                "requirement": f"agreement with {agreement['reference']} >= "
                f"{agreement['recorded_agreement']:.4f} (recorded at export on "
                f"{agreement['recorded_on']['cpu']})",
                "measured": f"{agreement['agreement']:.4f} on {agreement['rows']} test rows here",
                "holds": agreement["holds"],
            }
        )
    if req.min_quality is not None:
        checks.append(
            {
                "requirement": f"{req.metric} >= {req.min_quality}",
                "measured": "not re-measured here (needs labelled data)",
                "holds": None,
            }
        )
    result = {
        "target": str(target),
        "kind": kind,
        "model": str(onnx_path) if kind != "run folder" else None,
        "input_shape": list(shape),
        "latency": latency.to_dict(),
        "throughput_rows_per_s": batch / latency.p50_ms * 1000.0,
        "size_mb": size_mb,
        "peak_rss_mb": fresh["peak_rss_mb"],
        "inference_rss_mb": fresh["inference_rss_mb"],
        "checks": checks,
        "agreement": agreement,
    }
    if as_json:
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        _print(result, latency)
    if agreement is not None and not agreement["holds"]:
        err_console.print(
            f"error: on this CPU the compressed model agrees {agreement['agreement']:.4f} with "
            f"{agreement['reference']}, below the {agreement['recorded_agreement']:.4f} recorded "
            "at export: its kernels compute differently here",
            highlight=False,
            soft_wrap=True,
        )
    if any(check["holds"] is False for check in checks):
        raise typer.Exit(1)


def _json_default(value):
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def _print(result: dict, latency) -> None:
    low, high = latency.p95_interval_ms
    out_console.print(
        f"[bold]{result['target']}[/] ({result['kind']}), input {tuple(result['input_shape'])}\n"
        f"  latency: p50 {latency.p50_ms:.4f} ms, p95 {latency.p95_ms:.4f} ms "
        f"[95% CI {low:.4f}, {high:.4f}], p99 {latency.p99_ms:.4f} ms over {latency.calls} calls\n"
        f"  throughput at batch {latency.method['batch']}: {result['throughput_rows_per_s']:,.0f} rows/s\n"
        + (
            f"  ratio to the reference model: {latency.ratio_to_reference:.3f}\n"
            if latency.ratio_to_reference
            else ""
        )
        + f"  size {result['size_mb']:.4f} MB, peak RSS {result['peak_rss_mb']:.1f} MB "
        f"({result['inference_rss_mb']:.1f} MB for the model's session)\n"
        f"  measured in a fresh process with {escape(describe_method(latency.method))}",
        highlight=False,
    )
    if not result["checks"]:
        out_console.print("No requirements to check (give --max-latency-ms / --max-size-mb).")
        return
    table = Table("requirement", "measured", "holds?")
    for check in result["checks"]:
        holds = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[check["holds"]]
        table.add_row(check["requirement"], check["measured"], holds)
    out_console.print(table)

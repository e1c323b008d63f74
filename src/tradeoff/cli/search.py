"""`tradeoff demo`, `tradeoff search`, and the listings of families and data sets."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tradeoff import evaluate
from tradeoff.cli._app import PREFER_HELP, agent_urls, app, fail, out_console, user_errors
from tradeoff.cli._results import (
    data_summary,
    no_pick_dict,
    print_data,
    print_no_pick,
    print_report,
    summary_dict,
)
from tradeoff.compress import pass_names
from tradeoff.datasets import builtin_names, builtin_origin, load, supported_formats
from tradeoff.errors import TradeoffError
from tradeoff.families import family_names, get_family
from tradeoff.frontier import Run
from tradeoff.measure import (
    REFERENCE_NAME,
    Latency,
    LatencyProtocol,
    cpu_model,
    describe_method,
    measure_latency,
    reference_model,
)
from tradeoff.measure.remote import targets_from
from tradeoff.prepare import Prepared, prepare, prepare_from_description
from tradeoff.records import load_run_info
from tradeoff.requirements import METRICS, Requirements, check_prefer
from tradeoff.searcher import parse_duration, run_search
from tradeoff.searcher.gates import STOPPED_EARLY
from tradeoff.searcher.halving import Halving
from tradeoff.searcher.settings import recorded_settings, search_settings
from tradeoff.selection import explain_selection, twin_summary

#: The demo's latency limit, as a multiple of the reference model's p95 measured on this machine
#: at start: machines differ 2x in speed and 3x in the p95 tail of tiny models, so an absolute
#: limit that binds on one trains nothing on another. At 3x, the linear and small MLP and CNN
#: candidates fit, while the default GRU, LSTM and Transformer do not.
DEMO_LATENCY_FACTOR = 3.0
#: The demo's size limit: file size does not depend on the machine.
DEMO_MAX_SIZE_MB = 0.05


def demo_requirements(reference: Latency) -> tuple[Requirements, dict]:
    """The demo's requirements derived from ``reference`` (the reference model measured here),
    and the record of how, for run.json and the output."""
    limit_ms = float(f"{DEMO_LATENCY_FACTOR * reference.p95_ms:.3g}")
    origin = {
        "max_latency_ms": {
            "value_ms": limit_ms,
            "rule": f"{DEMO_LATENCY_FACTOR:g} x the p95 of the reference model "
            f"({REFERENCE_NAME}) measured on this machine at the start of the demo",
            "reference_p50_ms": reference.p50_ms,
            "reference_p95_ms": reference.p95_ms,
            "factor": DEMO_LATENCY_FACTOR,
            "method": reference.method,
        },
        "max_size_mb": {"value_mb": DEMO_MAX_SIZE_MB, "rule": "fixed: size is the same anywhere"},
    }
    return Requirements(max_latency_ms=limit_ms, max_size_mb=DEMO_MAX_SIZE_MB), origin


def measure_reference(protocol: LatencyProtocol | None = None) -> Latency:
    """The reference model's latency on this machine (the default protocol, no interleaving)."""
    onnx_bytes, shape = reference_model()
    return measure_latency(
        onnx_bytes, shape, replace(protocol or LatencyProtocol(), reference_every=0)
    )


#: --prefer of a search: the run records it, and select and export answer with it.
PREFER_RUN_HELP = (
    PREFER_HELP + " Default: accurate. Recorded in run.json: `select` and `export` use it "
    "unless given their own."
)


@app.command()
def demo(
    time_budget: Annotated[
        str, typer.Option(help="Wall-clock budget, e.g. 90s, 3m (the run ends within ~20 s of it).")
    ] = "4m",
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/demo-<timestamp>).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampler and training.")] = 0,
    prefer: Annotated[str | None, typer.Option(help=PREFER_RUN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Search MNIST-1D under a demo deployment whose limits are derived on this machine.

    p95 latency at batch 1 <= 3 x the reference model's p95 measured here at start; model
    file <= 0.05 MB. Exits 1 if nothing meets them.
    """
    out = out or Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    with user_errors():
        budget = parse_duration(time_budget)
        check_prefer(prefer or "accurate")
    req, origin = demo_requirements(measure_reference())
    if not as_json:
        latency = origin["max_latency_ms"]
        out_console.print(
            f"Demo deployment, derived on this machine ({cpu_model()}): p95 at batch 1 <= "
            f"{req.max_latency_ms:g} ms = {latency['factor']:g} x the reference model's p95 "
            f"({latency['reference_p95_ms']:.4f} ms; "
            f"{escape(describe_method(latency['method']))}); model file <= {req.max_size_mb:g} MB.",
            highlight=False,
        )
    _search_and_report(
        prepare(load("mnist1d"), seed=seed),
        req,
        out,
        search_settings(
            time_budget=budget,
            seed=seed,
            requirements_origin=origin,
            prefer=prefer or "accurate",
        ),
        resume=False,
        as_json=as_json,
    )


@app.command()
def search(
    data: Annotated[
        str | None,
        typer.Argument(
            help="Built-in data set name (see `tradeoff datasets`), or a path: a .csv/.tsv/.parquet "
            "table (a free-text column makes it text data), an .npz (X, y) or .npy (with --target "
            "labels.npy), a UCR/UEA .ts file, or a folder with one sub-folder of images (or of "
            ".txt files) per class."
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="Column to predict in a table; for an .npy of inputs, the .npy file of labels."
        ),
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option(
            help="URL of a target's agent (`tradeoff agent`) to measure cost on instead of this "
            "machine; repeatable: the requirements must hold on every one."
        ),
    ] = None,
    agent_token_file: Annotated[
        Path | None,
        typer.Option(
            "--agent-token-file",
            "--target-token-file",
            help="File with the agents' token (default: $TRADEOFF_TARGET_TOKEN).",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="binary, multiclass or regression (default: inferred from the target)."),
    ] = None,
    modality: Annotated[
        str | None,
        typer.Option(
            help="tabular, sequence, image or text: how to read an array file "
            "(default: from its shape, [N,F] / [N,T,C] / [N,C,H,W])."
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(help="Side in pixels that images of a folder are resized to (default 32)."),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            help="The free-text column of a table (default: a column whose median value has "
            ">= 3 words and mostly distinct values; see docs/data.md)."
        ),
    ] = None,
    cv: Annotated[
        str,
        typer.Option(
            help="Rank candidates by cross-validation over train+validation: K (2-20 folds), "
            "auto (5 folds repeated twice when the validation split has fewer than 300 rows; "
            "fewer folds, down to 2, when the rarest class has fewer than 5 rows) "
            "or off. The pick is then refitted on train+validation for its test estimate."
        ),
    ] = "auto",
    augment: Annotated[
        str,
        typer.Option(
            help="Augmentations the search may turn on for training batches: auto (sequences and "
            "images: shift), off, or a list such as shift,jitter or shift,hflip,vflip."
        ),
    ] = "auto",
    max_latency_ms: Annotated[
        float | None, typer.Option(help="Hard limit on p95 latency at batch 1 (ms).")
    ] = None,
    max_size_mb: Annotated[
        float | None, typer.Option(help="Hard limit on the ONNX file size (MB).")
    ] = None,
    max_memory_mb: Annotated[
        float | None,
        typer.Option(
            help="Hard limit on the memory (MB) an inference process adds by loading and running "
            "the model (measured in a fresh process, before training)."
        ),
    ] = None,
    min_throughput: Annotated[
        float | None,
        typer.Option(help="Hard floor on throughput (rows/s) at --throughput-batch."),
    ] = None,
    throughput_batch: Annotated[
        int | None, typer.Option(help="Rows per call for --min-throughput (default 1).")
    ] = None,
    min_quality: Annotated[
        float | None, typer.Option(help="Minimum validation value of --metric.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Quality objective: " + ", ".join(METRICS) + " (default: accuracy, or r2 for "
            "regression). Lower is better for log_loss, mae, rmse."
        ),
    ] = None,
    time_budget: Annotated[
        str | None, typer.Option(help="Wall-clock budget, e.g. 90s, 5m, 1h.")
    ] = "5m",
    trials: Annotated[int | None, typer.Option(help="Stop after this many trials.")] = None,
    families: Annotated[
        str | None, typer.Option(help="Comma-separated families to search (default: all).")
    ] = None,
    max_epochs: Annotated[
        int, typer.Option(help="Most epochs one candidate trains for, before early stopping.")
    ] = 60,
    out: Annotated[Path | None, typer.Option(help="Run folder to create.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder: same study and settings, a new budget."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampler and training.")] = 0,
    workers: Annotated[
        int, typer.Option(help="Worker processes on this machine sharing the study.")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Study storage URL, e.g. postgresql://user:pw@host/db (default: SQLite "
            "in the run folder). Other machines join with `tradeoff worker`."
        ),
    ] = None,
    artifacts: Annotated[
        Path | None, typer.Option(help="Shared folder for model artifacts (default: in --out).")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Run --workers as Ray tasks on this existing Ray cluster (host:port)."),
    ] = None,
    halving: Annotated[
        bool,
        typer.Option(
            help="Stop trials that fall behind others of similar latency at epochs 3, 9, 27 "
            "(successive halving within cost bands), and, under --cv, stop retraining a "
            "candidate on folds once it is surely worse than one as cheap (fold racing)."
        ),
    ] = True,
    compress: Annotated[
        bool,
        typer.Option(
            "--compress/--no-compress",
            help="Compress front members and near misses (int8, pruning, distillation); "
            "each variant is a trial of its own.",
        ),
    ] = True,
    passes: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated compression passes (default: all: {', '.join(pass_names())})."
        ),
    ] = None,
    max_quality_drop: Annotated[
        str,
        typer.Option(
            help="Validation quality a compressed variant may lose vs its parent (paired test): "
            "1% = relative, 0.005 = absolute."
        ),
    ] = "1%",
    quick_latency: Annotated[
        bool,
        typer.Option(
            "--quick-latency",
            help="Screen latency with a short protocol (>=200 calls, 0.1 s) instead of the "
            "default (>=2,000 calls, 3 s): for a first look, not for figures to rely on.",
        ),
    ] = False,
    threads: Annotated[
        int, typer.Option(help="ONNX Runtime threads when measuring latency (the deployment's).")
    ] = 1,
    prefer: Annotated[str | None, typer.Option(help=PREFER_RUN_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
) -> None:
    """Search model families and training strategies for the best model meeting the requirements."""
    with user_errors():
        budget = parse_duration(time_budget) if time_budget else None
        check_prefer(prefer or "accurate")
        # Before --agent, a --target value that is a URL named an agent: kept for one release.
        legacy = [t for t in target or [] if t.startswith(("http://", "https://"))]
        labels = [t for t in target or [] if t not in legacy]
        urls = agent_urls(agent, legacy)
        if len(labels) > 1:
            fail(f"--target: one column or labels file to predict, got {', '.join(labels)}")
        if resume is not None:
            info = load_run_info(resume)
            req = Requirements(**info["requirements"])
            # A resumed search goes on exactly as it began; only the budget is new.
            settings = recorded_settings(
                info, time_budget_s=budget, n_trials=trials, workers=workers
            )
            given = {t.url for t in targets_from(urls, None)} if urls else set()
            if given and given != {t.url for t in settings.targets}:
                fail(f"--agent: {resume} measures on the agents it began with; drop --agent")
            if prefer is not None and prefer != settings.prefer:
                fail(
                    f"--prefer: {resume} picks as it began (--prefer {settings.prefer}); drop "
                    "--prefer, or re-select with `tradeoff select --prefer`"
                )
            if agent_token_file is not None:
                settings = replace(
                    settings,
                    targets=tuple(
                        targets_from([t.url for t in settings.targets], agent_token_file)
                    ),
                )
            prepared = prepare_from_description(info["prepare"], info["seed"])
            _search_and_report(prepared, req, resume, settings, resume=True, as_json=as_json)
            return
        if data is None:
            fail("DATA: give a built-in data set name or a data file path, or --resume RUN")
        if out is None:
            fail("--out: give a run folder to create")
        chosen = tuple(f.strip() for f in families.split(",") if f.strip()) if families else None
        chosen_passes = [p.strip() for p in passes.split(",") if p.strip()] if passes else True
        settings = search_settings(  # before the data is read: a bad flag fails at once
            time_budget=budget,
            compress=compress and chosen_passes,
            max_quality_drop=max_quality_drop,
            quick_latency=quick_latency,
            threads=threads,
            n_trials=trials,
            families=chosen,
            seed=seed,
            max_epochs=max_epochs,
            workers=workers,
            storage=storage,
            artifacts=str(artifacts) if artifacts else None,
            ray_address=ray_address,
            halving=Halving() if halving else None,
            targets=tuple(targets_from(urls, agent_token_file)),
            prefer=prefer or "accurate",
        )
        dataset = load(
            data,
            seed=seed,
            target=labels[0] if labels else None,
            task=task,
            modality=modality,
            image_size=image_size,
            text_column=text_column,
        )
        prepared = _prepare_with_cv(dataset, seed, cv, augment)
        req = Requirements(
            max_latency_ms=max_latency_ms,
            max_size_mb=max_size_mb,
            min_quality=min_quality,
            metric=metric,
            max_memory_mb=max_memory_mb,
            min_throughput=min_throughput,
            throughput_batch=throughput_batch,
        )
        _search_and_report(prepared, req, out, settings, resume=False, as_json=as_json)


@app.command("families")
def list_families() -> None:
    """List the registered model families, the data modalities each serves, and how it trains."""
    table = Table()
    table.add_column("family", no_wrap=True)  # names stay whole; the descriptions wrap
    for column in ("modalities", "trained by", "search space"):
        table.add_column(column, overflow="fold")
    for name in family_names():
        family = get_family(name)
        table.add_row(
            name, ", ".join(sorted(family.modalities)), family.training, family.description
        )
    out_console.print(table)


@app.command("datasets")
def list_datasets() -> None:
    """List the built-in data sets (shape, task, modality) and the file formats DATA can be."""
    # Names and figures in a table narrow enough for an 80-column terminal, never cut; the
    # descriptions below it, one line each, wrap at words.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("name", "examples + test", "shape of one", "task (classes)", "modality"):
        table.add_column(column, no_wrap=True)
    about = []
    for name in builtin_names():
        try:
            data = load(name)
        except TradeoffError as error:  # a data set from a package that is not installed
            table.add_row(name, "-", "-", "-", "-")
            about.append(f"{name}: not available: {error}; source: {builtin_origin(name)}")
            continue
        test = "" if data.y_test is None else f" + {len(data.y_test)}"
        classes = f" ({data.n_classes})" if data.n_classes else ""
        table.add_row(
            name,
            f"{len(data.y)}{test}",
            str(list(data.input_shape)),
            data.task + classes,
            data.modality,
        )
        about.append(f"{name}: {data.description}; source: {builtin_origin(name)}")
    out_console.print(table)
    for line in about:
        out_console.print(escape(line), highlight=False)
    out_console.print(
        "Files: " + ", ".join(supported_formats()) + " (see docs/data.md)", highlight=False
    )


def _prepare_with_cv(dataset, seed: int, cv: str, augment: str) -> Prepared:
    """``--cv``: K folds, ``off``, or ``auto`` (folds only when validation is small)."""
    from tradeoff.searcher.cv import prepare_for_search

    choice = cv.strip().lower()
    if choice in ("off", "none", "0"):
        choice = "off"
    elif choice != "auto":
        try:
            choice = int(choice)
        except ValueError:
            raise TradeoffError(
                f"--cv: expected a number of folds from 2 to 20, auto or off, got {cv!r}"
            ) from None
    return prepare_for_search(dataset, seed=seed, cv=choice, augment=augment)


def _search_and_report(prepared: Prepared, req, out, settings, *, resume, as_json) -> None:
    """Search, then show the result; exit 1 when nothing meets the requirements."""
    with user_errors():
        study, prepared = run_search(
            prepared.data, req, out, settings, resume=resume, show_progress=True, prepared=prepared
        )
        stopped_early = study.user_attrs.get(STOPPED_EARLY)
        run = Run.open(out, prepared=prepared)
        selection = explain_selection(run.trials(), run.requirements, run.prefer)
        pick = selection.pick
        twin = twin_summary(selection.most_accurate, selection.twin, run.requirements.metric, pick)
        test = evaluate.test_estimate(run, pick) if pick else None
        folds = evaluate.cross_validation(run, pick) if pick and prepared.folds else None
    if as_json:
        summary = summary_dict(run, pick, test) | {"prefer": run.prefer, **twin}
        if folds is not None:
            summary["pick"]["cv_scores"] = list(folds.scores)
            summary["pick"]["cv_mean"] = folds.mean
        summary["data"] = data_summary(prepared)
        summary["requirements_origin"] = settings.requirements_origin
        if pick is None:
            summary["no_pick"] = no_pick_dict(run, stopped_early)
        print(json.dumps(summary, indent=2))
    else:
        print_data(prepared)
        print_report(run, pick, test)
        if twin["line"] is not None:
            out_console.print("  " + twin["line"], highlight=False)
        if folds is not None:
            out_console.print(
                f"  cross-validated {folds.metric} of its configuration: {folds}", highlight=False
            )
        if pick is None:
            print_no_pick(run, stopped_early)
    if pick is None:
        raise typer.Exit(1)

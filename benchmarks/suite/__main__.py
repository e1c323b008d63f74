"""``python -m benchmarks.suite``: run a collection of the suite, append to its results file,
regenerate the RESULTS.md tables.

    PYTHONPATH=src python -m benchmarks.suite --collection eval --seeds 3 --budget 30s
    PYTHONPATH=src python -m benchmarks.suite --collection dev --sets gunpoint,auto --seeds 3
    PYTHONPATH=src python -m benchmarks.suite --smoke          # CI: 1 seed, seconds per set
    PYTHONPATH=src python -m benchmarks.suite --tables-only    # RESULTS.md from results.json

Each (set, seed, limits, contender) run is appended to ``--results`` when it ends; a run
already there is skipped, so an interrupted invocation resumes (``--rerun`` runs it again).
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.suite import tables
from benchmarks.suite.contenders import (
    BASELINES,
    CONTENDERS,
    LIMITS,
    Case,
    fit_peer,
    fit_tradeoff,
    flat,
    fresh,
    measure_shipped,
    peer_arrays,
    prepare_case,
    takes,
)
from benchmarks.suite.results import Results, machine
from benchmarks.suite.sets import sets

ROOT = Path(__file__).resolve().parents[2]
SMOKE_SETS = ["breast_cancer", "gunpoint", "carseats"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--collection", default="dev", help="dev (tune here) or eval (report only)")
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--budget", default="30s", help="search budget per run, e.g. 30s, 2m")
    parser.add_argument(
        "--limits", default="us,ms", help="comma-separated limit kinds: " + ", ".join(LIMITS)
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated: " + ", ".join(CONTENDERS),
    )
    parser.add_argument("--results", default="", help="results file (default per collection)")
    parser.add_argument("--markdown", default="", help="RESULTS.md whose suite section to rewrite")
    parser.add_argument(
        "--section", default="", help="the RESULTS.md section to rewrite (default: the collection)"
    )
    parser.add_argument("--out", default="runs/suite", help="run folders (replaced per run)")
    parser.add_argument("--rerun", action="store_true", help="run again what the file holds")
    parser.add_argument(
        "--smoke", action="store_true", help="CI: 1 seed, 5 s, 3 small sets, the loose (ms) limits"
    )
    parser.add_argument("--tables-only", action="store_true", help="only regenerate the tables")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.budget = 1, "5s"
        args.sets = args.sets or ",".join(SMOKE_SETS)
        args.contenders = "tradeoff,linear,lightgbm"
        # The loose limits: the smoke run checks the harness, not a tiny model's timing luck.
        args.limits = "ms"
        args.results = args.results or "runs/suite-smoke/results.json"
    args.results = args.results or f"benchmarks/results-{args.collection}.json"
    for name in filter(None, args.contenders.split(",")):
        if name not in CONTENDERS:
            parser.error(f"--contenders: unknown {name!r}; known: {', '.join(CONTENDERS)}")
    for name in filter(None, args.limits.split(",")):
        if name not in LIMITS:
            parser.error(f"--limits: unknown {name!r}; known: {', '.join(LIMITS)}")
    return args


def commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def run_set(suite_set, seed: int, args, results: Results, reference_p95_ms: float, protocol):
    """Every contender on one set and seed, under each limit kind; appended as each ends."""
    from tradeoff.searcher import parse_duration

    names = [n for n in args.contenders.split(",") if n]
    kinds = [LIMITS[k] for k in args.limits.split(",") if k]
    todo = [
        (name, kind)
        for name in names
        for kind in ([None] if name in BASELINES else kinds)
        if args.rerun or not results.has(suite_set.name, seed, kind, name)
    ]
    if not todo:
        return
    folder = fresh(Path(args.out) / suite_set.name / f"seed{seed}")
    data = suite_set.load(seed, Path(args.out) / "data")
    todo = [(name, kind) for name, kind in todo if takes(name, data.modality, data.task)]
    prepared = prepare_case(data, seed)
    case = Case(
        suite_set.name,
        data,
        prepared,
        seed,
        parse_duration(suite_set.budget or args.budget),
        folder,
        reference_p95_ms,
        protocol,
        suite_set.metric,
    )
    native, categorical = peer_arrays(prepared)
    onehot, _ = peer_arrays_onehot(prepared)
    np.savez(folder / "native.npz", **native)
    np.savez(folder / "onehot.npz", **onehot)
    # Rotate who goes first, so that no contender always meets the machine warmest.
    shift = (seed + len(suite_set.name)) % len(todo)
    for name, kind in todo[shift:] + todo[:shift]:
        req = None if kind is None else case.requirements(kind)
        label = kind.name if kind else "-"
        print(
            f"[suite] {suite_set.name} seed {seed} {label} {name} ...", file=sys.stderr, flush=True
        )
        load_before = os.getloadavg()
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        start = time.monotonic()
        uses_codes = name in ("flaml", "lightgbm", "hgb")
        splits = folder / ("native.npz" if uses_codes else "onehot.npz")
        cats = categorical if uses_codes else {}
        try:
            if name == "tradeoff":
                fit = fit_tradeoff(case, req)
                row = prepared.X_test
            else:
                fit = fit_peer(case, name, req, splits, cats)
                row = (native if uses_codes else onehot)["X_test"]
            fit["measured"] = measure_shipped(case, fit, row, cats)
        except Exception as error:  # a contender that fails is a row of the table, not a crash
            fit = {"error": (str(error).splitlines() or [repr(error)])[0][:300]}
        results.append(
            {
                "set": suite_set.name,
                "collection": suite_set.collection,
                "seed": seed,
                "limits": None if kind is None else kind.name,
                "contender": name,
                "metric": (req or case.requirements(LIMITS["us"])).metric,
                "task": data.task,
                "budget_s": case.budget_s,
                "reference_p95_ms": reference_p95_ms,
                "max_latency_ms": None if req is None else req.max_latency_ms,
                "max_size_mb": None if req is None else req.max_size_mb,
                "rows": {"train": len(prepared.y_train), "val": len(prepared.y_val)}
                | {"test": len(prepared.y_test), "folds": len(prepared.folds)},
                "started": started,
                "wall_s": time.monotonic() - start,
                "load_before": load_before,
                "load_after": os.getloadavg(),
                **{k: v for k, v in fit.items() if k not in ("shipped", "model_path")},
            }
        )
        print(f"[suite]   -> {tables.one_line(results.runs[-1])}", file=sys.stderr, flush=True)


def peer_arrays_onehot(prepared):
    """The splits as tradeoff's features (one-hot categories), flat: the linear baseline's."""
    arrays = {}
    for key, X, y in (
        ("train", prepared.X_train, prepared.y_train),
        ("val", prepared.X_val, prepared.y_val),
        ("test", prepared.X_test, prepared.y_test),
    ):
        arrays[f"X_{key}"], arrays[f"y_{key}"] = flat(X), y
    return arrays, {}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    results = Results.open(Path(args.results))
    if not args.tables_only:
        from tradeoff.cli.search import measure_reference
        from tradeoff.measure import LatencyProtocol

        chosen = sets(args.collection, [s for s in args.sets.split(",") if s], args.smoke)
        protocol = LatencyProtocol()
        reference = measure_reference(protocol)
        invocation = machine() | {
            "commit": commit(),
            "argv": sys.argv[1:] if argv is None else argv,
            "reference_p95_ms": reference.p95_ms,
            "reference_p50_ms": reference.p50_ms,
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_before": os.getloadavg(),
        }
        print(
            f"[suite] {len(chosen)} set(s) x {args.seeds} seed(s); reference p95 "
            f"{reference.p95_ms:.4f} ms on {invocation['cpu']}",
            file=sys.stderr,
            flush=True,
        )
        results.begin(invocation)
        for suite_set in chosen:
            for seed in range(args.seeds):
                run_set(suite_set, seed, args, results, reference.p95_ms, protocol)
        results.end(os.getloadavg())
    print("\n".join(tables.render(results)))
    if args.smoke:
        broken = [
            f"{r['set']}/{r['contender']}: {r.get('error') or 'a shipped model was not measured'}"
            for r in results.runs
            if r.get("error") or not all("p95_ms" in m for m in r.get("measured") or [{}])
        ]
        if broken:  # the smoke run is there to catch a harness that rots
            raise SystemExit("suite smoke run failed: " + "; ".join(broken))
    if args.markdown:
        section = args.section or results.collection()
        tables.write_section(Path(args.markdown), tables.render(results), section)


if __name__ == "__main__":
    main()

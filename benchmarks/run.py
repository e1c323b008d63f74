"""Does the search beat the alternatives? tradeoff vs naive Optuna (NSGA-II) vs random search.

For each data set of the suite, with a latency and a size limit that bind (not every
family fits), the contenders run one after another on this machine (interleaved: the
order rotates from one data set to the next), each with the same wall-clock budget, the
same families and strategies, and tradeoff's own training, export and measurement code:

- ``tradeoff``: as shipped (``run_search``: cost screened before training, halving, TPE);
- ``nsga2``: naive Optuna, NSGA-II, every trial trained, limits only via ``constraints_func``;
- ``random``: Optuna's RandomSampler, every trial trained, filtered afterwards.

Figures per data set and contender: the pick (best validation quality among candidates
meeting the requirements) and its test quality with a 95 % bootstrap interval; the
hypervolume of the feasible (validation quality x p95 latency) front against a fixed
reference point; training seconds spent on candidates that break a hard cost limit;
trials finished. Then the MNIST-1D paper table beside the per-family bests, and the
training-loop overhead of ``tradeoff.train`` vs a bare PyTorch loop.

    PYTHONPATH=src python -m benchmarks.run --suite quick                  # 2 min per contender
    PYTHONPATH=src python -m benchmarks.run --suite quick --budget 20s --datasets mnist1d
    PYTHONPATH=src python -m benchmarks.run --suite quick --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import onnxruntime
import optuna
import torch

import tradeoff
from benchmarks.contenders import (
    AutoGluonOutcome,
    Outcome,
    fresh,
    outcome,
    run_autogluon,
    run_naive,
    run_tradeoff,
)
from benchmarks.train_overhead import Overhead, measure_overhead
from tradeoff.measure import cpu_model
from tradeoff.prepare import prepare
from tradeoff.requirements import Requirements
from tradeoff.searcher import SearchSettings, parse_duration

CONTENDERS = ("tradeoff", "nsga2", "random")
#: Greydanus & Kobak, "Scaling down deep learning with MNIST-1D": test accuracy.
PAPER = {"linear": 0.32, "mlp": 0.68, "gru": 0.91, "cnn": 0.94, "human": 0.96}
START, END = "<!-- benchmarks.run:start -->", "<!-- benchmarks.run:end -->"


@dataclass(frozen=True)
class Case:
    """One data set with the requirements it is searched under.

    The limits come from the families' costs at their defaults on the 2-core AMD EPYC
    machine the results were taken on (ORT, 1 thread, batch 1): e.g. on mnist1d the GRU (0.036 ms p95) and the transformer (0.049
    ms) break 0.03 ms while the CNN (0.012 ms) and MLP (0.006 ms, 0.09 MB) fit.
    """

    dataset: str
    requirements: Requirements
    quality_ref: float  # worst quality of the hypervolume's reference point (chance level)


SUITES = {
    "quick": (
        Case("mnist1d", Requirements(max_latency_ms=0.03, max_size_mb=0.1), 0.1),
        Case("digits", Requirements(max_latency_ms=0.015, max_size_mb=0.15), 0.1),
        Case("breast_cancer", Requirements(max_latency_ms=0.02, max_size_mb=0.05), 0.5),
        Case("gunpoint", Requirements(max_latency_ms=0.03, max_size_mb=0.1), 0.5),
    ),
}
SUITES["full"] = (
    *SUITES["quick"],
    Case("iris", Requirements(max_latency_ms=0.02, max_size_mb=0.05), 1 / 3),
)
#: Per contender and data set: quick = 4 data sets x 3 contenders x 2 min, about 26 min in all.
DEFAULT_BUDGET = {"quick": "2m", "full": "10m"}


def run_case(
    case: Case,
    budget_s: float,
    seed: int,
    out: Path,
    order: tuple[str, ...],
    autogluon_python: str | None = None,
) -> tuple[list[Outcome], str, AutoGluonOutcome | None]:
    """Every contender on one data set, in ``order``, each for ``budget_s`` seconds."""
    data = tradeoff.datasets.load(case.dataset, seed=seed)
    prepared = prepare(data, seed=seed)
    req = case.requirements.for_task(data.task)
    families = SearchSettings(seed=seed).resolve_families(data.modality)
    results = {}
    for contender in order:
        folder = fresh(out / case.dataset / contender)
        print(f"[{case.dataset}] {contender}: {budget_s:.0f} s ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        if contender == "tradeoff":
            study, store = run_tradeoff(data, prepared, req, budget_s, seed, folder / "run")
        else:
            # NSGA-II's first generation is random sampling: the random contender draws with
            # another seed, so that it is an independent sample rather than a replay of it.
            draw_seed = seed + 1 if contender == "random" else seed
            study, store = run_naive(
                contender, prepared, req, families, budget_s, draw_seed, folder
            )
        wall_s = time.monotonic() - start
        results[contender] = outcome(
            contender, study, store, prepared, req, wall_s, case.quality_ref
        )
    autogluon = None
    if autogluon_python and case.dataset == "breast_cancer":
        print(f"[{case.dataset}] autogluon: {budget_s:.0f} s ...", file=sys.stderr, flush=True)
        folder = fresh(out / case.dataset / "autogluon")
        autogluon = run_autogluon(autogluon_python, prepared, req, budget_s, folder)
    return [results[c] for c in CONTENDERS if c in results], req.metric, autogluon


def case_table(case: Case, outcomes: list[Outcome], metric: str) -> list[str]:
    req = case.requirements
    ours = next((o for o in outcomes if o.contender == "tradeoff"), None)
    lines = [
        f"### {case.dataset}: p95 latency <= {req.max_latency_ms} ms, size <= {req.max_size_mb} MB",
        "",
        f"Hypervolume reference point: ({metric} {case.quality_ref:.3g}, {req.max_latency_ms} ms);"
        " HV is the fraction of that box the feasible front dominates.",
        "",
        f"| contender | trials (trained / feasible) | pick: family, val {metric}, p95 ms | "
        f"test {metric} [95% CI] | HV | HV ratio tradeoff/this | test ratio tradeoff/this | "
        "train s | train s on cost-infeasible |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        pick = (
            f"{o.pick_family}, {o.pick_val:.3f}, {o.pick_p95_ms:.4f}" if o.pick_family else "none"
        )
        test = f"{o.test.value:.3f} [{o.test.low:.3f}, {o.test.high:.3f}]" if o.test else "-"
        hv_ratio = _ratio(ours.hypervolume if ours else None, o.hypervolume)
        test_ratio = _ratio(
            ours.test.value if ours and ours.test else None, o.test.value if o.test else None
        )
        lines.append(
            f"| {o.contender} | {o.trials} ({o.trained} / {o.feasible}) | {pick} | {test} | "
            f"{o.hypervolume:.3f} | {hv_ratio} | {test_ratio} | {o.train_s:.0f} | "
            f"{o.wasted_train_s:.0f} |"
        )
    return lines + [""]


def autogluon_table(case: Case, ag: AutoGluonOutcome, metric: str) -> list[str]:
    req = case.requirements
    return [
        f"AutoGluon tabular (`presets=medium_quality`, `infer_limit={req.max_latency_ms / 1000:g}`"
        " s per row at batches of 10,000, same budget, same splits; its latency is its own "
        "Python `predict_proba`, not ONNX Runtime, so it has no hypervolume here):",
        "",
        f"| pick | models | fit s | val {metric} | test {metric} [95% CI] | p95 ms at batch 1 |"
        " size MB | within the latency / size limits |",
        "|---|---|---|---|---|---|---|---|",
        f"| {ag.best_model} | {ag.models} | {ag.fit_s:.0f} | {ag.val:.3f} | "
        f"{ag.test.value:.3f} [{ag.test.low:.3f}, {ag.test.high:.3f}] | {ag.p95_ms_batch1:.3f} | "
        f"{ag.size_mb:.2f} | {_yes(ag.p95_ms_batch1 <= req.max_latency_ms)} / "
        f"{_yes(ag.size_mb <= req.max_size_mb)} |",
        "",
    ]


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def paper_table(outcomes: list[Outcome]) -> list[str]:
    """MNIST-1D paper figures beside each contender's best-validation model per family."""
    lines = [
        "### MNIST-1D: the paper's test accuracy beside the per-family bests (under the limits)",
        "",
        "| family | paper | " + " | ".join(f"{o.contender} test [95% CI]" for o in outcomes) + " |",
        "|---|---|" + "---|" * len(outcomes),
    ]
    families = sorted({f for o in outcomes for f in o.per_family_test} | set(PAPER) - {"human"})
    for family in [*families, "human"]:
        cells = []
        for o in outcomes:
            if family in o.per_family_test:
                _, est = o.per_family_test[family]
                cells.append(f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]")
            else:
                cells.append("-")
        paper = f"{PAPER[family]:.2f}" if family in PAPER else "-"
        lines.append(f"| {family} | {paper} | " + " | ".join(cells) + " |")
    return lines + [""]


def overhead_table(results: list[Overhead]) -> list[str]:
    lines = [
        "### Training-loop overhead: `tradeoff.train` vs a bare PyTorch loop (goal >= 0.90)",
        "",
        "| model (mnist1d, defaults) | batch | epochs | tradeoff samples/s | bare samples/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.family} | {r.batch_size} | {r.epochs} | {r.tradeoff_samples_per_s:,.0f} | "
            f"{r.bare_samples_per_s:,.0f} | {r.ratio:.2f} |"
        )
    return lines + [""]


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine(load_at_start: str) -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} logical cores (/proc/cpuinfo); load average "
        f"(1, 5, 15 min) {load_at_start} at the start, {load_average()} at the end; "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads by default, 1 per search), "
        f"onnxruntime {onnxruntime.__version__}, optuna {optuna.__version__}"
    )


def write_section(path: Path, lines: list[str]) -> None:
    """Replace this benchmark's section of ``path`` (between its markers), or append it."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "\n".join([START, *lines, END])
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None:
        return "-"
    if theirs == 0:
        return "inf" if ours > 0 else "-"
    return f"{ours / theirs:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick", help="data sets")
    parser.add_argument(
        "--budget", default=None, help="wall-clock budget per contender and data set (20s, 5m)"
    )
    parser.add_argument("--datasets", default=None, help="comma-separated subset of the suite")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated: " + ", ".join(CONTENDERS),
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for splits, samplers, training")
    parser.add_argument("--out", default="runs/bench", help="folder for the runs (replaced)")
    parser.add_argument(
        "--overhead-epochs",
        type=int,
        default=5,
        help="epochs per timed training-loop run (0: skip)",
    )
    parser.add_argument(
        "--autogluon-python",
        default=None,
        help="Python of a venv with autogluon.tabular: adds it as a contender on breast_cancer",
    )
    parser.add_argument(
        "--results", default=None, help="write the tables into this markdown file's section"
    )
    args = parser.parse_args(argv)

    budget_s = parse_duration(args.budget or DEFAULT_BUDGET[args.suite])
    cases = SUITES[args.suite]
    if args.datasets:
        wanted = args.datasets.split(",")
        unknown = set(wanted) - {c.dataset for c in cases}
        if unknown:
            parser.error(f"--datasets: not in suite {args.suite}: {', '.join(sorted(unknown))}")
        cases = tuple(c for c in cases if c.dataset in wanted)
    contenders = tuple(args.contenders.split(","))
    if set(contenders) - set(CONTENDERS):
        parser.error(f"--contenders: choose among {', '.join(CONTENDERS)}")

    # tradeoff's cost lock (one latency measurement at a time, machine-wide) lives in the temp
    # folder: a private one keeps other tradeoff processes on a shared machine (other users'
    # searches and tests) from delaying the benchmark's measurements, which the naive
    # contenders, lock-free, would not suffer.
    tempfile.tempdir = str(fresh(Path(args.out) / "tmp"))
    started, load_at_start = datetime.datetime.now(datetime.UTC), load_average()
    start = time.monotonic()
    lines = []
    for i, case in enumerate(cases):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        outcomes, metric, autogluon = run_case(
            case, budget_s, args.seed, Path(args.out), order, args.autogluon_python
        )
        lines += case_table(case, outcomes, metric)
        if autogluon is not None:
            lines += autogluon_table(case, autogluon, metric)
        if case.dataset == "mnist1d":
            lines += paper_table(outcomes)
        print("\n".join(lines[-40:]), file=sys.stderr, flush=True)
    if args.overhead_epochs:
        lines += overhead_table(
            [measure_overhead(f, epochs=args.overhead_epochs) for f in ("mlp", "cnn")]
        )
    minutes = (time.monotonic() - start) / 60
    command = " ".join(["PYTHONPATH=src python -m benchmarks.run", *(argv or sys.argv[1:])])
    header = [
        "## Search vs. alternatives (issue 9)",
        "",
        f"Command: `{command}` — {started:%Y-%m-%d %H:%M} UTC, {minutes:.0f} min in all, "
        f"budget {budget_s:.0f} s per contender and data set, seed {args.seed}.",
        "",
        f"Machine: {machine(load_at_start)}.",
        "",
        "The pick is the best validation quality among candidates meeting every requirement; "
        "its test figure is measured once on the held-out test split (95 % bootstrap interval). "
        "Trials: finished trials (tradeoff's include those screened out before training); "
        "feasible: trained and within every limit.",
        "",
    ]
    print("\n".join(header + lines))
    if args.results:
        write_section(Path(args.results), header + lines)


if __name__ == "__main__":
    main()

"""Family table on MNIST-1D: best validation and test accuracy per family, next to the paper.

Run on a quiet machine (the figures depend on how much training fits in the budget):

    PYTHONPATH=src python benchmarks/families.py --time-budget 15m --out runs/bench-families

By default (``--mode per-family``) the budget is split evenly: one unconstrained
search per family that serves sequences, so that every family gets the same
training time (a joint search lets the sampler starve some families; try
``--mode joint``). For each family it takes the best trial by validation
accuracy and evaluates that ONNX artifact once on the MNIST-1D test split
(1000 examples, 95 % bootstrap interval). Paper: Greydanus & Kobak, "Scaling down deep learning with MNIST-1D"
(logistic 0.32, MLP 0.68, GRU 0.91, CNN 0.94 test accuracy).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from pathlib import Path

import torch

import tradeoff
from tradeoff import evaluate
from tradeoff.families import family_names, get_family
from tradeoff.frontier import Run
from tradeoff.measure import cpu_model
from tradeoff.searcher import SearchSettings, parse_duration, run_search

PAPER = {"linear": 0.32, "mlp": 0.68, "gru": 0.91, "cnn": 0.94}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", default="15m", help="search wall-clock budget (90s, 15m)")
    parser.add_argument("--out", default="runs/bench-families", help="run folder (replaced)")
    parser.add_argument("--seed", type=int, default=0, help="seed for splits, sampler, training")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--mode",
        choices=["per-family", "joint"],
        default="per-family",
        help="split the budget evenly over families, or one joint search",
    )
    args = parser.parse_args()

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    data = tradeoff.datasets.load("mnist1d")
    budget_s = parse_duration(args.time_budget)
    # Ensembles combine other families' trials: they have nothing to combine on their own.
    families = [f for f in family_names("sequence") if not get_family(f).combines_trials]
    searches = [(out, None)] if args.mode == "joint" else [(out / f, (f,)) for f in families]
    start = time.monotonic()
    runs = []
    for folder, only in searches:
        settings = SearchSettings(
            time_budget_s=budget_s / len(searches),
            seed=args.seed,
            train_threads=args.threads,
            families=only,
        )
        _, prepared = run_search(data, tradeoff.Requirements(), folder, settings)
        runs.append(Run.open(folder, prepared=prepared))
    elapsed = time.monotonic() - start

    trials = [(run, r) for run in runs for r in run.trials()]
    print(f"\nMNIST-1D family table: `{' '.join(_command(args))}`")
    print(
        f"{len(trials)} trials in {elapsed / 60:.1f} min on {cpu_model()} "
        f"({torch.get_num_threads()} torch threads, Python {platform.python_version()}, "
        f"torch {torch.__version__}); test = the family's best-validation trial, evaluated once.\n"
    )
    print("| family | trials (trained / pruned) | best val acc | test acc [95% CI] | paper |")
    print("|---|---|---|---|---|")
    rows = []
    for family in families:
        mine = [r for _, r in trials if r.family == family]
        trained = [r for r in mine if r.trained]
        pruned = sum(r.status == "pruned" for r in mine)
        if not trained:
            rows.append((family, f"{len(mine)} (0 / {pruned})", None, "-"))
            continue
        run, best = max(
            ((run, r) for run, r in trials if r.family == family and r.trained),
            key=lambda pair: pair[1].val_metric,
        )
        test = evaluate.test_estimate(run, best)
        rows.append(
            (
                family,
                f"{len(mine)} ({len(trained)} / {pruned})",
                best.val_metric,
                f"{test.value:.3f} [{test.low:.3f}, {test.high:.3f}]",
            )
        )
    rows.sort(key=lambda row: -(row[2] if row[2] is not None else -1.0))
    for family, count, val, test in rows:
        val_text = "-" if val is None else f"{val:.3f}"
        paper = f"{PAPER[family]:.2f}" if family in PAPER else "-"
        print(f"| {family} | {count} | {val_text} | {test} | {paper} |")


def _command(args) -> list[str]:
    return [
        "PYTHONPATH=src",
        "python",
        "benchmarks/families.py",
        f"--time-budget {args.time_budget}",
        f"--seed {args.seed}",
        f"--mode {args.mode}",
    ] + ([f"--threads {args.threads}"] if args.threads else [])


if __name__ == "__main__":
    main()

"""Successive halving within cost bands: training time saved, and the front it keeps.

Runs the same search (same seed, data, families and number of trials) twice on
MNIST-1D, without and with halving, and compares the training time spent and the
Pareto fronts (validation accuracy vs p95 latency):

    PYTHONPATH=src python benchmarks/pruning.py --trials 40 --out runs/bench-pruning

The halving run replays the no-halving run's configurations in the same order
(enqueued trials), so each configuration trains from the same seed in both and
every difference comes from halving itself, not from the sampler drawing other
points (pruned trials would otherwise feed back into TPE). Compression is off in
both: it is orthogonal and would add variants to the fronts.

"front gap" for each member of the no-halving front: how much less accurate the
best trained candidate of the halving run is at no more than 1.25x its latency
(the tolerance absorbs latency noise between runs); 0 means the front was kept.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import tradeoff
from tradeoff.frontier import Run
from tradeoff.measure import cpu_model
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.halving import Halving


def search(
    out: Path, halving: Halving | None, args, replay: Run | None = None
) -> tuple[Run, float]:
    if out.exists():
        shutil.rmtree(out)
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=args.trials,
        families=tuple(args.families.split(",")),
        seed=args.seed,
        train_threads=args.threads,
        halving=halving,
        compression=None,
        first_trials=tuple(t.params for t in replay.study.trials) if replay else (),
    )
    start = time.monotonic()
    _, prepared = run_search(
        tradeoff.datasets.load("mnist1d"), tradeoff.Requirements(), out, settings
    )
    return Run.open(out, prepared=prepared), time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per search")
    parser.add_argument("--families", default="linear,mlp,cnn,gru", help="families searched")
    parser.add_argument("--out", default="runs/bench-pruning", help="folder for both runs")
    parser.add_argument("--seed", type=int, default=0, help="seed for both searches")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()

    full, full_s = search(Path(args.out) / "no-halving", None, args)
    halved, halved_s = search(Path(args.out) / "halving", Halving(), args, replay=full)
    same = [t.params for t in full.study.trials] == [t.params for t in halved.study.trials]

    print(
        f"\nHalving benchmark: MNIST-1D, {args.trials} trials of {args.families}, seed {args.seed}, "
        f"CPU {cpu_model()}; the halving run replays the same configurations: {same}\n"
    )
    print("| search | wall s | train s | epochs | pruned | best val acc | front size |")
    print("|---|---|---|---|---|---|---|")
    for name, run, wall in (("no halving", full, full_s), ("halving", halved, halved_s)):
        trials = run.trials()
        trained = [r for r in trials if r.trained]
        print(
            f"| {name} | {wall:.0f} | {sum(r.train_seconds for r in trials):.0f} | "
            f"{sum(len(r.curve) for r in trials)} | {sum(r.status == 'pruned' for r in trials)} | "
            f"{max((r.val_metric for r in trained), default=float('nan')):.3f} | {len(run.front())} |"
        )
    print("\nFront of the no-halving run, and what the halving run has at <= 1.25x its latency:\n")
    print("| no-halving front: family | p95 ms | val acc | halving run best there | gap |")
    print("|---|---|---|---|---|")
    halved_trained = [r for r in halved.trials() if r.trained]
    gaps = []
    for member in full.front():
        there = [r.val_metric for r in halved_trained if r.p95_ms <= 1.25 * member.p95_ms]
        best = max(there, default=float("nan"))
        gap = max(0.0, member.val_metric - best) if there else float("nan")
        gaps.append(gap)
        print(
            f"| {member.family} | {member.p95_ms:.4f} | {member.val_metric:.3f} | {best:.3f} | {gap:.3f} |"
        )
    print(f"\nlargest front gap: {max(gaps, default=float('nan')):.3f}")


if __name__ == "__main__":
    main()

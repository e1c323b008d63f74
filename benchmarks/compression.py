"""Compression benchmark: the pick on MNIST-1D with and without compression, same budget.

    PYTHONPATH=src python benchmarks/compression.py                       # full: 2 x 5 min
    PYTHONPATH=src python benchmarks/compression.py --budget 60s --quick  # smoke test

Both searches use the same seed, requirements, families and wall-clock
budget; the only difference is compression in the loop. Prints each pick
(validation and test accuracy, p95, size), how many variants were kept or
rejected and why, and writes both run folders under --out.
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

import tradeoff
from tradeoff import evaluate
from tradeoff.measure import QUICK_PROTOCOL, LatencyProtocol
from tradeoff.searcher import SearchSettings, parse_duration, run_search
from tradeoff.searcher.compression import CompressionSettings


def one_search(out: Path, req, budget_s: float, compress: bool, protocol, families, seed) -> dict:
    if out.exists():
        shutil.rmtree(out)
    settings = SearchSettings(
        time_budget_s=budget_s,
        families=families,
        seed=seed,
        protocol=protocol,
        compression=CompressionSettings() if compress else None,
    )
    data = tradeoff.datasets.load("mnist1d", seed=seed)
    _, prepared = run_search(data, req, out, settings, show_progress=False)
    run = tradeoff.Run.open(out, prepared=prepared)
    pick = run.select()
    trials = run.trials()
    variants = [r for r in trials if r.parent_trial is not None]
    summary = {
        "trials": len(trials),
        "trained": sum(r.trained for r in trials),
        "feasible": sum(r.feasible for r in trials),
        "variants_kept": Counter(r.compression["pass"] for r in variants if r.trained),
        "variants_rejected": Counter(r.compression["pass"] for r in variants if not r.trained),
        "pick": None,
    }
    if pick is not None:
        test = evaluate.test_estimate(run, pick)
        summary["pick"] = {
            "trial": pick.number,
            "family": pick.family,
            "pass": pick.compression.get("pass"),
            "parent": pick.parent_trial,
            "val": pick.val_metric,
            "test": test.value,
            "test_interval": (test.low, test.high),
            "p95_ms": pick.p95_ms,
            "size_mb": pick.size_mb,
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m", help="wall-clock budget of each search")
    parser.add_argument("--max-latency-ms", type=float, default=0.02, help="p95 limit at batch 1")
    parser.add_argument("--max-size-mb", type=float, default=0.05, help="ONNX size limit")
    parser.add_argument("--families", default="linear,mlp,cnn", help="families to search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="short latency protocol (noisy)")
    parser.add_argument("--out", default="runs/bench-compression", help="where the runs go")
    args = parser.parse_args()
    req = tradeoff.Requirements(max_latency_ms=args.max_latency_ms, max_size_mb=args.max_size_mb)
    protocol = QUICK_PROTOCOL if args.quick else LatencyProtocol()
    families = tuple(args.families.split(","))
    budget_s = parse_duration(args.budget)
    results = {}
    for compress in (False, True):
        label = "with compression" if compress else "without compression"
        out = Path(args.out) / ("compress" if compress else "plain")
        results[label] = one_search(out, req, budget_s, compress, protocol, families, args.seed)
    print(
        f"MNIST-1D, p95 <= {args.max_latency_ms} ms, size <= {args.max_size_mb} MB, "
        f"budget {args.budget} each, families {args.families}, seed {args.seed}"
    )
    for label, s in results.items():
        print(
            f"{label}: {s['trials']} trials, {s['trained']} trained, {s['feasible']} feasible; "
            f"variants kept {dict(s['variants_kept'])}, rejected {dict(s['variants_rejected'])}"
        )
        p = s["pick"]
        if p is None:
            print("  pick: none meets the requirements")
            continue
        how = f" ({p['pass']} of #{p['parent']})" if p["pass"] else ""
        print(
            f"  pick: #{p['trial']} {p['family']}{how}: val {p['val']:.4f}, test {p['test']:.4f} "
            f"[{p['test_interval'][0]:.4f}, {p['test_interval'][1]:.4f}], "
            f"p95 {p['p95_ms']:.4f} ms, {p['size_mb']:.4f} MB"
        )


if __name__ == "__main__":
    main()

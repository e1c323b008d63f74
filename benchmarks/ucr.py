"""UCR/UEA series from sktime's wheel: test accuracy beside MultiRocket, and what screening saves.

One command (a quiet machine gives truer latencies; figures here say when it was shared):

    PYTHONPATH=src python benchmarks/ucr.py --time-budget 5m --out runs/bench-ucr

For each of GunPoint, ACSF1, BasicMotions and JapaneseVowels (sktime's bundled copies,
the archive's own train/test split; JapaneseVowels' unequal lengths padded by the
loader), it runs two searches at ``p95 <= 1 ms`` with the same seed, families and
budget, ranked by cross-validation (``--cv auto``: 5 folds x 2 on train+validation;
``--cv off`` ranks on the validation split instead, as searches did before issue 18, to
show what screening saves where training does not dominate the wall clock):

- ``full``: every candidate's latency measured with the full protocol (>= 2,000 calls, 3 s),
  and every cross-validated candidate retrained on all folds;
- ``screened``: the sequential protocol (stops once p95's interval is 1.5x clear of the
  limit), an identical architecture measured once, and fold racing (a candidate surely
  worse than a peer as cheap, on the folds done, is not retrained on the rest; ``--no-race``
  leaves racing out, to show what the latency protocol alone saves).

It reports the pick's test accuracy (refitted on train+validation, 95 % bootstrap
interval) beside that of the candidate with the best fold mean (what selection's tie
rule costs: ties within noise go to the faster model), the share of wall clock spent
training (fits, epochs and fold retraining), trials per minute, and the screening's
false-feasible rate: every candidate the screened run passed as feasible on a sequential
measurement is measured again with the full protocol, and counted when that says it
breaks the limit; and the racing's wrong verdicts: candidates it stopped, retrained on
every fold, whose fold mean reaches that of the peer they were raced against.

Published figures: MultiRocket (50k features), fold 0 of
``results/resamples/MULTIROCKET_50K_TESTFOLDS.csv`` in github.com/ChangWeiTan/MultiRocket
(fold 0 is the archive's default split): GunPoint 1.000, ACSF1 0.900. HIVE-COTE 2:
resample 0 (aeon: "the first resample is the default train/test split") of
``aeon/testing/example_results_files/classification/accuracy/HC2_accuracy.csv`` in aeon
1.6.0's wheel: GunPoint 1.000, ACSF1 0.910. Both files cover the univariate UCR sets
only; BasicMotions and JapaneseVowels (UEA, multivariate) are left blank.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import sktime.datasets

import tradeoff
from tradeoff import evaluate
from tradeoff.frontier import Run
from tradeoff.measure import LatencyProtocol, cpu_model, measure_latency
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, parse_duration, run_search
from tradeoff.searcher.cv import AUTO_FOLDS, AUTO_REPEATS
from tradeoff.searcher.halving import Halving
from tradeoff.selection import most_accurate

DATA = Path(sktime.datasets.__file__).parent / "data"
SETS = ("GunPoint", "BasicMotions", "JapaneseVowels", "ACSF1")  # slowest last
#: MultiRocket 50k, fold 0 (the default split); None: not available offline.
MULTIROCKET = {"GunPoint": 1.000, "ACSF1": 0.900, "BasicMotions": None, "JapaneseVowels": None}
#: HIVE-COTE 2, resample 0 (the default split) of aeon 1.6.0's HC2_accuracy.csv.
HIVE_COTE_2 = {"GunPoint": 1.000, "ACSF1": 0.910, "BasicMotions": None, "JapaneseVowels": None}
LIMIT_MS = 1.0


def search(
    name: str, out: Path, budget_s: float, screened: bool, seed: int, cv: bool, race: bool = True
) -> dict:
    data = tradeoff.datasets.load(DATA / name / f"{name}_TRAIN.ts")
    folds = {"cv": AUTO_FOLDS, "cv_repeats": AUTO_REPEATS} if cv else {}
    prepared = prepare(data, seed=seed, **folds)
    protocol = LatencyProtocol() if screened else LatencyProtocol(screen_first_calls=0)
    halving = Halving() if screened and race else Halving(race_confidence=None)
    settings = SearchSettings(time_budget_s=budget_s, seed=seed, protocol=protocol, halving=halving)
    requirements = tradeoff.Requirements(max_latency_ms=LIMIT_MS)
    start = time.monotonic()
    run_search(data, requirements, out, settings, show_progress=False, prepared=prepared)
    wall_s = time.monotonic() - start
    run = Run.open(out, prepared=prepared)
    trials = run.trials()
    fit_s = sum(r.train_seconds for r in trials)
    fold_s = sum(r.cv.get("seconds", 0.0) for r in trials)
    pick = run.select()
    test = evaluate.test_estimate(run, pick) if pick else None
    # What the tie rule costs: the best fold mean, as if ties did not go to the faster model.
    best = most_accurate(trials, run.requirements)
    same = best is not None and pick is not None and best.number == pick.number
    best_test = test if same else (evaluate.test_estimate(run, best) if best else None)
    return {
        "run": run,
        "wall_s": wall_s,
        "trials": len(trials),
        "trials_per_min": 60 * len(trials) / wall_s,
        "train_share": (fit_s + fold_s) / wall_s,
        "pick": pick,
        "test": test,
        "best": best,
        "best_test": best_test,
        "n_val": len(prepared.y_val),
        "sequential": sum(r.latency_method.get("protocol", "full") != "full" for r in trials),
        "reused": sum("reused_from_trial" in r.latency_method for r in trials),
        "raced": sum("raced_against" in r.cv for r in trials),
    }


def best_label(result: dict) -> str:
    """The best fold mean's test accuracy, ``= pick`` when the tie rule kept it."""
    best, pick = result["best"], result["pick"]
    if best is None:
        return "-"
    same = pick is not None and best.number == pick.number
    return f"{result['best_test'].value:.3f}" + (" (= pick)" if same else f" (#{best.number})")


def false_feasible(result: dict, limit: int) -> tuple[int, int]:
    """Candidates passed as feasible by a sequential measurement, re-measured in full:
    (how many the full protocol says break the limit, how many were re-measured)."""
    run = result["run"]
    passed = [
        r
        for r in run.trials()
        if r.trained
        and r.artifact_id
        and r.latency_method.get("protocol", "full").startswith("sequential (under")
    ][:limit]
    wrong = 0
    with tempfile.TemporaryDirectory() as tmp:
        for record in passed:
            path = run.artifact_path(record, tmp)
            shape = tuple(run.prepared.input_shape)
            latency = measure_latency(Path(path).read_bytes(), shape, LatencyProtocol())
            wrong += latency.p95_high_ms > LIMIT_MS
    return wrong, len(passed)


def wrongly_raced(result: dict, limit: int) -> tuple[int, int]:
    """Candidates fold racing stopped, retrained on every fold: (how many reach the fold mean
    of the peer they were raced against, how many were retrained)."""
    run = result["run"]
    by_number = {r.number: r for r in run.trials()}
    raced = [r for r in run.trials() if "raced_against" in r.cv][:limit]
    wrong = 0
    for record in raced:
        complete = evaluate.cross_validation(run, record)
        wrong += complete.mean >= by_number[record.cv["raced_against"]].val_metric
    return wrong, len(raced)


def fold_ranking(result: dict, top: int = 6) -> list[str]:
    run = result["run"]
    ranked = sorted(
        (r for r in run.trials() if r.trained and r.cv),
        key=lambda r: -r.val_metric,
    )[:top]
    lines = [
        "| trial | family | fold mean [95 % CI] (10 folds) | validation split | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for r in ranked:
        low, high = r.cross_validation.interval
        mark = " (pick)" if result["pick"] is not None and r.number == result["pick"].number else ""
        lines.append(
            f"| #{r.number}{mark} | {r.family} | {r.val_metric:.3f} [{low:.3f}, {high:.3f}] | "
            f"{r.holdout_val_metric:.3f} (n={result['n_val']}) | {r.p95_ms:.3f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", default="5m", help="per search (two per data set)")
    parser.add_argument("--out", default="runs/bench-ucr", help="folder of run folders (replaced)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated data sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recheck", type=int, default=8, help="re-measured per set, at most")
    parser.add_argument(
        "--cv",
        choices=("auto", "off"),
        default="auto",
        help="off: rank on the validation split, as before issue 18 (what screening alone saves)",
    )
    parser.add_argument(
        "--no-race",
        action="store_true",
        help="screened searches without fold racing (what the latency protocol alone saves)",
    )
    args = parser.parse_args()
    cv = args.cv == "auto"
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    budget_s = parse_duration(args.time_budget)
    rows, ranking, summary = [], [], {}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        # Interleaved per data set, so that both protocols see the same machine load.
        for_set = {"budget_s": budget_s, "seed": args.seed, "cv": cv}
        full = search(name, out / name / "full", screened=False, **for_set)
        screened = search(
            name, out / name / "screened", screened=True, race=not args.no_race, **for_set
        )
        wrong, checked = false_feasible(screened, args.recheck)
        raced_wrong, raced_checked = wrongly_raced(screened, args.recheck)
        pick, test = screened["pick"], screened["test"]
        published = [
            "-" if figures[name] is None else f"{figures[name]:.3f}"
            for figures in (MULTIROCKET, HIVE_COTE_2)
        ]
        rows.append(
            f"| {name} | {pick.family if pick else '-'} | "
            f"{test.value:.3f} [{test.low:.3f}, {test.high:.3f}] | "
            f"{published[0]} | {published[1]} | "
            f"{full['test'].value:.3f} | {best_label(screened)} | {pick.p95_ms:.3f} | "
            f"{100 * full['train_share']:.0f} % -> {100 * screened['train_share']:.0f} % | "
            f"{full['trials_per_min']:.1f} -> {screened['trials_per_min']:.1f} | "
            f"{wrong}/{checked} | {screened['raced']} ({raced_wrong}/{raced_checked}) |"
        )
        if name == "GunPoint" and cv:
            ranking = fold_ranking(screened)
        summary[name] = {
            "pick": dataclasses.asdict(pick) if pick else None,
            "test": test.__dict__ if test else None,
            "full_test": full["test"].__dict__ if full["test"] else None,
            "best_fold_mean": screened["best"].number if screened["best"] else None,
            "best_fold_mean_test": screened["best_test"].__dict__
            if screened["best_test"]
            else None,
            **{
                f"{k}_{which}": r[k]
                for which, r in (("full", full), ("screened", screened))
                for k in (
                    "wall_s",
                    "trials",
                    "trials_per_min",
                    "train_share",
                    "sequential",
                    "reused",
                    "raced",
                )
            },
            "false_feasible": [wrong, checked],
            "wrongly_raced": [raced_wrong, raced_checked],
        }
        print(rows[-1], flush=True)
    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average over the last 15 min "
        f"at the end {os.getloadavg()[2]:.1f}; "
        f"{args.time_budget} per search; limit p95 <= {LIMIT_MS:g} ms, ONNX Runtime 1 thread, "
        "batch 1; test accuracy of the pick, 95 % bootstrap CI; "
        + (
            "ranked by 5-fold x 2 cross-validation on train+validation, the pick refitted there."
            if cv
            else "ranked on the validation split (--cv off), the pick as trained on train."
        ),
        "",
        "| set | pick | test accuracy (screened run) | MultiRocket | HIVE-COTE 2 | "
        "test (full-protocol run) | test of the best fold mean (screened run) | pick p95 ms | "
        "training share full -> screened | trials/min full -> screened | false feasible | "
        "raced out (wrong verdicts / re-scored) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        *(
            [
                "",
                "GunPoint, screened run: the fold ranking (top candidates by fold mean)",
                "",
                *ranking,
            ]
            if ranking
            else []
        ),
    ]
    print("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "RESULTS-section.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""ISLP's Caravan and Bikeshare: tradeoff's pick against LightGBM at its defaults, same split.

    PYTHONPATH=src python benchmarks/islp_vs_lightgbm.py                  # 3 min a search
    PYTHONPATH=src python benchmarks/islp_vs_lightgbm.py --budget 60s --quick

LightGBM is what a user writes in three lines (``LGBMClassifier().fit(X, y)``,
``predict_proba``) on the same training split tradeoff prepared (numeric
features, text columns one-hot), scored on the same test split. Quality: the
run's metric (Caravan: ROC-AUC, 6 % positives; Bikeshare: R²) on the test
split with a 95 % bootstrap interval. Latency: p95 at batch 1 as each ships,
one thread: tradeoff's exported bundle in ONNX Runtime (``tradeoff bench``,
raw table row in, encoding included, in a fresh process); LightGBM's
``predict_proba``/``predict`` on one prepared row in Python, timed over
``--calls`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tradeoff
from tradeoff.measure import QUICK_PROTOCOL, LatencyProtocol, bootstrap, predict_outputs
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, parse_duration, run_search

CASES = {"caravan": "roc_auc", "bikeshare": "r2"}


def lightgbm_defaults(prepared, metric: str, calls: int) -> dict:
    import lightgbm

    regression = prepared.task == "regression"
    model = (lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier)(
        n_jobs=1, verbose=-1
    )
    start = time.perf_counter()
    model.fit(prepared.X_train, prepared.y_train)
    fit_s = time.perf_counter() - start
    X = prepared.X_test
    outputs = (
        model.predict(X)[:, None]
        if regression
        else np.log(np.maximum(model.predict_proba(X), 1e-30))
    )
    estimate = bootstrap(metric, prepared.y_test, outputs, split="test")
    predict = model.predict if regression else model.predict_proba
    for i in range(50):
        predict(X[i : i + 1])
    times = []
    for i in range(calls):
        row = X[i % len(X) : i % len(X) + 1]
        begin = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - begin)
    return {
        "test": [estimate.value, estimate.low, estimate.high],
        "p95_ms_batch1": float(np.percentile(times, 95) * 1e3),
        "fit_s": fit_s,
        "latency_method": f"Python {predict.__name__} on one prepared row, n_jobs=1, "
        f"{calls} calls after 50 warm-up",
    }


def tradeoff_pick(name: str, metric: str, budget: str, quick: bool, out: Path) -> tuple:
    if out.exists():
        shutil.rmtree(out)
    data = tradeoff.datasets.load(name)
    prepared = prepare(data)
    settings = SearchSettings(
        time_budget_s=parse_duration(budget),
        protocol=QUICK_PROTOCOL if quick else LatencyProtocol(),
        max_epochs=30,
    )
    req = tradeoff.Requirements(metric=metric)
    run_search(data, req, out / "run", settings, show_progress=False, prepared=prepared)
    run = tradeoff.Run.open(out / "run", prepared=prepared)
    pick = run.select()
    bundle = tradeoff.export(run, out / "model")
    with tempfile.TemporaryDirectory() as tmp:
        outputs = predict_outputs(run.artifact_path(pick, tmp), prepared.X_test)
    estimate = bootstrap(metric, prepared.y_test, outputs, split="test")
    bench = subprocess.run(
        [sys.executable, "-m", "tradeoff", "bench", str(bundle), "--json", "--threads", "1"]
        + (["--quick"] if quick else []),
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(bench.stdout)
    trials = run.trials()
    return prepared, {
        "pick": f"#{pick.number} {pick.family}"
        + (f" ({pick.compression['pass']} of #{pick.parent_trial})" if pick.parent_trial else ""),
        "test": [estimate.value, estimate.low, estimate.high],
        "p95_ms_batch1": measured["latency"]["p95_ms"],
        "size_mb": measured["size_mb"],
        "trials": len(trials),
        "trained": sum(r.trained for r in trials),
        "peak_rss_mb": max((r.peak_rss_mb or 0.0) for r in trials),
        "latency_method": "tradeoff bench on the exported bundle (ONNX Runtime, 1 thread, "
        "batch 1, raw row in, fresh process)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="3m", help="wall-clock budget of each search")
    parser.add_argument("--calls", type=int, default=2000, help="LightGBM timed calls")
    parser.add_argument("--quick", action="store_true", help="short latency protocol (noisy)")
    parser.add_argument("--out", default="runs/bench-islp")
    args = parser.parse_args()
    results = {}
    for name, metric in CASES.items():
        prepared, ours = tradeoff_pick(name, metric, args.budget, args.quick, Path(args.out) / name)
        theirs = lightgbm_defaults(prepared, metric, args.calls)
        results[name] = {
            "metric": metric,
            "rows": {"train": len(prepared.y_train), "test": len(prepared.y_test)},
            "tradeoff": ours,
            "lightgbm_defaults": theirs,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

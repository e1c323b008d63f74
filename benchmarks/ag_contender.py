"""AutoGluon tabular as a contender: run by ``benchmarks/run.py`` with ``--autogluon-python``.

AutoGluon pins ``pandas<2.4`` and ``pyarrow<25``, older than tradeoff's, so it lives in a
virtual environment of its own and this script is run with that environment's Python
(it imports nothing from tradeoff)::

    python -m venv --system-site-packages /tmp/agvenv
    /tmp/agvenv/bin/pip install "autogluon.tabular==1.6.3"

Reads the splits from ``splits.npz`` (arrays only, no pickles), fits a
``TabularPredictor`` for ``budget_s`` with ``infer_limit`` (AutoGluon's own notion of
latency: mean seconds per row, here at batches of ``infer_limit_batch_size`` rows), and
writes the test-set probabilities, the model count and its batch-1 latency to ``out``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from autogluon.tabular import TabularPredictor


def main(splits: str, out: str, budget_s: float, infer_limit_s: float) -> None:
    arrays = np.load(splits, allow_pickle=False)
    columns = [f"x{i}" for i in range(arrays["X_train"].shape[1])]

    def frame(X, y=None):
        table = pd.DataFrame(X, columns=columns)
        if y is not None:
            table["label"] = y
        return table

    folder = Path(out)
    start = time.perf_counter()
    predictor = TabularPredictor(label="label", path=str(folder / "ag"), verbosity=0).fit(
        frame(arrays["X_train"], arrays["y_train"]),
        tuning_data=frame(arrays["X_val"], arrays["y_val"]),
        time_limit=budget_s,
        infer_limit=infer_limit_s,
        infer_limit_batch_size=10_000,
        presets="medium_quality",
    )
    fit_s = time.perf_counter() - start
    test = frame(arrays["X_test"])
    probabilities = predictor.predict_proba(test).to_numpy(dtype=np.float64)
    row = test.iloc[:1]
    for _ in range(20):
        predictor.predict_proba(row)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        predictor.predict_proba(row)
        times.append((time.perf_counter() - t0) * 1e3)
    board = predictor.leaderboard(silent=True)
    np.save(folder / "test_probabilities.npy", probabilities)
    (folder / "result.json").write_text(
        json.dumps(
            {
                "best_model": predictor.model_best,
                "models": len(board),
                "fit_s": fit_s,
                "val_score": float(
                    board.loc[board.model == predictor.model_best, "score_val"].iloc[0]
                ),
                "p95_ms_batch1": float(np.percentile(times, 95)),
                "size_mb": sum(p.stat().st_size for p in (folder / "ag").rglob("*") if p.is_file())
                / 1e6,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))

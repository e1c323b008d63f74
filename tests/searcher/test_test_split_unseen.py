"""The test split cannot influence a search: it is only reported.

The same search on the same training rows, once with the real test split and once with the
test rows shuffled, their labels permuted and their features replaced by noise, must try the
same trials (same params, same validation figures) and pick the same one; only the test
estimate may change.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import tradeoff
from tradeoff import Requirements, evaluate
from tradeoff.datasets import load
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, run_search

QUICK = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


def _search(tmp_path, data, name: str):
    prepared = prepare(data, seed=0)
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=6,
        families=("linear", "gbdt", "mlp"),
        protocol=QUICK,
        max_epochs=3,
        compression=None,
    )
    run_search(
        data, Requirements(), tmp_path / name, settings, show_progress=False, prepared=prepared
    )
    run = tradeoff.Run.open(tmp_path / name, prepared=prepared)
    trials = [(r.number, r.family, r.params, r.strategy, r.val_metric) for r in run.trials()]
    pick = run.select()
    return trials, pick.number, evaluate.test_estimate(run, pick).value


def test_shuffled_noisy_test_rows_leave_the_trials_and_the_pick_unchanged(tmp_path):
    iris = load("iris")
    rng = np.random.default_rng(0)
    rest = rng.permutation(len(iris.y))
    test, train = rest[:30], rest[30:]
    real = dataclasses.replace(
        iris, X=iris.X[train], y=iris.y[train], X_test=iris.X[test], y_test=iris.y[test]
    )
    order = rng.permutation(len(test))
    noise = rng.normal(0, 1, real.X_test.shape).astype(np.float32)
    scrambled = dataclasses.replace(
        real, X_test=noise[order], y_test=rng.permutation(real.y_test)[order]
    )
    trials, pick, score = _search(tmp_path, real, "real")
    trials_again, pick_again, score_again = _search(tmp_path, scrambled, "scrambled")
    assert len(trials) == 6 and all(t[4] is not None for t in trials)
    assert trials_again == trials
    assert pick_again == pick
    # The shuffle reached the test split: its estimate changed (noise is not iris).
    assert score > 0.8 and score_again < score

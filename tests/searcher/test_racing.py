"""Fold racing: a candidate ranked by cross-validation stops training on folds once it is surely
worse than a peer of its cost band or a cheaper one (searcher/halving.py, FoldRace)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import tradeoff
from tradeoff import Requirements, evaluate
from tradeoff.datasets import load
from tradeoff.families import get_family
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import prepare
from tradeoff.records import attrs as rec
from tradeoff.retrain import FoldsRaced, fold_scores
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.halving import FoldRace, Halving, surely_worse

QUICK = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


def test_only_a_consistent_gap_is_surely_worse():
    big_gap = [-0.30, -0.25, -0.35]
    assert surely_worse(big_gap, 0.99, 3, resolution=0.05)
    assert not surely_worse(big_gap[:2], 0.99, 3, resolution=0.05)  # too few folds yet
    assert not surely_worse(big_gap, 0.99, 4, resolution=0.05)
    # One held-out row lost on every fold is the finest difference a fold shows: it takes 9
    # folds to be sure of it (without the floor, no spread at all made 3 enough).
    assert not surely_worse([-0.05] * 8, 0.99, 3, resolution=0.05)
    assert surely_worse([-0.05] * 9, 0.99, 3, resolution=0.05)
    assert surely_worse([-0.05] * 3, 0.99, 3, resolution=0.0)
    # Better, equal, or worse on some folds and better on others: never.
    assert not surely_worse([0.3, 0.25, 0.35], 0.99, 3)
    assert not surely_worse([0.0, 0.0, 0.0, 0.0], 0.99, 3)
    assert not surely_worse([-0.4, 0.3, -0.35, 0.2], 0.99, 3, resolution=0.05)


def _finished(study, number_of_folds, scores, p95_ms, violations=()):
    study.add_trial(
        optuna.trial.create_trial(
            value=0.0,
            user_attrs={
                rec.CV: {"scores": list(scores), "folds_per_repeat": number_of_folds},
                rec.COST: {"p95_ms": p95_ms},
                rec.VIOLATIONS: list(violations),
            },
        )
    )


def test_the_peer_is_the_best_fold_mean_as_cheap_and_within_the_requirements():
    study = optuna.create_study()
    _finished(study, 4, [0.7] * 4, p95_ms=0.10)  # 0: the peer
    _finished(study, 4, [0.99] * 4, p95_ms=0.90)  # 1: better, but in a costlier band
    _finished(study, 4, [0.99] * 4, p95_ms=0.05, violations=[{"requirement": "size"}])  # 2
    _finished(study, 5, [0.99] * 5, p95_ms=0.05)  # 3: other folds
    _finished(study, 4, [0.6] * 4, p95_ms=0.11)  # 4: same band, lower mean
    trial = study.ask()
    race = FoldRace(Halving(), trial, p95_ms=0.12, n_folds=4, higher_is_better=True)
    assert race.peer == (0, [0.7] * 4)
    assert race([0.7, 0.7, 0.7]) is None
    why = race([0.2, 0.3, 0.25])
    assert why.startswith("racing: after 3 folds") and "#0" in why
    # With racing off, or no peer as cheap, it never stops a candidate.
    assert FoldRace(Halving(race_confidence=None), trial, 0.12, 4, True)([0.0] * 3) is None
    assert FoldRace(Halving(), trial, 0.01, 4, True).peer is None
    # Lower is better (rmse): the peer is the lowest mean, and a higher error is worse.
    error_race = FoldRace(Halving(), trial, p95_ms=0.12, n_folds=4, higher_is_better=False)
    assert error_race.peer[0] == 4
    assert error_race([0.9, 0.95, 0.92]) is not None and error_race([0.5, 0.5, 0.5]) is None


def test_fold_scores_stop_as_soon_as_the_race_says_so():
    prepared = prepare(load("iris"), seed=0, cv=3)
    params = {**get_family("gbdt").defaults(prepared.input_shape), "max_iter": 20}
    seen = []

    def race(scores):
        seen.append(len(scores))
        return "behind" if len(scores) == 1 else None

    with pytest.raises(FoldsRaced, match="behind; 2 of 3 folds not trained") as raised:
        fold_scores(prepared, "gbdt", params, {}, seed=0, metric="accuracy", race=race)
    assert len(raised.value.scores) == 1 and seen == [1]
    seen.clear()
    done = fold_scores(prepared, "gbdt", params, {}, seed=0, metric="accuracy", race=lambda s: None)
    assert len(done.scores) == 3


def _two_mlps(tmp_path, halving: Halving):
    """A search of two MLPs of one architecture (so one cost band): one learns, one cannot."""
    data = load("gunpoint")
    prepared = prepare(data, seed=0, cv=3, cv_repeats=3)
    mlp = get_family("mlp")
    shape = dict(depth=1, width=16, activation="relu", dropout=0.0, batch_norm=False)
    strategy = {"loss.classification": "cross_entropy", "schedule": "constant", "augment": False}
    learns = {**mlp.point(**shape), **strategy, "optimizer": "adam", "lr": 3e-2}
    stuck = {**mlp.point(**shape), **strategy, "optimizer": "sgd", "lr": 1e-4}
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=2,
        families=("mlp",),
        protocol=QUICK,
        max_epochs=8,
        compression=None,
        halving=halving,
        first_trials=(learns, stuck),
    )
    run_search(data, Requirements(), tmp_path, settings, show_progress=False, prepared=prepared)
    return tradeoff.Run.open(tmp_path, prepared=prepared)


def test_a_search_races_a_hopeless_candidate_out_and_never_picks_it(tmp_path):
    run = _two_mlps(tmp_path / "raced", Halving())
    learns, stuck = sorted(run.trials(), key=lambda r: r.number)
    assert learns.trained and len(learns.cv["scores"]) == 9
    assert stuck.status == "pruned" and stuck.val_metric is None
    assert stuck.cross_validation is None  # not ranked: its few folds are no fold mean
    assert stuck.stopped_by.startswith("racing: after") and "#0" in stuck.stopped_by
    # What it did score is kept, and the time it took counts as training.
    assert 3 <= len(stuck.cv["scores"]) < 9 and stuck.cv["seconds"] > 0
    assert stuck.cv["raced_against"] == learns.number and stuck.cv["folds_per_repeat"] == 3
    assert np.mean(stuck.cv["scores"]) < np.mean(learns.cv["scores"][: len(stuck.cv["scores"])])
    assert run.select().number == learns.number
    # Its verdict can be checked: retrained on every fold, it stays behind its peer.
    complete = evaluate.cross_validation(run, stuck)
    assert len(complete.scores) == 9 and complete.scores[: len(stuck.cv["scores"])] == tuple(
        stuck.cv["scores"]
    )
    assert complete.mean < learns.val_metric
    # Without racing (--no-halving), the same candidate is scored on every fold.
    unraced = _two_mlps(tmp_path / "every-fold", Halving(race_confidence=None))
    assert all(r.trained and len(r.cv["scores"]) == 9 for r in unraced.trials())

"""End-to-end search on real data: cost screening before training, selection, resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest

import tradeoff
from conftest import QUICK_PROTOCOL, SMALL_REQUIREMENTS, WITHOUT_NETWORK
from tradeoff import evaluate
from tradeoff.families import family_names, get_family
from tradeoff.searcher import SearchSettings, parse_duration, run_search


def test_pick_exists_meets_constraints_and_generalises(small_run):
    pick = small_run.select()
    assert pick is not None and pick.feasible
    assert pick.p95_ms <= SMALL_REQUIREMENTS.max_latency_ms
    assert pick.size_mb <= SMALL_REQUIREMENTS.max_size_mb
    # The most accurate feasible candidate, by validation accuracy.
    feasible = [r for r in small_run.trials() if r.feasible]
    assert pick.val_metric == max(r.val_metric for r in feasible)
    test = evaluate.test_estimate(small_run, pick)
    assert test.split == "test" and test.n == 1000
    assert test.low <= test.value <= test.high
    assert test.value > 0.2  # well above chance (0.1) after a few epochs of random candidates


def test_infeasible_candidates_are_never_trained(small_run):
    trials = small_run.trials()
    infeasible = [r for r in trials if r.status == "infeasible"]
    assert infeasible, "the size limit should reject some candidates"
    for r in infeasible:
        # A network is never trained; gbdt is fitted and an ensemble combined before their
        # cost is known, and those seconds are counted apart.
        assert r.train_seconds == 0.0 or not get_family(r.family).builds_network
        assert r.artifact_id is None and r.val_metric is None
        assert any(v.axis in ("size", "latency") for v in r.violations)
        assert r.size_mb > SMALL_REQUIREMENTS.max_size_mb or r.p95_high_ms > 1.0
    counts = small_run.counts()
    assert counts["train_seconds_on_cost_infeasible"] == counts["fit_seconds_before_cost_known"]
    trained = [r for r in trials if r.trained]
    assert all(r.train_seconds > 0 and r.artifact_id for r in trained)


def test_cost_is_recorded_with_its_method(small_run):
    record = next(r for r in small_run.trials() if r.p95_ms is not None)
    assert record.p50_ms <= record.p95_ms
    method = record.latency_method
    assert method["runtime"].startswith("onnxruntime ")
    assert method["threads"] == 1 and method["batch"] == 1 and method["calls"] >= 100
    assert method["cpu"]


def test_searches_several_families_and_the_strategy(small_run):
    trials = small_run.trials()
    # A new search first runs every family serving the modality once, at its defaults.
    assert {r.family for r in trials} == set(family_names("sequence")) - set(WITHOUT_NETWORK)
    seeded = {t.number for t in small_run.study.trials if "seeded_as" in t.user_attrs}
    assert len(seeded) < len(trials)  # the sampler's draws follow the seeded trials
    optimizers = {r.strategy["optimizer"] for r in trials if r.strategy}  # fitted ones train none
    assert optimizers <= {"sgd", "momentum", "adam", "adamw", "adagrad"} and len(optimizers) >= 2


def test_front_is_non_dominated_and_contains_the_pick(small_run):
    front = small_run.front()
    assert front
    for a in front:
        for b in small_run.trials():
            if b.trained:
                assert not (b.val_metric > a.val_metric and b.p95_ms < a.p95_ms)
    assert small_run.select().number in {r.number for r in front}


def test_leaderboard_has_every_trial(small_run):
    board = small_run.leaderboard()
    assert len(board) == 14
    assert {"family", "val_accuracy", "p95_ms", "size_mb", "feasible"} <= set(board.columns)


def test_resume_continues_the_same_study(tmp_path, mnist1d):
    out = tmp_path / "run"
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=3,
        max_epochs=2,
        protocol=QUICK_PROTOCOL,
        families=("linear",),
    )
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)
    first = tradeoff.Run.open(out).trials()
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, resume=True, show_progress=False)
    after = tradeoff.Run.open(out).trials()
    # Trial numbers continue without gaps or repeats (compressed variants are trials too).
    assert [r.number for r in after] == list(range(len(after))) and len(after) >= len(first) + 3
    assert after[: len(first)] == first  # finished trials are kept as they were
    studies = optuna.get_all_study_summaries(f"sqlite:///{out / 'study.db'}")
    assert len(studies) == 1


def test_new_search_refuses_an_existing_run_folder(tmp_path, mnist1d):
    out = tmp_path / "run"
    settings = SearchSettings(
        time_budget_s=None, n_trials=1, max_epochs=1, protocol=QUICK_PROTOCOL, families=("linear",)
    )
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)
    with pytest.raises(tradeoff.TradeoffError, match="already holds a run"):
        run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)


def test_resume_refuses_other_requirements(tmp_path, mnist1d):
    out = tmp_path / "run"
    settings = SearchSettings(
        time_budget_s=None, n_trials=1, max_epochs=1, protocol=QUICK_PROTOCOL, families=("linear",)
    )
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)
    other = tradeoff.Requirements(max_latency_ms=5.0)
    with pytest.raises(tradeoff.TradeoffError, match="requirements"):
        run_search(mnist1d, other, out, settings, resume=True, show_progress=False)


def test_time_budget_stops_the_search(tmp_path, mnist1d):
    # 25 shifted copies of MNIST-1D (125,000 distinct rows): early stopping needs 11 epochs,
    # which take far longer than 4 s on any machine, so only the budget can end these trials.
    copies = np.concatenate([mnist1d.X + 1e-3 * k for k in range(25)]).astype(np.float32)
    data = dataclasses.replace(mnist1d, X=copies, y=np.tile(mnist1d.y, 25))
    settings = SearchSettings(
        time_budget_s=4.0, protocol=QUICK_PROTOCOL, max_epochs=200, families=("mlp",)
    )
    study, _ = run_search(
        data, tradeoff.Requirements(), tmp_path / "r", settings, show_progress=False
    )
    assert len(study.trials) >= 1
    stopped = [t.user_attrs.get("stopped_by") for t in study.trials]
    # Training stops at the deadline (the last trial only finishes measuring and exporting),
    # and no trial starts after it.
    assert "time budget" in stopped
    assert all(s in ("time budget", "early stopping") for s in stopped)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("5m", 300.0), ("1.5h", 5400.0), ("12", 12.0)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5m", "0", "soon", "5 minutes"])
def test_parse_duration_rejects(text):
    with pytest.raises(tradeoff.TradeoffError, match="--time-budget"):
        parse_duration(text)

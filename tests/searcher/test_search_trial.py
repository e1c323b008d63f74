"""The trial pipeline end to end: chosen metric, regression, fitted families, learning curves,
and successive halving of whole trials within cost bands."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import create_trial
from typer.testing import CliRunner

from tradeoff import evaluate
from tradeoff.cli import app
from tradeoff.datasets import load
from tradeoff.frontier import Run
from tradeoff.measure import QUICK_PROTOCOL
from tradeoff.requirements import Requirements
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.halving import BAND, RUNG_ROWS, RUNGS, Halving, RungReporter


def _search(tmp_path, data, req, **settings):
    # The quick latency protocol and no compression: these tests are about the trial pipeline.
    settings = {
        "time_budget_s": None,
        "train_threads": 1,
        "seed": 0,
        "protocol": QUICK_PROTOCOL,
        "compression": None,
        **settings,
    }
    out = tmp_path / "run"
    _, prepared = run_search(data, req, out, SearchSettings(**settings), show_progress=False)
    return Run.open(out, prepared=prepared)


def test_regression_end_to_end_on_diabetes(tmp_path):
    run = _search(
        tmp_path, load("diabetes"), Requirements(), n_trials=4, families=("linear", "gbdt")
    )
    assert run.requirements.metric == "r2"
    trained = [r for r in run.trials() if r.trained]
    assert {r.family for r in trained} == {"linear", "gbdt"}
    pick = run.select()
    assert pick is not None and pick.val_metric > 0.2  # the sklearn baselines reach ~0.4-0.5
    test = evaluate.test_estimate(run, pick)
    assert test.metric == "r2" and test.low <= test.value <= test.high and test.n == 89
    linear = next(r for r in trained if r.family == "linear")
    assert linear.strategy["loss"] in ("mse", "mae", "huber")
    assert {"train_loss", "val_loss", "train_metric", "val_metric"} <= set(linear.curve[0])


def test_lower_is_better_metric_selects_the_smallest_error(tmp_path):
    run = _search(tmp_path, load("diabetes"), Requirements(metric="mae"), n_trials=3)
    trained = [r for r in run.trials() if r.trained]
    assert run.select().val_metric == min(r.val_metric for r in trained)


def test_metric_that_does_not_fit_the_task_fails_before_any_file(tmp_path):
    out = tmp_path / "x"
    result = CliRunner().invoke(
        app,
        [
            "search",
            "diabetes",
            "--quick-latency",
            "--metric",
            "accuracy",
            "--out",
            str(out),
            "--trials",
            "1",
        ],
    )
    assert result.exit_code == 2
    assert "--metric: 'accuracy' does not apply to regression" in result.output
    assert not out.exists()


def test_halving_stops_laggards_within_a_cost_band():
    halving = Halving(min_epochs=2, eta=2, min_peers=2)
    assert halving.rungs(20) == [2, 4, 8, 16]
    assert halving.band(0.010) == halving.band(0.015) != halving.band(0.05)
    assert not halving.should_stop(0.5, [0.9])  # too few peers to judge
    assert halving.should_stop(0.5, [0.6, 0.9])  # below the band's median
    assert not halving.should_stop(0.95, [0.6, 0.9])


def test_halving_judges_a_trial_by_peers_as_cheap_or_cheaper():
    halving = Halving(min_epochs=3, eta=3, min_peers=3)
    bands_values = ((0, 0.9), (-1, 0.9), (-2, 0.9), (1, 0.99), (1, 0.99), (1, 0.99))

    def stopped(band: int, value: float) -> bool:
        study = optuna.create_study(direction="maximize")
        for other_band, other_value in bands_values:  # trials that reached rung 3 on 100 rows
            attrs = {BAND: other_band, RUNGS: {"3": other_value}, RUNG_ROWS: {"3": 100}}
            study.add_trial(create_trial(value=other_value, user_attrs=attrs))
        reporter = RungReporter(halving, study.ask(), band, 27, higher_is_better=True)
        return reporter(3, {"val_metric": value, "rows": 100})

    # Band 0: its own peer and two cheaper ones are more accurate, so it is likely dominated.
    assert stopped(0, 0.5) and not stopped(0, 0.95)
    # Band -1 has only two peers as cheap or cheaper: the four costlier trials never judge it.
    assert not stopped(-1, 0.5)
    assert stopped(1, 0.95) and not stopped(1, 0.995)  # band 1: six peers, 2/3 quantile 0.99


def test_halving_anchors_its_first_rung_to_the_epochs_there_are():
    assert Halving().rungs(60) == [3, 9, 27] and Halving().rungs(27) == [3, 9]
    assert Halving().rungs(20) == [2, 6, 18] and Halving().rungs(8) == [1, 3]
    assert Halving().rungs(2) == [1] and Halving().rungs(1) == []
    assert Halving().fraction_at(1, 8) == 1 / 9 and Halving().fraction_at(3, 8) == 1 / 3
    assert Halving().fraction_at(4, 8) == 1.0


def test_halving_compares_a_trial_only_with_peers_trained_on_as_many_rows():
    study = optuna.create_study(direction="maximize")
    for _ in range(3):  # three seeded trials of band 0: rung 3 reached on all 1000 rows
        attrs = {BAND: 0, RUNGS: {"3": 0.9}, RUNG_ROWS: {"3": 1000}}
        study.add_trial(create_trial(value=0.9, user_attrs=attrs))
    halving = Halving(min_epochs=3, eta=3, min_peers=3)
    on_a_ninth = RungReporter(halving, study.ask(), 0, 27, higher_is_better=True)
    assert not on_a_ninth(3, {"val_metric": 0.5, "rows": 111})  # no peer on 111 rows
    on_all = RungReporter(halving, study.ask(), 0, 27, higher_is_better=True)
    assert on_all(3, {"val_metric": 0.5, "rows": 1000})  # three peers on 1000 rows, all better
    cheaper = RungReporter(halving, study.ask(), -1, 27, higher_is_better=True)
    assert not cheaper(3, {"val_metric": 0.5, "rows": 1000})  # band 0's trials cost more


def test_halving_saves_epochs_and_records_pruned_trials(tmp_path, mnist1d_small):
    data = mnist1d_small
    common = {"n_trials": 8, "families": ("linear",)}
    full = _search(tmp_path / "full", data, Requirements(), halving=None, **common)
    halved = _search(tmp_path / "halved", data, Requirements(), halving=Halving(), **common)

    def row_epochs(run):
        # Training work: early epochs under halving train on a share of the rows (data-size
        # fidelity), so a surviving trial may run more epochs yet see fewer rows in all.
        return sum(p["rows"] for r in run.trials() for p in r.curve)

    pruned = [r for r in halved.trials() if r.status == "pruned"]
    assert pruned, "halving stopped no trial"
    assert all(r.curve and r.val_metric is not None and not r.trained for r in pruned)
    assert all(r.stopped_by == "pruned" and len(r.curve) in (3, 9, 27) for r in pruned)
    assert row_epochs(halved) < row_epochs(full)
    # Same seed, same configurations: the best trial of the full run is never pruned.
    best_full = full.select()
    assert halved.select().val_metric == pytest.approx(best_full.val_metric)


@pytest.mark.parametrize("family", ["cnn", "gru", "transformer"])
def test_image_families_produce_feasible_trials(tmp_path, digits, family):
    """CNN 2D, GRU over rows and Transformer over patches, each under a latency limit."""
    req = Requirements(max_latency_ms=50.0)
    # A bound on epochs, not on seconds: on a slow or busy machine a 4 s budget ran out before
    # the first epoch.
    run = _search(tmp_path, digits, req, n_trials=1, max_epochs=2, families=(family,))
    (record,) = run.trials()
    assert record.feasible, record
    assert record.curve and 0.0 <= record.val_metric <= 1.0
    confusion = np.array(run.study.trials[0].user_attrs["val_confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == len(run.prepared.y_val)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(record.val_metric)
    assert record.p95_ms <= 50.0


def test_ensemble_trials_combine_front_members(tmp_path):
    run = _search(
        tmp_path,
        load("breast_cancer"),
        Requirements(),
        n_trials=8,
        families=("linear", "mlp", "ensemble"),
    )
    ensembles = [r for r in run.trials() if r.family == "ensemble"]
    combined = [r for r in ensembles if r.trained]
    assert combined, [r.status for r in ensembles]
    for record in combined:
        members = record.params["of_trials"]
        assert 2 <= len(members) <= record.params["members"]
        assert all(
            run.trials()[m].trained and run.trials()[m].number < record.number for m in members
        )
        assert record.p95_ms is not None and 0.5 < record.val_metric <= 1.0
    # An ensemble drawn before two members exist is skipped, not failed.
    assert all(r.status in ("trained", "skipped") for r in ensembles)
    # Never the same best members twice.
    drawn = [
        tuple(t.user_attrs["front_at_draw"])
        for t in run.study.trials
        if "front_at_draw" in t.user_attrs
    ]
    assert len(drawn) == len(set(drawn))


def test_an_ensemble_is_drawn_once_per_change_of_the_best_members():
    """Without the gate a sampler draws the cheap ensemble of the same members again and again."""
    from optuna.distributions import CategoricalDistribution

    from tradeoff.searcher.gates import combination_is_new

    study = optuna.create_study(directions=["maximize", "minimize"])
    family = CategoricalDistribution(["linear", "ensemble"])

    def add(name, accuracy, p95_ms, **attrs):
        study.add_trial(
            optuna.trial.create_trial(
                params={"family": name},
                distributions={"family": family},
                values=[accuracy, p95_ms],
                user_attrs={"artifact_id": "a", "violations": [], **attrs},
            )
        )

    def ready():
        return combination_is_new(study, "ensemble", higher_is_better=True)

    assert combination_is_new(study, "linear", higher_is_better=True)
    add("linear", 0.90, 0.01)
    assert not ready()  # one member: nothing to combine
    add("linear", 0.80, 0.02)  # dominated, but the second best all the same
    assert ready()
    add("ensemble", 0.91, 0.03, front_at_draw=[0, 1])
    assert not ready()  # the same two best: drawn already
    add("linear", 0.95, 0.01)  # a new best changes the combination
    assert ready()


def test_a_default_too_big_here_is_tried_again_smaller_until_it_fits(tmp_path):
    run = _search(
        tmp_path,
        load("breast_cancer"),
        Requirements(max_size_mb=0.03),
        n_trials=3,
        families=("mlp",),
        max_epochs=2,
    )
    default, smaller, *_ = run.study.trials
    first, second, *_ = run.trials()
    assert default.user_attrs["seeded_as"] == "defaults" and default.params["mlp.width"] == 128
    assert first.status == "infeasible" and first.size_mb > 0.03  # about 0.08 MB
    # Next: the same network and strategy at half the width, and it fits.
    assert smaller.user_attrs["seeded_as"] == "smaller than trial 0"
    assert smaller.params == {**default.params, "mlp.width": 64}
    assert second.feasible
    # A fitting trial queues nothing: the third is the sampler's.
    assert len(run.study.trials) < 3 or "seeded_as" not in run.study.trials[2].user_attrs


def test_a_rocket_far_inside_the_latency_limit_is_tried_again_larger(tmp_path):
    from tradeoff.families import get_family
    from tradeoff.measure import measure_latency

    data = load("gunpoint")
    rocket = get_family("rocket")
    default = rocket.defaults(data.X.shape[1:])
    graph, _ = rocket.unfitted_onnx(default, data.X.shape[1:], 2)
    # A limit derived from this machine: ten times the default's p95, so twice it fits.
    limit_ms = 10 * measure_latency(graph, data.X.shape[1:], QUICK_PROTOCOL).p95_ms
    run = _search(
        tmp_path, data, Requirements(max_latency_ms=limit_ms), n_trials=2, families=("rocket",)
    )
    first, second = run.study.trials[:2]
    assert first.user_attrs["seeded_as"] == "defaults"
    assert second.user_attrs["seeded_as"] == "larger than trial 0"
    assert second.params == {
        **first.params,
        "rocket.n_features": 2 * first.params["rocket.n_features"],
    }


def test_a_growth_is_larger_inside_the_space_and_ends_at_its_top():
    from tradeoff.families import get_family

    rocket = get_family("rocket")
    params, steps = rocket.defaults((40, 1)), 0
    while (larger := rocket.grow(params)) is not None:
        assert larger["n_features"] > params["n_features"]
        study = optuna.create_study()
        study.enqueue_trial(rocket.point(**larger))
        assert rocket.suggest(study.ask(), (40, 1)) == larger
        params, steps = larger, steps + 1
    assert 1 <= steps <= 8 and params["n_features"] == 10_000
    assert get_family("mlp").grow(get_family("mlp").defaults((30,))) is None


@pytest.mark.parametrize("name", ["cnn", "mlp", "gru", "transformer", "rocket", "tfidf"])
def test_a_shrink_is_narrower_and_inside_the_space(name):
    from tradeoff.families import get_family

    family = get_family(name)
    shape = (1,) if name == "tfidf" else (40, 1)
    params = family.defaults(shape)
    steps = 0
    while (smaller := family.shrink(params)) is not None:
        assert smaller.keys() == params.keys() and smaller != params
        study = optuna.create_study()
        study.enqueue_trial(family.point(**smaller))
        trial = study.ask()
        assert family.suggest(trial, shape) == smaller  # an enqueued point inside the space
        params, steps = smaller, steps + 1
    assert 1 <= steps <= 8


def test_every_family_first_gets_one_trial_at_its_defaults(tmp_path):
    from tradeoff.families import get_family

    families = ("linear", "gbdt", "mlp", "ensemble")
    run = _search(tmp_path, load("breast_cancer"), Requirements(), n_trials=4, families=families)
    trials = run.trials()
    # Families that fit in seconds first (gbdt), ensembles last, the rest as given.
    assert [r.family for r in trials] == ["gbdt", "linear", "mlp", "ensemble"]
    for record in trials[:3]:
        assert record.trained
        assert record.params == get_family(record.family).defaults((30,))
    assert trials[2].strategy["optimizer"] == "adam" and trials[2].strategy["lr"] == 3e-3
    assert trials[3].trained and len(trials[3].params["of_trials"]) >= 2


def test_defaults_not_reached_stay_queued_and_run_first_on_resume(tmp_path):
    data, req = load("breast_cancer"), Requirements()
    settings = SearchSettings(
        n_trials=1,
        time_budget_s=None,
        families=("linear", "gbdt"),
        protocol=QUICK_PROTOCOL,
        compression=None,
    )
    out = tmp_path / "run"
    run_search(data, req, out, settings, show_progress=False)
    assert [r.family for r in Run.open(out).trials()] == ["gbdt"]  # linear's default is queued
    run_search(data, req, out, settings, resume=True, show_progress=False)
    assert [r.family for r in Run.open(out).trials()] == ["gbdt", "linear"]

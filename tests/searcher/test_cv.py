"""Cross-validated ranking: fold means rank candidates, ties within noise go to the faster one,
the pick is refitted on train+validation for its test estimate, and --cv auto decides by size."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import tradeoff
from tradeoff import Requirements, evaluate
from tradeoff.cli._app import app
from tradeoff.datasets import Dataset, load
from tradeoff.errors import TradeoffError
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import prepare
from tradeoff.records import CrossValidation
from tradeoff.searcher import SearchSettings, TrialRecord, run_search
from tradeoff.selection import cheaper_twin, most_accurate, select

QUICK = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


def folded(number, scores, p95):
    return TrialRecord(
        number=number,
        status="trained",
        family="rocket",
        val_metric=float(np.mean(scores)),
        p95_ms=p95,
        size_mb=0.1,
        cv={"scores": list(scores), "folds_per_repeat": 5},
    )


def test_interval_is_the_corrected_resampled_t_interval():
    folds = CrossValidation("accuracy", (0.8, 0.9, 1.0, 0.9, 0.9, 0.8, 1.0, 0.9, 0.9, 0.9), 5)
    n, var = 10, np.var(folds.scores, ddof=1)
    assert folds.standard_error == pytest.approx(np.sqrt(var * (1 / n + 1 / 4)))
    low, high = folds.interval
    assert low < folds.mean < high and high - low == pytest.approx(
        2 * 2.2622 * folds.standard_error, rel=1e-3
    )


def test_the_pick_is_the_best_fold_mean_and_a_tie_within_one_error_is_its_cheaper_twin():
    noisy_best = folded(0, [1.0, 0.9, 1.0, 0.8, 1.0, 0.9, 1.0, 0.9, 1.0, 1.0], p95=0.5)
    close_fast = folded(1, [0.9, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 0.9, 1.0, 0.9], p95=0.1)
    far_faster = folded(2, [0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6], p95=0.01)
    trials = [noisy_best, close_fast, far_faster]
    assert select(trials, Requirements()).number == 0  # the best fold mean, though slower
    # Within one SE of the best (fold by fold) and faster: its twin; 2 is faster but worse.
    assert cheaper_twin(trials, Requirements()).number == 1
    assert select(trials, Requirements(), prefer="cheaper").number == 1
    assert most_accurate([noisy_best], Requirements(max_latency_ms=0.2)) is None
    # Unambiguous folds: no twin, and --prefer cheaper keeps the best.
    sure_best = folded(3, [1.0] * 9 + [0.99], p95=0.5)
    assert cheaper_twin([sure_best, close_fast], Requirements()) is None
    assert select([sure_best, close_fast], Requirements(), prefer="cheaper").number == 3
    with pytest.raises(TradeoffError, match="--prefer: expected one of accurate, cheaper"):
        select(trials, Requirements(), prefer="fastest")


def test_a_candidate_worse_on_every_fold_is_no_twin_however_hard_the_folds():
    # Folds from 0.55 to 0.9 put either mean's error near 0.07, but the same folds score
    # both: the faster one loses 0.03 on every fold, which is no tie.
    hard_folds = np.array([0.6, 0.9, 0.7, 0.55, 0.85, 0.65, 0.9, 0.6, 0.75, 0.8])
    best = folded(0, hard_folds + 0.03, p95=0.5)
    worse = folded(1, hard_folds, p95=0.1)
    assert best.val_metric - worse.val_metric < best.cross_validation.standard_error
    assert cheaper_twin([best, worse], Requirements()) is None
    # The same loss on some folds and a gain on others is noise: the faster one is the twin.
    noisy = folded(2, hard_folds + 0.03 * np.array([1, -1] * 5) + 0.0299, p95=0.1)
    assert select([best, noisy], Requirements()).number == 0
    assert cheaper_twin([best, noisy], Requirements()).number == 2


def _small_series(n_train=30, steps=32, seed=0) -> Dataset:
    """Two classes of noisy sines, 30 training series: a validation split of 6."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 2, n)
        t = np.arange(steps)
        X = np.sin(t[None, :] * (0.3 + 0.4 * y[:, None])) + 0.3 * rng.standard_normal((n, steps))
        return X[..., None].astype(np.float32), y

    X, y = make(n_train)
    X_test, y_test = make(60)
    return Dataset(
        name="sines",
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        task="binary",
        modality="sequence",
        classes=("slow", "fast"),
    )


def _cv_run(tmp_path, family: str, *, n_trials: int, cv_repeats: int):
    """A short search of one family on the small series, ranked on 3 folds x ``cv_repeats``."""
    data = _small_series()
    prepared = prepare(data, seed=0, cv=3, cv_repeats=cv_repeats)
    settings = SearchSettings(
        time_budget_s=None, n_trials=n_trials, families=(family,), protocol=QUICK, max_epochs=3
    )
    run_search(
        data, Requirements(), tmp_path / "run", settings, show_progress=False, prepared=prepared
    )
    return tradeoff.Run.open(tmp_path / "run", prepared=prepared), prepared


def test_a_search_ranks_on_fold_means_and_refits_the_pick(tmp_path):
    run, prepared = _cv_run(tmp_path, "rocket", n_trials=3, cv_repeats=2)
    trained = [r for r in run.trials() if r.trained]
    assert trained and all(len(r.cv["scores"]) == 6 for r in trained)
    for r in trained:
        assert r.val_metric == pytest.approx(np.mean(r.cv["scores"]))
        assert r.holdout_val_metric is not None
    assert run.info["cv_ranking"] is True
    pick = run.select()
    test = evaluate.test_estimate(run, pick)
    assert test.split == "test, refitted on train+validation" and test.n == 60
    assert test.value >= 0.8  # sines of two frequencies: easy once fitted
    lines = tradeoff.selection.describe_selection(
        tradeoff.selection.explain_selection(run.trials(), Requirements())
    )
    assert any("fold mean" in line and "95% CI" in line for line in lines)
    from tradeoff.report import build_report
    from tradeoff.report.build import _measure_pick

    html = build_report(run, tmp_path / "report.html").read_text()
    assert "(folds, [" in html and "fold mean" in html
    # The report's confusion matrix is of the model its test figure is of: the refit.
    confusion, _ = _measure_pick(run, pick)
    assert confusion.sum() == 60 and np.trace(confusion) / 60 == pytest.approx(test.value)
    # The bundle ships the refitted model whose test figure the card shows, not the fit to
    # the training split alone.
    card = _assert_ships_the_refit(run, pick, test, tmp_path / "model")
    assert card["parity"]["reference"].startswith("the native model refitted on train+validation")
    # A refit that breaks a limit is refused (here a size limit under the refit's own size).
    run.requirements = Requirements(max_size_mb=card["cost"]["size_mb"] / 2)
    with pytest.raises(TradeoffError, match=r"refitted on train\+validation, as shipped it breaks"):
        tradeoff.export(run, tmp_path / "refused", trial=pick.number)
    assert not (tmp_path / "refused").exists()


def _assert_ships_the_refit(run, pick, test, out):
    from tradeoff.measure import predict_outputs
    from tradeoff.measure.quality import score

    bundle = tradeoff.export(run, out)
    card = json.loads((bundle / "card.json").read_text())
    prepared = run.prepared
    rows = len(prepared.y_train) + len(prepared.y_val)
    assert card["lineage"]["fitted_on"] == {"splits": "train+validation", "rows": rows}
    assert card["metrics"]["test"]["split"] == "test, refitted on train+validation"
    shipped = (bundle / "model.onnx").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        trained_on_train = Path(run.artifact_path(pick, tmp)).read_bytes()
    assert shipped != trained_on_train
    outputs = predict_outputs(shipped, prepared.X_test)
    assert score("accuracy", prepared.y_test, outputs) == pytest.approx(test.value)
    assert card["parity"]["passed"] and card["parity"]["split"] == "val"
    # The card's cost is the refit's: its own size; its latency the search's, for the refit's
    # graph is the trial's but for the weights' values (not timed again: noise alone would
    # then decide whether it ships).
    from tradeoff.exporter import SEARCH_LATENCY

    assert card["cost"]["measured_on"].startswith(SEARCH_LATENCY["same graph"])
    assert card["cost"]["size_mb"] == pytest.approx(len(shipped) / 1e6)
    assert card["cost"]["p95_ms"] == pick.p95_ms and card["cost"]["method"]["runtime"]
    return card


def test_a_refit_whose_graph_differs_from_its_trials_is_timed_again_at_export(tmp_path):
    """Refitted trees have other split thresholds, node attributes of the graph: the refit is
    another model, measured as it ships, and refused if it breaks a limit."""
    data = load("iris")
    prepared = prepare(data, seed=0, cv=3)
    settings = SearchSettings(
        time_budget_s=None, n_trials=1, families=("gbdt",), protocol=QUICK, compression=None
    )
    out = tmp_path / "run"
    run_search(data, Requirements(), out, settings, show_progress=False, prepared=prepared)
    run = tradeoff.Run.open(out, prepared=prepared)
    bundle = tradeoff.export(run, tmp_path / "model")
    card = json.loads((bundle / "card.json").read_text())
    assert card["lineage"]["fitted_on"]["splits"] == "train+validation"
    assert card["cost"]["measured_on"].startswith("the shipped refit on train+validation")
    assert card["cost"]["p95_ms"] > 0
    assert card["cost"]["size_mb"] == pytest.approx(
        (bundle / "model.onnx").stat().st_size / 1e6, rel=0.05
    )


def test_a_network_ranked_by_folds_ships_its_refit_checked_against_torch(tmp_path):
    run, prepared = _cv_run(tmp_path, "mlp", n_trials=1, cv_repeats=1)
    pick = run.select()
    test = evaluate.test_estimate(run, pick)
    _assert_ships_the_refit(run, pick, test, tmp_path / "model")
    card = json.loads((tmp_path / "model" / "card.json").read_text())
    assert card["parity"]["reference"] == "the trained PyTorch model"


def test_cv_auto_turns_folds_on_only_for_a_small_validation_split():
    from tradeoff.cli.search import _prepare_with_cv
    from tradeoff.searcher.cv import prepare_for_search

    small = prepare_for_search(load("gunpoint"), seed=0)  # "auto" by default
    assert len(small.y_val) < 300 and len(small.folds) == 10
    big = prepare_for_search(load("mnist1d"), seed=0)
    assert len(big.y_val) >= 300 and big.folds == ()
    assert prepare_for_search(load("gunpoint"), seed=0, cv="off").folds == ()
    assert len(prepare_for_search(load("gunpoint"), seed=0, cv=4).folds) == 4
    with pytest.raises(TradeoffError, match="cv: expected a number of folds"):
        prepare_for_search(load("gunpoint"), seed=0, cv="five")
    # The CLI's --cv words reach the same rule.
    assert len(_prepare_with_cv(load("gunpoint"), 0, "auto", "auto").folds) == 10
    assert _prepare_with_cv(load("gunpoint"), 0, "off", "auto").folds == ()
    assert len(_prepare_with_cv(load("gunpoint"), 0, "4", "auto").folds) == 4


def test_the_python_api_ranks_a_small_set_on_folds_as_the_cli_does(tmp_path):
    settings = {"n_trials": 1, "families": ["linear"], "max_epochs": 2, "quick_latency": True}
    settings |= {"compress": False, "show_progress": False, "time_budget": None}
    run = tradeoff.search(_small_series(), Requirements(), out=tmp_path / "auto", **settings)
    assert run.info["cv_ranking"] is True and len(run.prepared.folds) == 10
    off = tradeoff.search(
        _small_series(), Requirements(), out=tmp_path / "off", cv="off", **settings
    )
    assert off.info["cv_ranking"] is False and off.prepared.folds == ()


def test_cv_flag_garbage_is_one_line_exit_2(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["search", "gunpoint", "--cv", "lots", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "--cv: expected a number of folds from 2 to 20, auto or off, got 'lots'" in result.output
    assert not (tmp_path / "r").exists()


def test_folds_stop_at_the_deadline_rather_than_rank_on_some_of_them():
    import time

    from tradeoff.families import get_family
    from tradeoff.retrain import FoldsOutOfTime, fold_scores

    data = load("iris")
    prepared = prepare(data, seed=0, cv=3)
    params = {**get_family("gbdt").defaults(prepared.input_shape), "max_iter": 20}
    done = fold_scores(prepared, "gbdt", params, {}, seed=0, metric="accuracy")
    assert len(done.scores) == 3
    with pytest.raises(FoldsOutOfTime, match="after 0 of 3 folds"):
        fold_scores(
            prepared, "gbdt", params, {}, seed=0, metric="accuracy", deadline=time.monotonic()
        )


def test_a_budget_shorter_than_one_trials_folds_still_ends_with_a_pick(tmp_path):
    """The deadline falls in the first trial's folds: that trial is ranked on its validation
    figure (and says so) rather than the search ending with nothing; once a trial is ranked on
    folds, a later one cut there is not ranked."""
    from tradeoff.searcher.trial import RANKED_ON_VALIDATION

    data = _small_series()
    prepared = prepare(data, seed=0, cv=3)
    settings = SearchSettings(
        time_budget_s=0.01, n_trials=1, families=("mlp",), protocol=QUICK, compression=None
    )
    out = tmp_path / "run"
    run_search(data, Requirements(), out, settings, show_progress=False, prepared=prepared)
    run = tradeoff.Run.open(out, prepared=prepared)
    (cut,) = run.trials()
    assert cut.trained and cut.cross_validation is None and not evaluate.refits(cut)
    assert RANKED_ON_VALIDATION in cut.stopped_by
    assert cut.val_metric == cut.holdout_val_metric
    assert run.select().number == cut.number

    unhurried = SearchSettings(
        time_budget_s=None, n_trials=1, families=("mlp",), protocol=QUICK, max_epochs=3
    )
    run_search(
        data, Requirements(), out, unhurried, show_progress=False, prepared=prepared, resume=True
    )
    run_search(
        data, Requirements(), out, settings, show_progress=False, prepared=prepared, resume=True
    )
    records = tradeoff.Run.open(out, prepared=prepared).trials()
    assert [r.status.value for r in records] == ["trained", "trained", "pruned"]
    assert records[1].cross_validation is not None
    assert "ran out while cross-validating" in records[2].stopped_by
    assert RANKED_ON_VALIDATION not in records[2].stopped_by

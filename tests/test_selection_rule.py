"""One selection rule: the scikit-learn estimators and `export --trial best` pick alike."""

from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from tradeoff.estimator import _pick as estimator_pick
from tradeoff.exporter import _pick as export_pick
from tradeoff.frontier import Run
from tradeoff.records import RUN_FILE, Status, make_storage, storage_url, write_run_info
from tradeoff.records import attrs as rec
from tradeoff.requirements import Requirements


def _tied_study(out):
    """A real run folder whose three trained trials tie in validation quality; the old rules
    disagreed on them (export: the fastest, #0; the estimator: the fewest parameters, #1)."""
    import optuna

    out.mkdir()
    url = storage_url(out)
    study = optuna.create_study(
        storage=make_storage(url), study_name="tradeoff", directions=["maximize", "minimize"]
    )
    req = Requirements(max_latency_ms=1.0, metric="accuracy")
    write_run_info(
        out,
        {"requirements": req.to_dict(), "storage": url, "study": "tradeoff", "seed": 0},
    )
    for p95_ms, n_params in ((0.10, 5000), (0.30, 800), (0.20, 800), (0.05, 100)):
        # The last one is faster and smaller, but breaks nothing only if it is accurate enough.
        quality = 0.9 if n_params != 100 else 0.8
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[quality, p95_ms],
                params={"family": "mlp"},
                distributions={"family": CategoricalDistribution(["mlp"])},
                user_attrs={
                    rec.VAL_METRIC: quality,
                    rec.COST: {"p95_ms": p95_ms, "size_mb": 0.1, "n_params": n_params},
                    rec.VIOLATIONS: [],
                },
            )
        )
    return req


def test_estimator_and_export_best_pick_the_same_trial(tmp_path):
    out = tmp_path / "run"
    req = _tied_study(out)
    assert (out / RUN_FILE).exists()
    run = Run.open(out)
    trials = run.trials()
    assert {r.status for r in trials} == {Status.TRAINED}
    by_export = export_pick(run, "best", req, None)
    by_estimator = estimator_pick(trials, req, "TradeoffClassifier", "accurate")
    assert by_export.number == by_estimator.number
    # Ties in quality: fewer parameters, then the faster of those (#2 over #1), never #3 (0.8).
    assert by_export.number == 2

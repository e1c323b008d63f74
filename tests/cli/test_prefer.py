"""--prefer and the cheaper twin on every surface: `select` (text and --json), `search`,
`export` and the bundle's card, on a run folder of hand-made trials (deterministic)."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from typer.testing import CliRunner

import tradeoff
from tradeoff.cli import app
from tradeoff.estimator import _pick as estimator_pick
from tradeoff.exporter import _selection
from tradeoff.frontier import Run
from tradeoff.records import attrs as rec
from tradeoff.records import make_storage, storage_url, write_run_info
from tradeoff.requirements import Requirements
from tradeoff.selection import describe_twin

runner = CliRunner()


def _twin_run(out, prefer: str | None = None):
    """#0 the most accurate (p95 0.5 ms); #1 one point below it, well within the noise of the
    paired difference, at 0.1 ms: its cheaper twin; #2 clearly worse and fastest."""
    out.mkdir()
    url = storage_url(out)
    study = optuna.create_study(
        storage=make_storage(url), study_name="tradeoff", directions=["maximize", "minimize"]
    )
    req = Requirements(max_latency_ms=1.0, metric="accuracy")
    info = {"requirements": req.to_dict(), "storage": url, "study": "tradeoff", "seed": 0}
    write_run_info(out, info | ({"prefer": prefer} if prefer else {}))
    rng = np.random.default_rng(0)
    base = rng.normal(0.90, 0.02, 100)
    replicates = (base, base - 0.01 + rng.normal(0, 0.03, 100), base - 0.2)
    for quality, p95, reps in zip((0.90, 0.89, 0.70), (0.5, 0.1, 0.01), replicates, strict=True):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[quality, p95],
                params={"family": "mlp"},
                distributions={"family": CategoricalDistribution(["mlp"])},
                user_attrs={
                    rec.VAL_METRIC: quality,
                    rec.VAL_REPLICATES: [float(v) for v in reps],
                    rec.COST: {"p95_ms": p95, "p95_high_ms": p95 * 1.1, "size_mb": 0.1},
                    rec.VIOLATIONS: [],
                },
            )
        )
    return out


def test_select_names_the_twin_and_prefer_cheaper_picks_it(tmp_path):
    run = _twin_run(tmp_path / "run")
    text = runner.invoke(app, ["select", str(run)])
    assert text.exit_code == 0, text.output
    assert "Picked #0" in text.output
    assert "Same quality within noise: #1 (mlp)" in text.output and "5.0x cheaper" in text.output
    cheaper = runner.invoke(app, ["select", str(run), "--prefer", "cheaper"])
    assert cheaper.exit_code == 0, cheaper.output
    assert (
        "Picked #1" in cheaper.output and "cheaper twin (--prefer cheaper) of #0" in cheaper.output
    )


def test_select_json_has_the_cheaper_twin(tmp_path):
    run = _twin_run(tmp_path / "run")
    for prefer, pick, shipped in (("accurate", 0, "most_accurate"), ("cheaper", 1, "cheaper_twin")):
        result = runner.invoke(app, ["select", str(run), "--json", "--prefer", prefer])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["pick"]["number"] == pick and answer["shipped"] == shipped
        twin = answer["cheaper_twin"]
        assert (twin["trial"], twin["family"], twin["val_metric"]) == (1, "mlp", 0.89)
        assert (twin["p95_ms"], twin["size_mb"]) == (0.1, 0.1)
        assert abs(twin["ratio"] - 5.0) < 1e-9


def test_no_twin_is_null_in_json(tmp_path):
    run = _twin_run(tmp_path / "run")
    # Under 0.2 ms #0 breaks the limit: #1 is the pick, and nothing tied with it is cheaper.
    result = runner.invoke(app, ["select", str(run), "--json", "--max-latency-ms", "0.2"])
    answer = json.loads(result.stdout)
    assert answer["pick"]["number"] == 1 and answer["cheaper_twin"] is None


def test_the_runs_own_prefer_is_the_default_and_the_flag_overrides_it(tmp_path):
    run = _twin_run(tmp_path / "run", prefer="cheaper")
    assert Run.open(run).select().number == 1
    own = json.loads(runner.invoke(app, ["select", str(run), "--json"]).stdout)
    assert own["prefer"] == "cheaper" and own["pick"]["number"] == 1
    flag = json.loads(
        runner.invoke(app, ["select", str(run), "--json", "--prefer", "accurate"]).stdout
    )
    assert flag["pick"]["number"] == 0


def test_the_card_says_which_was_shipped_and_names_the_twin(tmp_path):
    run = Run.open(_twin_run(tmp_path / "run"))
    picked = run.select(prefer="cheaper")
    card = _selection(run, picked, None, "cheaper")
    assert card["prefer"] == "cheaper" and card["shipped"] == "cheaper_twin"
    assert card["most_accurate"] == 0 and card["cheaper_twin"]["trial"] == 1
    assert "--prefer cheaper" in card["why"]
    best = _selection(run, run.select(), None, None)
    assert best["shipped"] == "most_accurate" and best["prefer"] == "accurate"
    assert best["line"].startswith("Same quality within noise: #1")


def test_bad_prefer_exits_2_with_one_line(tmp_path):
    run = _twin_run(tmp_path / "run")
    for args in (
        ["select", str(run), "--prefer", "fast"],
        ["export", str(run), "--out", str(tmp_path / "m"), "--prefer", "fast"],
        ["search", "mnist1d", "--out", str(tmp_path / "new"), "--prefer", "fast"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--prefer" in lines[0] and "'fast'" in lines[0], args
    assert not (tmp_path / "m").exists() and not (tmp_path / "new").exists()


def test_search_prefer_cheaper_is_recorded_and_its_summary_names_the_twin(tmp_path):
    out = tmp_path / "run"
    args = ["search", "--quick-latency", "mnist1d", "--families", "linear", "--trials", "2"]
    args += ["--prefer", "cheaper", "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    run = Run.open(out)
    assert run.prefer == "cheaper" and summary["prefer"] == "cheaper"
    assert summary["pick"]["trial"] == run.select(prefer="cheaper").number
    twin = run.cheaper_twin()
    assert (summary["cheaper_twin"] or {}).get("trial") == (None if twin is None else twin.number)
    assert summary["line"].startswith(("No cheaper", "Picked as the cheaper twin"))
    # `select` on that run, without the flag, picks as the search did (run.json's prefer)
    again = json.loads(runner.invoke(app, ["select", str(out), "--json"]).stdout)
    assert again["pick"]["number"] == summary["pick"]["trial"]
    # A resumed search picks as it began: another --prefer is a one-line error, nothing runs.
    resumed = runner.invoke(
        app, ["search", "--resume", str(out), "--trials", "1", "--prefer", "accurate"]
    )
    assert resumed.exit_code == 2, resumed.output
    lines = [line for line in resumed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--prefer" in lines[0] and "--prefer cheaper" in lines[0]
    assert len(Run.open(out).trials()) == len(run.trials())


def test_the_estimators_prefer_picks_by_the_same_rule(tmp_path):
    run = Run.open(_twin_run(tmp_path / "run"))
    trials, req = run.trials(), run.requirements
    assert estimator_pick(trials, req, "TradeoffClassifier", "accurate").number == 0
    assert estimator_pick(trials, req, "TradeoffClassifier", "cheaper").number == 1


def test_the_search_text_summary_names_the_twin(tmp_path):
    out = tmp_path / "run"
    args = ["search", "--quick-latency", "mnist1d", "--families", "linear", "--trials", "2"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = Run.open(out)
    best, twin = run.select(), run.cheaper_twin()
    line = describe_twin(best, twin, run.requirements.metric, best)
    assert line in " ".join(result.stdout.split())  # the console may wrap it


def test_the_python_api_refuses_a_bad_prefer_before_searching(tmp_path):
    with pytest.raises(tradeoff.TradeoffError, match="--prefer: expected one of accurate, cheaper"):
        tradeoff.search("mnist1d", Requirements(), out=tmp_path / "run", n_trials=1, prefer="fast")
    assert not (tmp_path / "run").exists()

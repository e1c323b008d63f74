"""The cheaper twin in every answer, and --prefer cheaper through the CLI, on a real run
folder whose trials are written as the search writes them."""

import json

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from typer.testing import CliRunner

import tradeoff
from tradeoff.cli import app
from tradeoff.exporter import _selection
from tradeoff.frontier import Run
from tradeoff.measure import replicates
from tradeoff.records import attrs as rec
from tradeoff.records import make_storage, storage_url, write_run_info
from tradeoff.requirements import Requirements
from tradeoff.searcher import SearchSettings


def _run_with_a_twin(out, prefer="accurate"):
    """Trial 0: the most accurate, slow; 1: two rows worse, within noise, 5x faster (its twin);
    2: far worse and faster still (no twin)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    best = np.where(rng.random(300) < 0.9, y, 1 - y)
    near = best.copy()
    flip = np.r_[np.flatnonzero(near == y)[:4], np.flatnonzero(near != y)[:2]]
    near[flip] = 1 - near[flip]
    far = np.where(rng.random(300) < 0.7, y, 1 - y)
    out.mkdir()
    url = storage_url(out)
    study = optuna.create_study(
        storage=make_storage(url), study_name="tradeoff", directions=["maximize", "minimize"]
    )
    req = Requirements(max_latency_ms=1.0, metric="accuracy")
    write_run_info(
        out,
        {
            "requirements": req.to_dict(),
            "storage": url,
            "study": "tradeoff",
            "seed": 0,
            "prefer": prefer,
        },
    )
    for predicted, p95 in ((best, 0.5), (near, 0.1), (far, 0.02)):
        quality = float(np.mean(predicted == y))
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[quality, p95],
                params={"family": "mlp"},
                distributions={"family": CategoricalDistribution(["mlp"])},
                user_attrs={
                    rec.VAL_METRIC: quality,
                    rec.VAL_REPLICATES: list(replicates("accuracy", y, np.eye(2)[predicted])),
                    rec.COST: {"p95_ms": p95, "p95_high_ms": p95 * 1.1, "size_mb": 0.1},
                    rec.VIOLATIONS: [],
                },
            )
        )
    return req


def _select(*args):
    result = CliRunner().invoke(app, ["select", *args])
    return result


def test_select_names_the_twin_and_prefer_cheaper_ships_it(tmp_path):
    out = tmp_path / "run"
    _run_with_a_twin(out)
    plain = _select(str(out), "--json")
    assert plain.exit_code == 0, plain.output
    answer = json.loads(plain.stdout)
    assert answer["pick"]["number"] == 0 and answer["prefer"] == "accurate"
    twin = answer["cheaper_twin"]
    assert (twin["trial"], twin["twin_of"], twin["shipped"]) == (1, 0, False)
    assert twin["ratio"] == 5.0
    cheaper = json.loads(_select(str(out), "--prefer", "cheaper", "--json").stdout)
    assert cheaper["pick"]["number"] == 1 and cheaper["cheaper_twin"]["shipped"] is True
    text = _select(str(out)).stdout
    assert "Same quality within noise: #1 (mlp)" in text and "5.0x cheaper" in text


def test_a_bad_prefer_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "run"
    _run_with_a_twin(out)
    result = _select(str(out), "--prefer", "fastest")
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "error: --prefer: expected one of accurate, cheaper, got 'fastest'"
    )


def test_the_run_remembers_its_prefer_and_the_card_says_which_was_shipped(tmp_path):
    out = tmp_path / "run"
    req = _run_with_a_twin(out, prefer="cheaper")
    run = Run.open(out)
    assert run.prefer == "cheaper" and run.select().number == 1
    assert run.select(prefer="accurate").number == 0
    card = _selection(run, run.select(), req, "best")
    assert card["most_accurate"] == 0 and card["cheaper_twin"]["shipped"] is True
    assert card["summary"].startswith("Picked as the cheaper twin (--prefer cheaper) of #0")
    # A run from before --prefer reads as "accurate".
    info = json.loads((out / "run.json").read_text())
    del info["prefer"]
    (out / "run.json").write_text(json.dumps(info))
    assert Run.open(out).select().number == 0


def test_search_settings_and_estimators_refuse_an_unknown_prefer():
    import pytest

    with pytest.raises(tradeoff.TradeoffError, match="--prefer: expected one of"):
        SearchSettings(prefer="fastest")
    with pytest.raises(ValueError, match="prefer must be one of accurate, cheaper"):
        tradeoff.TradeoffClassifier(prefer="fastest", n_trials=1).fit(
            np.zeros((20, 2)), np.arange(20) % 2
        )

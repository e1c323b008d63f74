"""A table mixing free text with numbers and categories, end to end: TF-IDF features for the
search, the same TF-IDF inside the exported graph, raw rows in for predict, serve and bench.

One real search on a CSV (a review, a number that tells the label apart a little, a
category, a missing review), exported once; every check runs the exported model.onnx.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import tradeoff
from conftest import searched_bundle
from text_data import reviews
from tradeoff.cli import app
from tradeoff.inputs.table import CATEGORICAL_INPUT, NUMERIC_INPUT, TEXT_INPUT
from tradeoff.serve import create_app


def mixed_frame(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    frame = reviews(n, seed)
    positive = frame["sentiment"] == "pos"
    frame["stars"] = np.where(positive, rng.normal(3.5, 1.2, n), rng.normal(2.5, 1.2, n))
    frame["genre"] = rng.choice(["drama", "comedy", "horror"], n)
    frame.loc[7, "review"] = None
    return frame


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    mixed_frame(400).to_csv(root / "train.csv", index=False)
    limit = tradeoff.Requirements(max_latency_ms=50)
    return (*searched_bundle(root / "train.csv", "sentiment", ["linear"], limit), root)


def test_the_bundle_takes_raw_text_beside_numbers_and_categories(mixed):
    run, bundle, _ = mixed
    card = json.loads((bundle / "card.json").read_text())
    inputs = {i["name"]: i["columns"] for i in card["input"]["inputs"]}
    assert inputs == {
        NUMERIC_INPUT: ["stars"],
        CATEGORICAL_INPUT: ["genre"],
        TEXT_INPUT: ["review"],
    }
    review = next(f for f in card["input"]["features"] if f["name"] == "review")
    assert review["type"] == "text" and review["ngrams"] > 0
    assert "TF-IDF" in card["input"]["preprocessing"]
    # The folded graph was checked on every raw validation row against the model on features.
    assert card["parity"]["raw_rows"] == len(run.prepared.y_val)
    assert card["parity"]["raw_max_abs_diff"] < 1e-4
    # Cost was timed on raw training rows, the texts' lengths recorded.
    timed = card["cost"]["method"]["inputs"]
    assert timed["kind"] == "rows given, every input, cycled through" and timed["n"] > 0
    assert timed["chars"][TEXT_INPUT]["chars_max"] > timed["chars"][TEXT_INPUT]["chars_p50"] > 20


def test_the_text_reaches_the_model(mixed):
    _, bundle, _ = mixed
    predictor = tradeoff.load(bundle)
    row = {"stars": 3.0, "genre": "drama"}
    texts = ["great wonderful superb film", "awful boring terrible film", None]
    proba = predictor.predict_proba([{**row, "review": text} for text in texts])
    classes = list(predictor.classes)
    assert proba[0, classes.index("pos")] > 0.5 > proba[1, classes.index("pos")]
    assert np.isfinite(proba[2]).all()  # a missing text is the empty string, as in training


def test_serve_takes_a_text_field_and_caps_its_length(mixed):
    _, bundle, _ = mixed
    client = TestClient(create_app(bundle))
    row = {"stars": 3.0, "genre": "drama", "review": "loved it, brilliant and moving"}
    answer = client.post("/predict", json={"instances": [row]})
    assert answer.status_code == 200
    assert answer.json()["labels"] == tradeoff.load(bundle).predict([row]).tolist()
    too_long = client.post("/predict", json={"instances": [{**row, "review": "a" * 40_000}]})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "instances", 0, "review"]
    assert client.post("/predict", json={"instances": [{**row, "review": 3}]}).status_code == 422


def test_bench_times_a_mixed_bundle_on_raw_rows(mixed):
    _, bundle, root = mixed
    result = CliRunner().invoke(app, ["bench", str(bundle), "--quick"])
    assert result.exit_code == 2
    assert "give a .csv/.parquet of rows with the card's columns" in result.output
    args = ["bench", str(bundle), "--quick", "--json", "--texts", str(root / "train.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    timed = json.loads(result.output)["latency"]["method"]["inputs"]
    assert timed["n"] == 400 and set(timed["chars"]) == {CATEGORICAL_INPUT, TEXT_INPUT}


def test_the_report_times_the_pick_as_shipped_on_raw_rows(mixed, tmp_path):
    from tradeoff.report import build_report

    run, _, _ = mixed
    page = build_report(run, tmp_path / "report.html").read_text()
    assert "inputs: 256 rows cycled through (categorical p95" in page
    assert "text p95" in page

"""A table with text columns, end to end: the bundle takes raw rows, the encoding is inside model.onnx.

One real search on a CSV (numbers, text categories, a constant column, missing cells),
exported once; every check runs the exported model.onnx in ONNX Runtime.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import tradeoff
from conftest import table_frame, table_rule
from tradeoff.cli import app
from tradeoff.inputs.table import CATEGORICAL_INPUT, NUMERIC_INPUT, TableSchema
from tradeoff.measure import predict_outputs
from tradeoff.parity import PARITY_MAX_ABS_DIFF
from tradeoff.serve import create_app


def test_the_bundle_takes_raw_columns_and_matches_the_trained_model(table_bundle):
    run, bundle, _ = table_bundle
    card = json.loads((bundle / "card.json").read_text())
    inputs = {i["name"]: i for i in card["input"]["inputs"]}
    assert inputs[NUMERIC_INPUT]["columns"] == ["size"]
    assert inputs[CATEGORICAL_INPUT]["columns"] == ["color", "plant", "shape"]
    color = next(f for f in card["input"]["features"] if f["name"] == "color")
    assert color["categories"] == ["blue", "green", "red"] and color["missing_becomes"] == "red"

    model = onnx.load(bundle / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    kinds = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert kinds == {
        NUMERIC_INPUT: onnx.TensorProto.FLOAT,
        CATEGORICAL_INPUT: onnx.TensorProto.STRING,
    }
    # Export compared the bundle on the validation split's raw rows with the model on features.
    assert card["parity"]["raw_rows"] == len(run.prepared.y_val) > 0
    assert card["parity"]["raw_max_abs_diff"] <= PARITY_MAX_ABS_DIFF

    # Independently of tradeoff's own code: ORT on raw rows == ORT on prepared features.
    prepared, pick = run.prepared, run.select()
    schema = TableSchema.of(prepared)
    feeds, rows = schema.rows(prepared.X_test)
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    with_encoding = session.run(None, feeds)[0]
    with tempfile.TemporaryDirectory() as tmp:
        on_features = predict_outputs(run.artifact_path(pick, tmp), prepared.X_test[rows])
    np.testing.assert_allclose(with_encoding, on_features, atol=PARITY_MAX_ABS_DIFF)


def test_missing_and_unseen_categories_become_the_most_frequent_one(table_bundle):
    _, bundle, _ = table_bundle
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    numeric = np.array([[0.3]] * 4, np.float32)
    text = np.array(
        [["red", "berlin", "round"], ["", "berlin", "round"], ["purple", "x", "round"]]
        + [["blue", "berlin", "round"]],
        dtype=object,
    )
    out = session.run(None, {NUMERIC_INPUT: numeric, CATEGORICAL_INPUT: text})[0]
    np.testing.assert_array_equal(out[1], out[0])  # missing -> "red", the training mode
    np.testing.assert_array_equal(out[2], out[0])  # unseen -> "red"
    assert not np.array_equal(out[3], out[0])  # a known category is encoded as itself
    nan = session.run(
        None, {NUMERIC_INPUT: np.array([[np.nan]], np.float32), CATEGORICAL_INPUT: text[:1]}
    )[0]
    assert np.isfinite(nan).all()  # a missing number is imputed, not propagated


def test_predict_and_load_take_csv_rows_and_name_bad_cells(table_bundle, tmp_path):
    _, bundle, _ = table_bundle
    rows = table_frame(30, seed=1).drop(columns="label").astype({"size": object})
    rows.loc[2, "color"] = "purple"
    rows.loc[4, "size"] = "big"
    rows.to_csv(tmp_path / "rows.csv", index=False)

    result = CliRunner().invoke(app, ["predict", str(bundle), str(tmp_path / "rows.csv")])
    assert result.exit_code == 1  # some rows failed the schema
    table = pd.read_csv(io.StringIO(result.stdout))
    assert "unknown category 'purple'" in table.loc[2, "error"]
    assert "column 'size'" in table.loc[4, "error"]
    good = rows.drop(index=[2, 4])
    predictor = tradeoff.load(bundle)
    expected = predictor.predict(good.astype({"size": float}))
    assert table.drop(index=[2, 4])["prediction"].tolist() == expected.tolist()
    # The rule the data follows is learnt.
    truth = np.where(table_rule(good["color"], good["size"].astype(float)), "yes", "no")
    assert np.mean(expected == truth) >= 0.9
    # Rows as dicts or as lists in card order give the same answer.
    first = good.astype({"size": float}).iloc[0]
    as_dict = predictor.predict([first.to_dict()])
    as_list = predictor.predict([[first["color"], first["size"], first["plant"], first["shape"]]])
    assert as_dict[0] == as_list[0] == expected[0]
    with pytest.raises(tradeoff.TradeoffError, match="column 'color': unknown category 'purple'"):
        predictor.predict([{**first.to_dict(), "color": "purple"}])
    with pytest.raises(tradeoff.TradeoffError, match="missing column"):
        predictor.predict([{"color": "red"}])


def test_serve_takes_rows_as_objects_and_names_a_bad_field(table_bundle):
    _, bundle, _ = table_bundle
    client = TestClient(create_app(bundle))
    row = {"color": "red", "size": -1.0, "plant": "berlin", "shape": "square"}
    answer = client.post("/predict", json={"instances": [row, {**row, "size": 1.0}]})
    assert answer.status_code == 200
    assert (
        answer.json()["labels"]
        == tradeoff.load(bundle).predict([row, {**row, "size": 1.0}]).tolist()
    )
    # An unseen category follows the card's rule and is reported (tests/test_serve.py has the
    # rule itself); with strict categories it is refused, naming the field.
    unseen = client.post("/predict", json={"instances": [{**row, "color": "purple"}]})
    assert unseen.status_code == 200
    assert [(w["instance"], w["column"]) for w in unseen.json()["warnings"]] == [(0, "color")]
    strict = TestClient(create_app(bundle, strict_categories=True))
    bad = strict.post("/predict", json={"instances": [{**row, "color": "purple"}]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "instances", 0, "color"]
    missing = client.post("/predict", json={"instances": [{"color": "red"}]})
    assert missing.status_code == 422


def test_bench_measures_the_bundle_as_shipped(table_bundle):
    _, bundle, _ = table_bundle
    result = subprocess.run(
        [sys.executable, "-m", "tradeoff", "bench", str(bundle), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["latency"]["calls"] >= 1000 and measured["latency"]["p95_ms"] > 0


def test_the_search_measured_cost_on_the_graph_that_ships(table_bundle):
    """Latency and size select the model, so they are measured with the encoding in front."""
    _, bundle, _ = table_bundle
    card = json.loads((bundle / "card.json").read_text())
    shipped_mb = (bundle / "model.onnx").stat().st_size / 1e6
    assert card["cost"]["size_mb"] == pytest.approx(shipped_mb, rel=1e-3)
    assert "table encoding" in card["cost"]["measured_on"]


def test_the_folded_text_encoding_computes_the_training_features_exactly(tmp_path):
    """An identity model behind the fold: raw rows in, the prepared text score, number and
    one-hot features out, a missing text included."""
    from onnx import TensorProto, helper

    from text_data import reviews
    from tradeoff.inputs.table import TEXT_INPUT, fold
    from tradeoff.prepare import prepare

    frame = reviews(200).assign(stars=np.arange(200.0), genre=["a", "b"] * 100)
    frame.loc[3, "review"] = None
    frame.to_csv(tmp_path / "m.csv", index=False)
    prepared = prepare(tradeoff.datasets.load(tmp_path / "m.csv", target="sentiment"))
    schema = TableSchema.of(prepared)
    width = prepared.input_shape[0]
    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["input"], ["output"])],
            "identity",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", width])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", width])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    sess = ort.InferenceSession(
        fold(identity.SerializeToString(), schema), providers=["CPUExecutionProvider"]
    )
    X = np.concatenate([prepared.X_val, prepared.X_test])
    texts = np.concatenate([prepared.texts.val, prepared.texts.test])
    feeds, rows = schema.rows(X, texts)
    assert len(rows) == len(X) and feeds[TEXT_INPUT].shape == (len(X), 1)
    np.testing.assert_allclose(sess.run(None, feeds)[0], X, atol=1e-5)
    # The training rows' text scores are out of fold: the shipped model's differ from them.
    feeds, _ = schema.rows(prepared.X_train, prepared.texts.train)
    in_sample = sess.run(None, feeds)[0]
    np.testing.assert_allclose(in_sample[:, 1:], prepared.X_train[:, 1:], atol=1e-5)
    assert not np.allclose(in_sample[:, 0], prepared.X_train[:, 0], atol=1e-3)
    with pytest.raises(ValueError, match="raw texts"):
        schema.rows(X)

"""Export: bundle contents, parity, round trip against the study, tampering, `predict` CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

import tradeoff
from tradeoff import evaluate
from tradeoff.bundle import CARD_FILE, MODEL_FILE, Predictor
from tradeoff.cli import app
from tradeoff.exporter import export
from tradeoff.frontier import Run
from tradeoff.measure import predict_classes
from tradeoff.parity import check_parity

runner = CliRunner()


def test_round_trip_equals_the_study_test_predictions(small_run, bundle, tmp_path):
    pick = small_run.select()
    study_predictions = predict_classes(
        small_run.artifact_path(pick, str(tmp_path)), small_run.prepared.X_test
    )
    predictor = tradeoff.load(bundle)
    labels = predictor.predict(small_run.prepared.X_test)
    assert labels.tolist() == [str(c) for c in study_predictions]
    proba = predictor.predict_proba(small_run.prepared.X_test[:50])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (proba.argmax(axis=1) == study_predictions[:50]).all()


def test_card_carries_cost_quality_schema_lineage_and_parity(small_run, bundle):
    pick = small_run.select()
    card = json.loads((bundle / CARD_FILE).read_text())
    assert card["lineage"]["trial"] == pick.number and card["lineage"]["family"] == pick.family
    assert card["cost"]["p95_ms"] == pick.p95_ms and card["cost"]["method"]["runtime"]
    assert card["metrics"]["test"]["value"] == evaluate.test_estimate(small_run, pick).value
    assert card["metrics"]["test"]["split"] == "test"
    assert card["input"] == {**card["input"], "dtype": "float32", "shape": [None, 40, 1]}
    assert card["classes"] == [str(c) for c in range(10)]
    assert card["data"]["fingerprint"] == small_run.info["prepare"]["fingerprint"]
    assert card["parity"]["argmax_agreement"] == 1.0 and card["parity"]["max_abs_diff"] <= 1e-4
    assert card["parity"]["n"] == len(small_run.prepared.y_val)
    assert set(card["versions"]) >= {"tradeoff", "torch", "onnxruntime"}
    onnx.checker.check_model(onnx.load(bundle / MODEL_FILE), full_check=True)
    assert sorted(p.name for p in bundle.iterdir()) == [CARD_FILE, MODEL_FILE]


def test_parity_check_catches_a_model_that_differs(small_run, bundle):
    pick = small_run.select()
    prepared = small_run.prepared
    from tradeoff.exporter import _reference_model, _weights_bytes

    weights = _weights_bytes(small_run, pick, str(bundle.parent))
    reference = _reference_model(pick, prepared, weights)
    onnx_bytes = (bundle / MODEL_FILE).read_bytes()
    assert check_parity(onnx_bytes, reference, prepared).passed
    with torch.no_grad():
        next(reference.parameters()).add_(1e-2)
    assert not check_parity(onnx_bytes, reference, prepared).passed


def test_export_fails_loudly_and_writes_nothing_when_weights_do_not_match(small_run, tmp_path):
    run_copy = tmp_path / "run"
    shutil.copytree(small_run.out, run_copy)
    run = Run.open(run_copy, prepared=small_run.prepared)
    pick = run.select()
    weights_file = run_copy / "artifacts" / pick.weights_artifact_id
    state = torch.load(io.BytesIO(weights_file.read_bytes()), weights_only=True)
    state = {k: v + 0.05 if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, weights_file)
    with pytest.raises(tradeoff.TradeoffError, match="does not match the trained model"):
        export(run, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left either


@pytest.mark.parametrize(
    ("trial", "message"), [("9999", "has no trial 9999"), ("x", "expected a trial number")]
)
def test_export_bad_trial_is_a_one_line_error(small_run, tmp_path, trial, message):
    result = runner.invoke(
        app, ["export", str(small_run.out), "--trial", trial, "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "m").exists()


def test_export_refuses_an_untrained_trial_and_a_used_folder(small_run, bundle, tmp_path):
    untrained = next(r for r in small_run.trials() if not r.trained)
    with pytest.raises(tradeoff.TradeoffError, match="was not trained"):
        export(small_run, tmp_path / "m", trial=untrained.number)
    with pytest.raises(tradeoff.TradeoffError, match="--out: .* not an empty folder"):
        export(small_run, bundle)


def _tamper_flip_byte(b: Path):
    data = bytearray((b / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / MODEL_FILE).write_bytes(bytes(data))


def _tamper_truncate_model(b: Path):
    data = (b / MODEL_FILE).read_bytes()
    (b / MODEL_FILE).write_bytes(data[: len(data) // 2])


def _tamper_truncate_card(b: Path):
    text = (b / CARD_FILE).read_text()
    (b / CARD_FILE).write_text(text[: len(text) // 2])


def _tamper_card_path(b: Path):
    card = json.loads((b / CARD_FILE).read_text())
    card["model"]["file"] = "../../etc/passwd"
    (b / CARD_FILE).write_text(json.dumps(card))


def _tamper_symlink(b: Path):
    target = b.parent / "elsewhere.onnx"
    shutil.move(b / MODEL_FILE, target)
    (b / MODEL_FILE).symlink_to(target)


def _tamper_remove_model(b: Path):
    (b / MODEL_FILE).unlink()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_flip_byte, "checksum"),
        (_tamper_truncate_model, "checksum"),
        (_tamper_truncate_card, "not valid JSON"),
        (_tamper_card_path, "malformed"),
        (_tamper_symlink, "not a plain file"),
        (_tamper_remove_model, "missing"),
    ],
)
def test_tampered_or_truncated_bundle_is_a_clear_error(bundle, tmp_path, tamper, message):
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    tamper(copy)
    with pytest.raises(tradeoff.TradeoffError, match=message):
        tradeoff.load(copy)
    result = runner.invoke(app, ["predict", str(copy), str(tmp_path / "x.npy")])
    assert result.exit_code == 2 and "error:" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_predictor_names_what_is_wrong_with_its_input(bundle):
    predictor = Predictor(bundle)
    with pytest.raises(
        tradeoff.TradeoffError, match=r"expected shape \[N, 40, 1\], got \[2, 39, 1\]"
    ):
        predictor.predict(np.zeros((2, 39, 1)))
    bad = np.zeros((3, 40, 1))
    bad[1, 0, 0] = np.inf
    with pytest.raises(tradeoff.TradeoffError, match="row 1: non-finite"):
        predictor.predict(bad)
    with pytest.raises(tradeoff.TradeoffError, match="expected numbers"):
        predictor.predict([["a"] * 40])


def test_predict_cli_reports_failing_rows_and_predicts_the_rest(small_run, bundle, tmp_path):
    X = small_run.prepared.X_test[:8].copy()
    expected = tradeoff.load(bundle).predict(X)
    X[3, 7, 0] = np.nan
    np.save(tmp_path / "rows.npy", X)
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["predict", str(bundle), str(tmp_path / "rows.npy"), "--proba", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "1 of 8 rows failed" in result.output and "row 3: non-finite" in result.output
    import pandas as pd

    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert table["row"].tolist() == [str(i) for i in range(8)]
    ok = table["error"] == ""
    assert table.loc[ok, "prediction"].tolist() == [e for i, e in enumerate(expected) if i != 3]
    assert table.loc[3, "prediction"] == "" and "non-finite" in table.loc[3, "error"]
    assert [c for c in table.columns if c.startswith("proba_")] == [f"proba_{c}" for c in range(10)]

    # CSV: a cell that is not a number fails that row only, naming the column.
    frame = pd.DataFrame(small_run.prepared.X_test[:4].reshape(4, -1)).astype(object)
    frame.iloc[2, 5] = "abc"
    frame.to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "rows.csv")])
    assert result.exit_code == 1 and "row 2: column '5': not a number ('abc')" in result.output
    assert result.output.count("\n0,") == 1  # rows 0, 1, 3 predicted on stdout


def test_predict_cli_rejects_unusable_inputs_in_one_line(bundle, tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "wide.npy", np.zeros((2, 41)))
    (tmp_path / "rows.txt").write_text("1,2\n")
    for name, message in [
        ("objects.npy", "not a plain numeric .npy"),
        ("wide.npy", "rows shaped [41], the model takes [40, 1]"),
        ("rows.txt", "unsupported file type"),
        ("absent.csv", "no such file"),
    ]:
        result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / name)])
        assert result.exit_code == 2, (name, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_export_cli_writes_a_bundle_that_loads(small_run, tmp_path):
    out = tmp_path / "model"
    result = runner.invoke(app, ["export", str(small_run.out), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Exported trial #{small_run.select().number}" in result.output
    assert "argmax agreement 1.0" in result.output
    assert tradeoff.load(out).card["lineage"]["trial"] == small_run.select().number


def test_export_cli_prefer_ships_the_twin_and_the_card_says_so(small_run, tmp_path):
    out = tmp_path / "model"
    result = runner.invoke(
        app, ["export", str(small_run.out), "--out", str(out), "--prefer", "cheaper"]
    )
    assert result.exit_code == 0, result.output
    card = tradeoff.load(out).card
    picked, twin = small_run.select(prefer="cheaper"), small_run.cheaper_twin()
    assert card["lineage"]["trial"] == picked.number
    selection = card["selection"]
    assert (
        selection["prefer"] == "cheaper" and selection["most_accurate"] == small_run.select().number
    )
    assert selection["shipped"] == ("cheaper_twin" if twin is not None else "most_accurate")
    assert (selection["cheaper_twin"] or {}).get("trial") == (twin.number if twin else None)
    printed = " ".join(result.output.split())  # the console may wrap long lines
    assert f"shipped: {selection['why']}" in printed and selection["line"] in printed


@pytest.fixture(scope="module")
def table_bundle(tmp_path_factory):
    """A bundle for a table with named columns (breast_cancer), from a 1-trial search."""
    from tradeoff.searcher import SearchSettings, run_search

    root = tmp_path_factory.mktemp("table")
    data = tradeoff.datasets.load("breast_cancer")
    settings = SearchSettings(time_budget_s=None, n_trials=1, max_epochs=3, families=("linear",))
    run_search(data, tradeoff.Requirements(), root / "run", settings, show_progress=False)
    return export(root / "run", root / "model"), Run.open(root / "run")


def test_predict_reads_table_columns_by_name_from_csv_and_parquet(table_bundle, tmp_path):
    bundle, run = table_bundle
    names = [f["name"] for f in tradeoff.load(bundle).card["input"]["features"]]
    assert names == list(run.prepared.data.feature_names)
    import pandas as pd

    X = run.prepared.X_test[:6]
    frame = pd.DataFrame(X, columns=names)
    frame.insert(0, "id", range(6))  # extra columns are ignored, order does not matter
    frame = frame[list(reversed(frame.columns))]
    frame.to_parquet(tmp_path / "rows.parquet")
    result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "rows.parquet")])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(io.StringIO(result.output), keep_default_na=False)["prediction"]
    assert predicted.tolist() == tradeoff.load(bundle).predict(X).tolist()

    frame.drop(columns=["mean radius"]).to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "rows.csv")])
    assert result.exit_code == 2 and "missing column(s) 'mean radius'" in result.output


def _perturbed(onnx_bytes: bytes) -> bytes:
    """The same trees with other leaf values: a converted graph that no longer matches."""
    model = onnx.load_from_string(onnx_bytes)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("target_weights", "class_weights"):
                attribute.floats[:] = [1.5 * w + 0.3 for w in attribute.floats]
    return model.SerializeToString()


@pytest.mark.parametrize("family", ["gbdt", "lightgbm", "xgboost"])
def test_a_fitted_familys_onnx_is_checked_against_its_native_model(tmp_path, family):
    """Export compares a fitted family's ONNX outputs with the native model's own predict on
    the validation rows; the comparison fails for a perturbed graph or another model."""
    import dataclasses

    from tradeoff.families import get_family
    from tradeoff.measure import QUICK_PROTOCOL
    from tradeoff.parity import native_parity
    from tradeoff.records import trial_seed
    from tradeoff.searcher import SearchSettings, run_search

    data = tradeoff.datasets.load("breast_cancer")
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=1,
        families=(family,),
        protocol=QUICK_PROTOCOL,
        compression=None,
    )
    run_search(data, tradeoff.Requirements(), tmp_path / "run", settings, show_progress=False)
    bundle = tradeoff.export(tmp_path / "run", tmp_path / "model")
    card = json.loads((bundle / "card.json").read_text())
    run = tradeoff.Run.open(tmp_path / "run")
    prepared = run.prepared
    assert card["lineage"]["family"] == family
    assert card["parity"]["passed"] and card["parity"]["split"] == "val"
    assert card["parity"]["n"] == len(prepared.y_val)
    assert card["parity"]["reference"].startswith("the native model (its own predict)")

    pick = run.select()
    fitted = get_family(family).fit(pick.params, prepared, trial_seed(run.info["seed"], 0))
    assert native_parity(fitted.onnx_model, fitted.native, prepared, "itself").passed
    assert not native_parity(_perturbed(fitted.onnx_model), fitted.native, prepared, "").passed
    shuffled = dataclasses.replace(prepared, y_train=np.roll(prepared.y_train, 7))
    other = get_family(family).fit(pick.params, shuffled, 0)
    assert not native_parity(fitted.onnx_model, other.native, prepared, "another").passed


def test_predict_reads_a_folder_of_images_like_the_search_did(tmp_path):
    """Train on PNG digits, export, then predict a folder of PNGs: one row per image."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from typer.testing import CliRunner

    from tradeoff.cli import app

    bunch = load_digits()
    for i in range(200):
        folder = tmp_path / "digits" / f"digit_{bunch.target[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((bunch.images[i] * 255 / 16).astype(np.uint8), "L").save(
            folder / f"{i}.png"
        )
    runner = CliRunner()
    args = ["search", "--quick-latency", "--no-compress", str(tmp_path / "digits")]
    args += ["--image-size", "8", "--families", "linear", "--trials", "1", "--max-epochs", "10"]
    args += ["--cv", "off"]  # not a test of cross-validation (tests/searcher/test_cv.py)
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "run")]).exit_code == 0
    assert (
        runner.invoke(
            app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "m")]
        ).exit_code
        == 0
    )

    new = tmp_path / "new"
    new.mkdir()
    for i in range(200, 230):
        Image.fromarray((bunch.images[i] * 255 / 16).astype(np.uint8), "L").save(new / f"{i}.png")
    Image.new("RGB", (8, 8)).save(new / "zz_colour.png")  # 3 channels: fails the schema
    result = runner.invoke(app, ["predict", str(tmp_path / "m"), str(new)])
    assert result.exit_code == 1  # one row failed, and is reported
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 31 and "3 channels" in rows[-1]["error"]
    predicted = np.array([r["prediction"] for r in rows[:-1]])
    # The same pixels through the bundle directly give the same classes.
    X = (bunch.images[200:230] / 16).astype(np.float32)[:, None]
    order = sorted(range(200, 230), key=lambda i: f"{i}.png")
    X = X[[i - 200 for i in order]]
    model = tradeoff.load(tmp_path / "m")
    expected = np.asarray(model.predict(X)).astype(str)
    assert np.mean(predicted == expected) >= 0.95  # 8-bit PNG rounding may flip a rare row


#: Predict as the console script does, with the server's app built too, then list the heavy
#: libraries that were loaded.
SERVE_AND_PREDICT = """
import sys
from tradeoff.cli import main
from tradeoff.serve import create_app
create_app(sys.argv[1])
sys.argv = ["tradeoff", "predict", sys.argv[1], sys.argv[2]]
try:
    main()
finally:
    print("LOADED", [m for m in ("torch", "sklearn", "optuna") if m in sys.modules], file=sys.stderr)
"""


def test_predict_and_serve_start_without_the_training_stack(small_run, bundle, tmp_path):
    """A bundle needs ONNX Runtime only: a server that imported PyTorch would start seconds
    later and hold hundreds of MB more (0.09 vs 0.42 GB peak RSS measured here)."""
    rows = tmp_path / "rows.npy"
    np.save(rows, small_run.prepared.X_test[:4])
    result = subprocess.run(
        [sys.executable, "-c", SERVE_AND_PREDICT, str(bundle), str(rows)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 5  # header + 4 predictions
    assert "LOADED []" in result.stderr, result.stderr


def test_a_regression_network_exports_checked_against_its_torch_model(tmp_path):
    """A regression network ships with its target scaling (buffers in its stored weights):
    export rebuilds it as the search built it, and its outputs are in the target's units."""
    from tradeoff.measure import QUICK_PROTOCOL, predict_outputs
    from tradeoff.searcher import SearchSettings, run_search

    data = tradeoff.datasets.load("diabetes")  # a target of mean ~150, far from 0
    assert data.task == "regression" and data.y.mean() > 100
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=1,
        families=("mlp",),
        protocol=QUICK_PROTOCOL,
        max_epochs=20,
        compression=None,
    )
    run_search(data, tradeoff.Requirements(), tmp_path / "run", settings, show_progress=False)
    bundle = tradeoff.export(tmp_path / "run", tmp_path / "model")
    card = json.loads((bundle / CARD_FILE).read_text())
    assert card["parity"]["passed"] and card["parity"]["reference"] == "the trained PyTorch model"
    run = tradeoff.Run.open(tmp_path / "run")
    predicted = predict_outputs((bundle / MODEL_FILE).read_bytes(), run.prepared.X_val)[:, 0]
    assert abs(predicted.mean() - run.prepared.y_val.mean()) < 40  # in the target's units

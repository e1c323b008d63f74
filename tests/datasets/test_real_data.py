"""Real-size data: float32-aware export parity, the fashion_mnist and ISLP built-ins, LightGBM
and XGBoost, class weights and imbalance metrics, data-size fidelity, peak memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import sklearn.metrics as skm

import tradeoff
from tradeoff.bundle import CARD_FILE
from tradeoff.datasets import load
from tradeoff.datasets.fashion_mnist import CLASSES, fashion_mnist_from, read_idx
from tradeoff.errors import TradeoffError
from tradeoff.families import get_family
from tradeoff.measure import predict_outputs
from tradeoff.measure.quality import score
from tradeoff.parity import compare_outputs
from tradeoff.prepare import prepare
from tradeoff.searcher.halving import Halving, nested_subsamples
from tradeoff.train import Strategy, train

# --- parity fit to float32 -------------------------------------------------------------


def test_float32_noise_on_large_logits_passes_and_a_real_mismatch_fails():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3000, (2000, 3)).astype(np.float32)
    # One ulp of float32 near 4,000 is 4.9e-4: what two runtimes' sums differ by.
    noisy = np.nextafter(logits, np.float32(np.inf))
    assert np.abs(noisy - logits).max() > 1e-4  # the old absolute rule refused this
    agreement = compare_outputs(logits, noisy, classification=True)
    assert agreement.passed and agreement.class_mismatches == 0
    # Other weights: probabilities move by far more than float32 noise.
    small = rng.normal(0, 1, (2000, 3)).astype(np.float32)
    assert not compare_outputs(small, small + rng.normal(0, 0.05, small.shape), True).passed
    # A changed class on a clear winner is refused whatever the probabilities.
    flipped = logits.copy()
    row = int(np.argmax(np.sort(logits, 1)[:, -1] - np.sort(logits, 1)[:, -2]))
    flipped[row] = np.roll(logits[row], 1)
    assert compare_outputs(logits, flipped, True).class_mismatches >= 1


def test_near_ties_may_flip_and_regression_is_relative():
    tie = np.array([[1000.0, 1000.0 + 1e-3, -5.0]], np.float32)
    swapped = tie[:, [1, 0, 2]]
    agreement = compare_outputs(tie, swapped, True)
    assert agreement.near_ties == 1 and agreement.class_mismatches == 0 and agreement.passed
    values = np.array([[1e6], [2e6], [10.0]], np.float32)
    assert compare_outputs(values, values * (1 + 1e-6), False).passed
    assert not compare_outputs(values, values * 1.01, False).passed


def test_a_50000_row_table_with_large_valued_features_exports_its_pick(tmp_path):
    rng = np.random.default_rng(0)
    n = 50_000
    frame = pd.DataFrame(
        {
            "revenue": rng.lognormal(12, 1.5, n),  # up to ~1e8
            "visits": rng.integers(0, 2_000_000, n).astype(float),
            "score": rng.normal(5e4, 2e4, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    frame["label"] = np.where(
        (np.log(frame["revenue"]) > 12) ^ (frame["region"] == "east"), "high", "low"
    )
    frame.to_csv(tmp_path / "big.csv", index=False)
    run = tradeoff.search(
        tmp_path / "big.csv",
        tradeoff.Requirements(),
        target="label",
        out=tmp_path / "run",
        n_trials=1,
        families=("mlp",),
        max_epochs=2,
        quick_latency=True,
        compress=False,
        show_progress=False,
    )
    bundle = tradeoff.export(run, tmp_path / "model")
    card = json.loads((bundle / CARD_FILE).read_text())
    parity = card["parity"]
    assert parity["passed"] and parity["n"] >= 5_000
    assert parity["class_mismatches"] == 0 and parity["worst_to_tolerance"] <= 1.0
    assert parity["max_prob_diff"] is not None and "probabilities" in parity["tolerance"]
    predicted = tradeoff.load(bundle).predict(frame.drop(columns="label").head(200))
    assert set(predicted) <= {"high", "low"}


# --- fashion_mnist: idx files read with NumPy -----------------------------------------------


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.fixture
def tiny_fashion(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28))
    labels = np.arange(12) % 10
    _write_idx(tmp_path / "train-images-idx3-ubyte", images, compress=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels, compress=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:5], compress=False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:5], compress=False)
    return tmp_path, images, labels


def test_idx_reader_and_fashion_mnist_from_a_folder(tiny_fashion):
    folder, images, labels = tiny_fashion
    assert np.array_equal(read_idx(folder / "train-images-idx3-ubyte.gz"), images)
    data = fashion_mnist_from(folder)
    assert data.X.shape == (12, 1, 28, 28) and data.X.dtype == np.float32
    assert np.allclose(data.X[:, 0] * 255.0, images)
    assert data.y.tolist() == labels.tolist() and data.X_test.shape == (5, 1, 28, 28)
    assert data.classes == CLASSES and data.modality == "image" and data.task == "multiclass"


def test_a_broken_idx_file_is_named(tiny_fashion):
    folder, _, _ = tiny_fashion
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(TradeoffError, match="t10k-labels-idx1-ubyte: idx header says"):
        fashion_mnist_from(folder)


def test_absent_package_is_one_line_naming_it_exit_2(tmp_path):
    env = {"TRADEOFF_FASHION_MNIST_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", "search", "fashion_mnist", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "dataset-fashion-mnist" in lines[0] and "apt-get install" in lines[0]
    assert not (tmp_path / "r").exists()


# --- ISLP tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows", "task"),
    [
        ("caravan", 5822, "binary"),
        ("bikeshare", 8645, "regression"),
        ("credit_default", 10000, "binary"),
    ],
)
def test_islp_tables_load_from_the_wheel(name, rows, task):
    data = load(name)
    assert len(data.y) == rows and data.task == task and data.modality == "tabular"
    assert data.source == {"name": name}
    if name == "bikeshare":
        names = {c.name for c in data.columns}
        assert {"mnth", "weathersit"} <= {c.name for c in data.columns if c.kind == "categorical"}
        assert not names & {"casual", "registered", "bikers"}  # they add up to the target
    else:
        positives = float(np.mean(data.y == data.classes.index("Yes")))
        assert positives < 0.1 and prepare(data).imbalanced


def test_datasets_command_names_each_source():
    from typer.testing import CliRunner

    from tradeoff.cli import app

    result = CliRunner().invoke(app, ["datasets"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for source in ("ISLP/data/Caravan.csv", "dataset-fashion-mnist", "scikit-learn"):
        assert source in result.output


# --- LightGBM, XGBoost, class weights, imbalance metrics --------------------------------


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("n_classes", [0, 2, 3])
def test_tree_family_onnx_matches_its_library(family, n_classes):
    from tradeoff.datasets import Dataset

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 5)).astype(np.float32) * 1000
    X[rng.random(X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + 500 * rng.standard_normal(600)
    if n_classes:
        y = (signal > 0).astype(np.int64) + (n_classes == 3) * (np.nan_to_num(X[:, 1]) > 500)
        data = Dataset(
            "t",
            X,
            y,
            "binary" if n_classes == 2 else "multiclass",
            "tabular",
            classes=tuple("abc"[:n_classes]),
        )
    else:
        data = Dataset("t", X, signal.astype(np.float32), "regression", "tabular")
    prepared = prepare(data)
    fam = get_family(family)
    params = fam.defaults(prepared.input_shape) | {"n_estimators": 30}
    fitted = fam.fit(params, prepared, seed=0)
    outputs = predict_outputs(fitted.onnx_model, prepared.X_test)
    # Early stopping on validation kept ``fitted.rounds`` of the 30: the library fits as many.
    native = _native(family, params | {"n_estimators": fitted.rounds}, prepared)
    if n_classes:
        expected = np.log(np.maximum(native.predict_proba(prepared.X_test), 1e-30))
    else:
        expected = native.predict(prepared.X_test)[:, None]
    agreement = compare_outputs(expected, outputs, classification=bool(n_classes))
    assert agreement.passed, agreement
    assert fitted.n_params > 0


def _native(family, params, prepared):
    """The same model fitted by the library itself, as a user would."""
    import lightgbm
    import xgboost

    regression = prepared.task == "regression"
    if family == "lightgbm":
        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        extra = {"subsample_freq": 0, "verbose": -1}
    else:
        cls = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
        extra = {"tree_method": "hist"}
    return cls(**params, **extra, random_state=0, n_jobs=1).fit(prepared.X_train, prepared.y_train)


def test_class_weights_are_searched_on_an_imbalanced_task_and_change_the_model(tmp_path):
    data = load("credit_default")
    prepared = prepare(data)
    fam = get_family("lightgbm")
    params = fam.defaults(prepared.input_shape)
    plain = fam.fit(params | {"class_weight": "none"}, prepared, 0)
    weighted = fam.fit(params | {"class_weight": "balanced"}, prepared, 0)
    recall = [
        score("recall", prepared.y_val, predict_outputs(m.onnx_model, prepared.X_val))
        for m in (plain, weighted)
    ]
    assert recall[1] > recall[0]  # weighting the rare class finds more of it
    run = tradeoff.search(
        data,
        tradeoff.Requirements(metric="f1_minority"),
        out=tmp_path / "run",
        n_trials=3,
        families=["lightgbm", "xgboost", "gbdt"],
        quick_latency=True,
        compress=False,
        show_progress=False,
    )
    study = optuna.load_study(
        study_name="tradeoff", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    )
    assert all("class_weight" in t.params for t in study.trials)
    assert all(r.trained and r.peak_rss_mb > 0 for r in run.trials())


def test_f1_of_the_minority_class():
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    outputs = np.eye(3)[[0, 0, 0, 0, 1, 0, 1, 0, 2, 2, 0]]
    assert score("f1_minority", y, outputs) == pytest.approx(
        skm.f1_score(y, outputs.argmax(1), labels=[1], average="macro")
    )


# --- data-size fidelity and memory -------------------------------------------------------


def test_nested_stratified_subsamples():
    y = np.array([0] * 900 + [1] * 90)
    subsets = nested_subsamples(y, (1 / 9, 1 / 3), seed=0, stratified=True)
    small, mid = subsets[1 / 9], subsets[1 / 3]
    assert set(small) < set(mid)
    assert np.sum(y[small] == 1) == 10 and np.sum(y[small] == 0) == 100
    assert Halving().fraction_at(2, 60) == 1 / 9 and Halving().fraction_at(5, 60) == 1 / 3
    assert Halving().fraction_at(10, 60) == 1.0


def test_training_follows_the_rows_of_each_epoch(prepared_by_modality):
    from tradeoff.families import deployable

    prepared = prepared_by_modality[("tabular", "binary")]
    model = deployable(
        get_family("mlp"),
        get_family("mlp").defaults(prepared.input_shape),
        prepared.input_shape,
        prepared.n_outputs,
        prepared.scaling,
    )
    few = np.arange(30)
    result = train(
        model,
        prepared,
        Strategy(max_epochs=3, patience=10),
        rows_for_epoch=lambda epoch: few if epoch < 3 else None,
    )
    assert [p["rows"] for p in result.curve] == [30, 30, len(prepared.y_train)]


def test_halving_records_the_rows_of_each_rung(tmp_path, mnist1d_small):
    from conftest import QUICK_PROTOCOL
    from tradeoff.searcher import SearchSettings, run_search

    settings = SearchSettings(
        time_budget_s=None,
        n_trials=6,
        seed=0,
        max_epochs=10,
        protocol=QUICK_PROTOCOL,
        compression=None,
        families=("mlp",),
        first_trials=(get_family("mlp").point(depth=1, width=16),),
    )
    _, prepared = run_search(
        mnist1d_small, tradeoff.Requirements(), tmp_path / "run", settings, show_progress=False
    )
    run = tradeoff.Run.open(tmp_path / "run", prepared=prepared)
    n_train = len(run.prepared.y_train)
    seeded = {t.number: t.user_attrs.get("seeded_as") for t in run.study.trials}
    assert [seeded[0], seeded[1]] == ["given", "defaults"]
    seeded = {n for n, why in seeded.items() if why}
    reached = [r for r in run.trials() if r.rung_rows and r.number not in seeded]
    assert reached
    # 10 epochs leave no room for rungs 3 and 9 both below them: the first rung moves to 1.
    assert Halving().rungs(10) == [1, 3, 9]
    for record in reached:
        assert record.rung_rows["1"] < n_train / 8 and record.curve[0]["rows"] < n_train / 8
        for point in record.curve:  # 1/9 up to rung 1, 1/3 up to rung 3, then all rows
            share = 1 / 9 if point["epoch"] <= 1 else 1 / 3 if point["epoch"] <= 3 else 1
            assert abs(point["rows"] - share * n_train) <= 10
    # Seeded trials cannot be stopped (they have no peers): they train on all rows throughout.
    for record in (r for r in run.trials() if r.number in seeded):
        assert record.rung_rows["1"] == n_train and {p["rows"] for p in record.curve} == {n_train}
    assert all(r.peak_rss_mb and r.peak_rss_mb > 10 for r in run.trials())


# --- must show: a real table, search -> export -> bench -> serve --------------------------


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow
def test_credit_default_search_export_bench_serve_end_to_end(tmp_path):
    """ISLP's Default: 10,000 rows, a text column (student), 3 % positives."""
    import socket
    import time
    import urllib.request

    from tradeoff.datasets.islp import islp_csv

    run, model = tmp_path / "run", tmp_path / "model"
    searched = _cli(
        "search",
        "credit_default",
        "--out",
        str(run),
        "--trials",
        "4",
        "--families",
        "lightgbm,xgboost,mlp",
        "--metric",
        "balanced_accuracy",
        "--max-epochs",
        "6",
        "--quick-latency",
        "--no-compress",
        "--json",
    )
    summary = json.loads(searched.stdout)
    assert summary["pick"]["test_metric"] > 0.7 and summary["peak_rss_mb"] > 0
    _cli("export", str(run), "--out", str(model))
    card = json.loads((model / CARD_FILE).read_text())
    assert card["parity"]["passed"] and card["input"]["shape"] == [None, 3]
    bench = json.loads(_cli("bench", str(model), "--quick", "--json").stdout)
    assert bench["latency"]["p95_ms"] > 0 and bench["kind"] == "bundle"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tradeoff", "serve", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        rows = pd.read_csv(islp_csv("Default.csv", "credit_default")).sample(200, random_state=0)
        instances = rows.drop(columns="default").to_dict(orient="records")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=json.dumps({"instances": instances}).encode(),
            headers={"content-type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    served = answer["labels"]
    local = tradeoff.load(model).predict(rows.drop(columns="default"))
    assert served == list(local)
    assert np.mean(np.array(served) == rows["default"].to_numpy()) > 0.6


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_tree_families_take_the_table_encoding_of_a_real_table(family):
    """Bikeshare's text columns are folded in front of the converted trees (opsets raised)."""
    import onnxruntime as ort

    from tradeoff.inputs.table import TableSchema, as_shipped

    prepared = prepare(load("bikeshare"))
    fam = get_family(family)
    fitted = fam.fit(fam.defaults(prepared.input_shape) | {"n_estimators": 20}, prepared, 0)
    shipped, _ = as_shipped(fitted.onnx_model, prepared)
    feeds, rows = TableSchema.of(prepared).rows(prepared.X_test)
    session = ort.InferenceSession(shipped, providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)[0]
    expected = predict_outputs(fitted.onnx_model, prepared.X_test[rows])
    assert compare_outputs(expected, got, classification=False).passed

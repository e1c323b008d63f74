"""Data in, end to end: real data sets in their real forms, through the search, to a pick with test metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import tradeoff
from conftest import QUICK_PROTOCOL
from tradeoff import evaluate
from tradeoff.cli import app
from tradeoff.datasets import load
from tradeoff.families import family_names
from tradeoff.prepare import prepare
from tradeoff.searcher import SearchSettings, run_search

runner = CliRunner()
ANY = tradeoff.Requirements(max_size_mb=5.0)


def cancer_csv(path):
    """scikit-learn's breast cancer table as a user would have it: text labels, a category, gaps."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    bands = pd.cut(frame["mean radius"], [0, 12, 16, 40], labels=["small", "medium", "large"])
    frame["size_band"] = bands.astype(str)
    frame["site"] = "clinic_a"  # constant: dropped
    rng = np.random.default_rng(0)
    frame.loc[rng.choice(len(frame), 40, replace=False), "mean texture"] = np.nan
    frame.loc[rng.choice(len(frame), 20, replace=False), "size_band"] = None
    frame.loc[[5, 9], "diagnosis"] = None
    frame = pd.concat([frame, frame.iloc[10:17]])  # 7 duplicate rows
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def one_thread():
    """Train on one thread: on a shared 2-core machine, more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_csv_search_ends_in_a_pick_with_test_metrics_and_resumes(tmp_path, one_thread):
    csv, out = cancer_csv(tmp_path / "cancer.csv"), tmp_path / "run"
    args = ["search", "--quick-latency", "--no-compress", str(csv), "--target", "diagnosis"]
    args += ["--families", "linear"]
    args += ["--trials", "2", "--max-epochs", "4", "--cv", "3", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    pick = summary["pick"]
    assert pick["family"] == "linear" and 0.5 < pick["test_metric"] <= 1.0
    assert len(pick["cv_scores"]) == 3 and all(0.5 < s <= 1.0 for s in pick["cv_scores"])
    data = summary["data"]
    assert data["task"] == "binary" and data["n_train"] + data["n_val"] + data["n_test"] == 567
    assert data["cleaning"]["n_duplicates_dropped"] == 7
    assert data["cleaning"]["n_missing_target_dropped"] == 2
    frame = pd.read_csv(csv).dropna(subset=["diagnosis"]).drop_duplicates()
    missing = frame["mean texture"].isna().sum() + frame["size_band"].isna().sum()
    assert data["cleaning"]["n_values_imputed"] == missing > 40
    assert data["cleaning"]["constant_columns_dropped"] == ["site=clinic_a"]

    # The run remembers where its data came from: reopening and resuming reload the file.
    info = json.loads((out / "run.json").read_text())
    assert info["prepare"]["source"]["target"] == "diagnosis"
    assert info["prepare"]["options"]["cv"] == 3
    assert tradeoff.Run.open(out).prepared.fingerprint() == info["prepare"]["fingerprint"]
    again = runner.invoke(
        app, ["search", "--resume", str(out), "--quick-latency", "--trials", "1", "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"]["trials"] == 3

    # A changed file is refused on resume, before anything is written.
    frame = pd.read_csv(csv)
    frame.loc[0, "mean radius"] += 1.0
    frame.to_csv(csv, index=False)
    changed = runner.invoke(
        app, ["search", "--resume", str(out), "--quick-latency", "--trials", "1"]
    )
    assert changed.exit_code == 2 and "the data differs" in changed.stderr


@pytest.mark.parametrize(
    ("name", "families", "max_epochs"),
    [("breast_cancer", None, 15), ("digits", ("linear", "mlp"), 10), ("gunpoint", None, 15)],
)
def test_builtin_search_ends_in_a_pick_with_test_metrics(tmp_path, name, families, max_epochs):
    data = load(name)
    prepared = prepare(data, seed=0)
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=3,
        families=families,
        max_epochs=max_epochs,
        protocol=QUICK_PROTOCOL,
    )
    run_search(data, ANY, tmp_path / name, settings, show_progress=False, prepared=prepared)
    run = tradeoff.Run.open(tmp_path / name)
    assert run.info["prepare"]["modality"] == data.modality
    assert {r.family for r in run.trials()} <= set(family_names(data.modality))
    pick = run.select()
    assert pick is not None and pick.trained
    test = evaluate.test_estimate(run, pick)
    assert test.n == len(prepared.y_test) and 0.0 < test.value <= 1.0
    assert test.value > 1.2 / data.n_classes  # above chance


@pytest.mark.parametrize("name", ["breast_cancer", "digits", "gunpoint"])
def test_builtin_search_from_the_command_line(tmp_path, name, one_thread):
    out = tmp_path / name
    args = [
        "search",
        name,
        "--quick-latency",
        "--trials",
        "3",
        "--max-epochs",
        "10",
        "--cv",
        "off",  # small validation splits: --cv auto is tested in tests/searcher/test_cv.py
        "--out",
        str(out),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pick = json.loads(result.stdout)["pick"]
    assert pick is not None and 0.5 < pick["test_metric"] <= 1.0


def test_image_folder_search_ends_in_a_pick(tmp_path, one_thread):
    """scikit-learn's digits written as PNG files, one folder per class, then searched."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for i in range(400):
        folder = tmp_path / "digits" / f"digit_{bunch.target[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (bunch.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{i}.png")
    out = tmp_path / "run"
    args = [
        "search",
        "--quick-latency",
        str(tmp_path / "digits"),
        "--image-size",
        "8",
        "--families",
        "linear,mlp",
    ]
    args += ["--trials", "3", "--max-epochs", "15", "--cv", "off", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["data"]["modality"] == "image" and summary["data"]["input_shape"] == [1, 8, 8]
    assert summary["pick"]["test_metric"] > 0.3  # 10 classes: chance is 0.1


def test_ts_regression_search_exports_with_parity(tmp_path, one_thread):
    """sktime's Tecator declares ``@targetLabel true``: searched and shipped as a regression."""
    from pathlib import Path

    import onnxruntime as ort
    import sktime.datasets

    data = load(Path(sktime.datasets.__file__).parent / "data" / "Tecator" / "Tecator_TRAIN.ts")
    assert data.task == "regression"
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=3,
        families=("rocket", "cnn"),
        max_epochs=10,
        protocol=QUICK_PROTOCOL,
    )
    run_search(data, ANY, tmp_path / "run", settings, show_progress=False)
    run = tradeoff.Run.open(tmp_path / "run")
    pick = run.select()
    assert pick is not None and pick.trained
    assert evaluate.test_estimate(run, pick).value > 0.5  # r2: far above predicting the mean
    bundle = tradeoff.export(run, tmp_path / "model")
    session = ort.InferenceSession(str(next(bundle.glob("*.onnx"))))
    X = run.prepared.X_test[:4].astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: X})[0]
    assert out.shape[0] == 4 and np.all(np.isfinite(out))


def few_per_class_ts(folder, per_class: int = 2, test_per_class: int = 10):
    """sktime's JapaneseVowels (9 classes) cut to ``per_class`` training series of each class, as
    UCR sets with dozens of classes and a given test split come: ``Few_TRAIN.ts``/``_TEST.ts``."""
    from pathlib import Path

    import sktime.datasets

    source = Path(sktime.datasets.__file__).parent / "data" / "JapaneseVowels"
    for part, keep in (("TRAIN", per_class), ("TEST", test_per_class)):
        lines = (source / f"JapaneseVowels_{part}.ts").read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
        kept, body = {}, []
        for line in filter(str.strip, lines[start:]):
            label = line.rsplit(":", 1)[1].strip()
            if kept.get(label, 0) < keep:
                kept[label] = kept.get(label, 0) + 1
                body.append(line)
        (folder / f"Few_{part}.ts").write_text("\n".join(lines[:start] + body) + "\n")
    return folder / "Few_TRAIN.ts"


def test_two_training_series_per_class_are_ranked_by_folds_and_the_pick_uses_every_row(
    tmp_path, one_thread
):
    """It was refused: 'The test_size = 4 should be greater or equal to the number of classes'."""
    out = tmp_path / "run"
    args = ["search", str(few_per_class_ts(tmp_path)), "--families", "rocket", "--trials", "2"]
    args += ["--quick-latency", "--no-compress", "--out", str(out), "--json"]  # --cv auto
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    data = summary["data"]
    assert (data["n_train"], data["n_val"], data["n_test"]) == (9, 9, 90)
    assert data["cv_folds"] == 4  # 2 folds (the rarest class has 2 series), repeated twice
    assert len(summary["pick"]["cv_scores"]) == 4
    assert summary["pick"]["test_metric"] > 0.3  # 9 classes: chance is 0.11
    run = tradeoff.Run.open(out)
    assert len(evaluate.refit(run, run.select()).prepared.y_train) == 18  # trained on every series

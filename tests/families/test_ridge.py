"""The ridge baseline: its ONNX graph predicts what scikit-learn's RidgeCV fitted, and every
search of a small regression tries it first (ISLP's Hitters)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from typer.testing import CliRunner

import tradeoff
from tradeoff.cli import app
from tradeoff.families import get_family
from tradeoff.families.ridge import ALPHAS
from tradeoff.measure import session


def _onnx_outputs(onnx_model: bytes, X: np.ndarray) -> np.ndarray:
    sess = session(onnx_model)
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})[0]


def _standardised(prepared, X):
    return (X - prepared.scaling.mean.reshape(-1)) / prepared.scaling.std.reshape(-1)


@pytest.mark.parametrize("key", [("tabular", "regression"), ("tabular", "binary")])
def test_ridge_graph_takes_raw_rows_and_predicts_what_sklearn_fitted(key, prepared_by_modality):
    prepared = prepared_by_modality[key]
    fitted = get_family("ridge").fit({}, prepared, seed=0)
    outputs = _onnx_outputs(fitted.onnx_model, prepared.X_val)
    Z_train, Z_val = (_standardised(prepared, X) for X in (prepared.X_train, prepared.X_val))
    if prepared.task == "regression":
        native = RidgeCV(alphas=ALPHAS).fit(Z_train, prepared.y_train)
        expected = native.predict(Z_val)
        assert outputs.shape == (len(Z_val), 1)
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(outputs[:, 0] - expected).max() <= 1e-4 * scale
    else:
        native = RidgeClassifierCV(alphas=ALPHAS).fit(Z_train, prepared.y_train)
        assert outputs.shape == (len(Z_val), prepared.n_outputs)
        assert (outputs.argmax(1) == native.predict(Z_val)).all()
    assert native.alpha_ in ALPHAS


def test_a_small_regression_search_tries_the_ridge_baseline_first(tmp_path):
    """ISLP's Hitters: 263 players with a salary, 19 columns, 3 of them categories."""
    from tradeoff.datasets.islp import islp_csv

    out = tmp_path / "run"
    args = ["search", str(islp_csv("Hitters.csv", "hitters")), "--target", "Salary"]
    args += ["--trials", "2", "--max-epochs", "3", "--quick-latency", "--no-compress"]
    args += ["--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["data"]["task"] == "regression"
    board = tradeoff.Run.open(out).leaderboard()
    first = board[board["trial"] == 0].iloc[0]
    assert first["family"] == "ridge" and first["status"] == "trained"
    assert np.isfinite(first["val_r2"]) and first["val_r2"] > 0.0  # beats the mean

"""The peer's side of ``benchmarks/peers.py``: run with a peer's own Python, never imported by it.

Two commands, each reading one JSON request from argv and writing JSON (plus ``.npy``
arrays, no pickles crossing the boundary) into the request's ``out`` folder:

- ``fit``: fit one peer (``autogluon``, ``autogluon_best``, ``flaml``, ``lightgbm``) on the
  splits in ``splits.npz`` for the budget, save its predictor as that library saves it, and
  write its test-set outputs, its validation score and its own latency notion (mean time
  per row when predicting the whole test split in one call, as FLAML's ``pred_time_limit``
  and AutoGluon's ``infer_limit`` count it);
- ``probe``: in a fresh process, load a shipped predictor (a peer's saved predictor, or an
  ONNX file) and measure what running it on one row costs: the resident memory it adds,
  and its latency at batch 1 by ``tradeoff.measure.latency.measure_call`` (the protocol
  tradeoff uses, timed in blocks next to the same reference model).

Only NumPy, ONNX Runtime and ``tradeoff.measure.latency`` (found through ``PYTHONPATH``) are
imported before the probe's memory baseline is read; the peer's library import counts as
part of what shipping its predictor costs, and is reported separately too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(path: str | os.PathLike) -> float:
    """Bytes on disk of a file or of every file under a folder, in MB."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


# --------------------------------------------------------------------------- fit


def _frame(X, y=None):
    import pandas as pd

    table = pd.DataFrame(X.reshape(len(X), -1), columns=[f"x{i}" for i in range(X[0].size)])
    if y is not None:
        table["label"] = y
    return table


AG_METRIC = {"accuracy": "accuracy", "roc_auc": "roc_auc", "r2": "r2"}
FLAML_METRIC = {"accuracy": "accuracy", "roc_auc": "roc_auc", "r2": "r2"}


def fit(request: dict) -> dict:
    """Fit the peer named in ``request`` and save what it ships; returns its figures."""
    arrays = np.load(request["splits"], allow_pickle=False)
    out = Path(request["out"])
    kind, task, metric = request["kind"], request["task"], request["metric"]
    budget_s, limit_s = request["budget_s"], request["latency_limit_ms"] / 1000
    X_train, y_train = arrays["X_train"], arrays["y_train"]
    X_val, y_val, X_test = arrays["X_val"], arrays["y_val"], arrays["X_test"]
    start = time.perf_counter()
    info: dict = {}
    if kind.startswith("autogluon"):
        from autogluon.tabular import TabularPredictor

        problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
        predictor = TabularPredictor(
            label="label",
            problem_type=problem[task],
            eval_metric=AG_METRIC[metric],
            path=str(out / "model"),
            verbosity=0,
        )
        options = {"time_limit": budget_s}
        if kind == "autogluon":
            # The user's latency limit in AutoGluon's terms: mean seconds per row, here at
            # batch 1 (its default counts rows at batches of 10,000).
            options.update(infer_limit=limit_s, infer_limit_batch_size=1)
        else:
            # Unconstrained: the preset AutoGluon recommends for accuracy; with our
            # validation split it bags and stacks, and holds that split out (use_bag_holdout).
            options.update(presets="best_quality", use_bag_holdout=True)
        predictor.fit(_frame(X_train, y_train), tuning_data=_frame(X_val, y_val), **options)
        info["fit_s"] = time.perf_counter() - start
        board = predictor.leaderboard(silent=True)
        info["pick"] = predictor.model_best
        info["models"] = len(board)
        info["val"] = float(board.loc[board.model == predictor.model_best, "score_val"].iloc[0])
        predictor.save_space()  # drop the models it will not use, as a user shipping it would
        model_path = str(out / "model")
        test = _frame(X_test)
        outputs_fn = (
            (lambda: predictor.predict(test).to_numpy(np.float64))
            if task == "regression"
            else (lambda: predictor.predict_proba(test).to_numpy(np.float64))
        )
    elif kind == "flaml":
        import pickle

        from flaml import AutoML

        automl = AutoML()
        automl.fit(
            X_train.reshape(len(X_train), -1),
            y_train,
            X_val=X_val.reshape(len(X_val), -1),
            y_val=y_val,
            task="regression" if task == "regression" else "classification",
            metric=FLAML_METRIC[metric],
            time_budget=budget_s,
            pred_time_limit=limit_s,
            seed=request["seed"],
            verbose=0,
        )
        info["fit_s"] = time.perf_counter() - start
        info["pick"] = automl.best_estimator
        info["models"] = len(automl.config_history)
        info["val"] = 1 - automl.best_loss  # FLAML minimises 1 - metric for these metrics
        model_path = str(out / "automl.pkl")
        with open(model_path, "wb") as file:  # FLAML's documented way to save a model
            pickle.dump(automl, file, pickle.HIGHEST_PROTOCOL)
        flat = X_test.reshape(len(X_test), -1)
        outputs_fn = (
            (lambda: automl.predict(flat).astype(np.float64))
            if task == "regression"
            else (lambda: automl.predict_proba(flat).astype(np.float64))
        )
        info["onnx"] = _flaml_onnx(automl, flat.shape[1], out)
    elif kind == "lightgbm":
        import lightgbm

        estimator = (
            lightgbm.LGBMRegressor(verbose=-1)
            if task == "regression"
            else lightgbm.LGBMClassifier(verbose=-1)
        )
        flat = X_train.reshape(len(X_train), -1)
        estimator.fit(flat, y_train)  # defaults: 100 trees of 31 leaves, no early stopping
        info["fit_s"] = time.perf_counter() - start
        info["pick"] = "LGBM defaults"
        info["models"] = 1
        model_path = str(out / "model.txt")
        estimator.booster_.save_model(model_path)
        flat_test = X_test.reshape(len(X_test), -1)
        outputs_fn = (
            (lambda: estimator.predict(flat_test).astype(np.float64))
            if task == "regression"
            else (lambda: estimator.predict_proba(flat_test).astype(np.float64))
        )
        info["val"] = None
        info["onnx"] = _lightgbm_onnx(estimator, flat.shape[1], out / "model.onnx")
    else:
        raise SystemExit(f"unknown peer {kind!r}")
    outputs_fn()  # warm: the first call pays for lazy imports and caches
    t0 = time.perf_counter()
    outputs = outputs_fn()
    info["own_ms_per_row"] = (time.perf_counter() - t0) * 1e3 / len(X_test)
    info["own_batch"] = len(X_test)
    if task != "regression":
        outputs = np.log(np.clip(outputs, 1e-12, 1.0))  # softmax(log p) = p for our metrics
    np.save(out / "test_outputs.npy", outputs.reshape(len(X_test), -1))
    info["model_path"] = model_path
    info["size_mb"] = folder_mb(model_path)
    return info


def _lightgbm_onnx(estimator, n_features: int, path: Path) -> str | None:
    """The LightGBM model in ONNX (onnxmltools), probabilities as a plain tensor, or None."""
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        model = onnxmltools.convert_lightgbm(
            estimator,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            zipmap=False,
            target_opset=15,
        )
        path.write_bytes(model.SerializeToString())
        return str(path)
    except Exception as error:  # a converter gap is a figure we report, not a failure
        print(f"onnx conversion failed: {error}", file=sys.stderr)
        return None


def _flaml_onnx(automl, n_features: int, out: Path) -> str | None:
    """FLAML's pick in ONNX, which FLAML itself does not export: onnxmltools for LightGBM and
    XGBoost, skl2onnx for its scikit-learn models; None where no converter applies."""
    estimator = getattr(getattr(automl, "model", None), "estimator", None)
    name, path = automl.best_estimator, out / "model.onnx"
    if estimator is None:
        return None
    if name == "lgbm":
        return _lightgbm_onnx(estimator, n_features, path)
    try:
        if name == "xgboost":
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType

            model = onnxmltools.convert_xgboost(
                estimator,
                initial_types=[("input", FloatTensorType([None, n_features]))],
                target_opset=15,
            )
        elif name in ("rf", "extra_tree", "lrl1", "lrl2", "kneighbor"):
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import FloatTensorType

            options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
            model = convert_sklearn(
                estimator,
                initial_types=[("input", FloatTensorType([None, n_features]))],
                options=options,
                target_opset=15,
            )
        else:
            return None
        path.write_bytes(model.SerializeToString())
        return str(path)
    except Exception as error:  # a converter gap is a figure we report, not a failure
        print(f"onnx conversion failed: {error}", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- probe


def _loader(kind: str, model_path: str, row: np.ndarray):
    """A function predicting ``row`` with the shipped predictor, as its user would call it."""
    if kind.startswith("autogluon"):
        from autogluon.tabular import TabularPredictor

        predictor = TabularPredictor.load(model_path, require_py_version_match=False)
        predictor.persist()  # keep models in memory: AutoGluon's advice for online inference
        frame = _frame(row)
        return lambda: predictor.predict(frame)
    if kind == "flaml":
        import pickle

        with open(model_path, "rb") as file:  # written by our own fit step, never a user's file
            automl = pickle.load(file)
        flat = row.reshape(1, -1)
        return lambda: automl.predict(flat)
    if kind == "lightgbm":
        import lightgbm

        booster = lightgbm.Booster(model_file=model_path)
        flat = row.reshape(1, -1)
        return lambda: booster.predict(flat)
    if kind == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        sess = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        inputs = sess.get_inputs()
        if len(inputs) == 1 and inputs[0].type == "tensor(float)":
            # A converted tree model takes flat rows; tradeoff's series models [1, length, 1].
            shape = (1, -1) if len(inputs[0].shape) == 2 else (1, *row.shape[1:])
            feeds = {inputs[0].name: row.astype(np.float32).reshape(shape)}
        else:  # a table bundle takes raw columns: time it as `tradeoff bench` does
            from tradeoff.measure.latency import sample_feeds

            feeds = sample_feeds(sess, tuple(inputs[0].shape[1:]), 1)
        return lambda: sess.run(None, feeds)
    raise SystemExit(f"unknown predictor kind {kind!r}")


def _runtime(kind: str) -> str:
    from importlib.metadata import version

    package = {"autogluon": "autogluon.tabular", "flaml": "flaml", "lightgbm": "lightgbm"}
    if kind == "onnx":
        return f"onnxruntime {version('onnxruntime')}"
    name = package["autogluon" if kind.startswith("autogluon") else kind]
    return f"{name} {version(name)} predict (Python)"


def probe(request: dict) -> dict:
    """Memory and batch-1 latency of one shipped predictor, in this (fresh) process."""
    from tradeoff.measure.latency import LatencyProtocol, measure_call

    baseline = _status_mb("VmRSS")
    row = np.load(request["row"], allow_pickle=False)
    call = _loader(request["kind"], request["model"], row)
    loaded = _status_mb("VmRSS")
    for _ in range(20):
        call()
    peak = _status_mb("VmHWM")
    latency = measure_call(
        call, LatencyProtocol(**request["protocol"]), runtime=_runtime(request["kind"])
    )
    return {
        "baseline_rss_mb": baseline,
        "loaded_rss_mb": loaded,
        "peak_rss_mb": peak,
        "inference_rss_mb": peak - baseline,
        "latency": latency.to_dict(),
    }


def main() -> None:
    command, request = sys.argv[1], json.loads(sys.argv[2])
    result = fit(request) if command == "fit" else probe(request)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

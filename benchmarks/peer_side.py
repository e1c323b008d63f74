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

import itertools
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


def _frame(X, y=None, categorical=None):
    """A table of flat rows; ``categorical`` maps a column's index to its number of categories
    (the column holds integer codes): those become pandas categories with the same category
    list in every split, so that a peer uses its own categorical handling."""
    import pandas as pd

    table = pd.DataFrame(X.reshape(len(X), -1), columns=[f"x{i}" for i in range(X[0].size)])
    for index, count in (categorical or {}).items():
        codes = table[f"x{index}"].astype(np.int64)
        table[f"x{index}"] = pd.Categorical(codes, categories=range(int(count)))
    if y is not None:
        table["label"] = y
    return table


AG_METRIC = {"accuracy": "accuracy", "roc_auc": "roc_auc", "r2": "r2"}
FLAML_METRIC = {"accuracy": "accuracy", "roc_auc": "roc_auc", "r2": "r2", "rmse": "rmse"}
#: The metrics FLAML minimises as they are (its best_loss is the figure), not as 1 - metric.
FLAML_MINIMISED = ("rmse",)


def fit(request: dict) -> dict:
    """Fit the peer named in ``request`` and save what it ships; returns its figures."""
    arrays = np.load(request["splits"], allow_pickle=False)
    out = Path(request["out"])
    kind, task, metric = request["kind"], request["task"], request["metric"]
    budget_s, limit_s = request["budget_s"], request["latency_limit_ms"] / 1000
    X_train, y_train = arrays["X_train"], arrays["y_train"]
    X_val, y_val, X_test = arrays["X_val"], arrays["y_val"], arrays["X_test"]
    categorical = {int(k): v for k, v in (request.get("categorical") or {}).items()}
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
        from flaml import AutoML

        automl = AutoML()
        automl.fit(
            _frame(X_train, categorical=categorical),
            y_train,
            X_val=_frame(X_val, categorical=categorical),
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
        # FLAML minimises 1 - metric for the metrics higher is better, the metric itself else.
        loss = automl.best_loss
        info["val"] = loss if metric in FLAML_MINIMISED else 1 - loss
        model_path = _save_model(automl, out / "automl.pkl")  # FLAML's documented way
        flat = _frame(X_test, categorical=categorical)
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
        # A baseline has nothing to tune on the validation rows: it trains on them too.
        X_fit, y_fit = _train_and_validation(X_train, y_train, X_val, y_val)
        flat = X_fit.reshape(len(X_fit), -1)
        # Defaults: 100 trees of 31 leaves, no early stopping; categories handled natively.
        estimator.fit(flat, y_fit, categorical_feature=[int(i) for i in categorical] or "auto")
        info["fit_s"] = time.perf_counter() - start
        info["pick"] = "LGBM defaults, train+validation"
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
    elif kind in ("linear", "hgb"):
        X_fit, y_fit = _train_and_validation(X_train, y_train, X_val, y_val)
        smallest = 5 if task == "regression" else int(np.unique(y_fit, return_counts=True)[1].min())
        estimator = _sklearn_baseline(kind, task, categorical, request.get("n_features"), smallest)
        estimator.fit(X_fit.reshape(len(X_fit), -1), y_fit)
        info["fit_s"] = time.perf_counter() - start
        info["pick"] = f"{type(estimator[-1]).__name__}, train+validation"
        info["models"] = 1
        info["val"] = None
        flat_test = X_test.reshape(len(X_test), -1).astype(np.float32)
        outputs_fn = (
            (lambda: estimator.predict(flat_test).astype(np.float64))
            if task == "regression"
            else (lambda: estimator.predict_proba(flat_test).astype(np.float64))
        )
        model_path = _save_model(estimator, out / "model.pkl")
        info["onnx"] = _sklearn_onnx(estimator, flat_test.shape[1], out / "model.onnx")
    elif kind in ("minirocket", "nbsvm"):
        X_fit, y_fit = _train_and_validation(X_train, y_train, X_val, y_val)
        if kind == "minirocket":
            shape = tuple(request["input_shape"])  # [length, channels]
            rocket = _minirocket(_panel(X_fit, shape), y_fit, task, request["seed"])
            estimator = rocket[-1]
            info["pick"] = f"MiniRocket + {type(estimator).__name__}, train+validation"
            test_rows = _rocket_features(rocket, _panel(X_test, shape))
        else:
            estimator = _nbsvm(X_fit[:, 0], y_fit)
            info["pick"] = "NB-SVM (uni+bigrams, beta 0.25), train+validation"
            test_rows = X_test[:, 0]
        info["fit_s"] = time.perf_counter() - start
        info["models"], info["val"] = 1, None
        outputs_fn = (
            (lambda: estimator.predict(test_rows).astype(np.float64))
            if task == "regression"
            else (lambda: _probabilities(estimator, test_rows))
        )
        model_path = _save_model(rocket if kind == "minirocket" else estimator, out / "model.pkl")
    else:
        raise SystemExit(f"unknown peer {kind!r}")
    outputs_fn()  # warm: the first call pays for lazy imports and caches
    t0 = time.perf_counter()
    outputs = outputs_fn()
    info["own_ms_per_row"] = (time.perf_counter() - t0) * 1e3 / len(X_test)
    info["own_batch"] = len(X_test)
    if info.get("onnx"):
        _check_onnx(info, outputs, X_test)
    if task != "regression":
        outputs = np.log(np.clip(outputs, 1e-12, 1.0))  # softmax(log p) = p for our metrics
    np.save(out / "test_outputs.npy", outputs.reshape(len(X_test), -1))
    info["model_path"] = model_path
    info["size_mb"] = folder_mb(model_path)
    return info


def _check_onnx(info: dict, outputs: np.ndarray, X_test: np.ndarray) -> None:
    """Keep a converted model only if it computes what the peer's own predict does on the test
    rows (a converter can silently miss a preprocessing step, e.g. FLAML's own column
    transform); otherwise say by how much it differs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(info["onnx"], providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: X_test.reshape(len(X_test), -1).astype(np.float32)}
    got = sess.run(None, feed)
    got = got[-1] if outputs.ndim == 2 and len(got) > 1 else got[0]
    diff = float(np.abs(np.asarray(got, np.float64).reshape(outputs.shape) - outputs).max())
    scale = 1.0 if outputs.ndim == 2 else max(1.0, float(np.abs(outputs).max()))
    info["onnx_max_abs_diff"] = diff
    if diff > 1e-3 * scale:
        info["onnx_error"] = f"converted model differs from its own predict by {diff:.3g}"
        info["onnx"] = None


def _train_and_validation(X_train, y_train, X_val, y_val):
    return np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])


def _sklearn_baseline(
    kind: str, task: str, categorical: dict, n_features: int | None, smallest_class: int = 5
):
    """The baselines a user writes in a few lines: a linear model with its penalty chosen by
    internal cross-validation (on standardised one-hot features; as many folds as the smallest
    class allows, up to 5), or gradient boosting at its defaults (categories natively)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    regression = task == "regression"
    if kind == "linear":
        model = (
            RidgeCV(alphas=np.logspace(-3, 3, 13))
            if regression
            else LogisticRegressionCV(Cs=10, max_iter=2000, cv=min(5, smallest_class))
        )
        return make_pipeline(StandardScaler(), model)
    mask = None
    if categorical and n_features:
        mask = [i in categorical for i in range(n_features)]
    model = (
        HistGradientBoostingRegressor(categorical_features=mask, random_state=0)
        if regression
        else HistGradientBoostingClassifier(categorical_features=mask, random_state=0)
    )
    return make_pipeline(model)


def _minirocket(X: np.ndarray, y: np.ndarray, task: str, seed: int) -> tuple:
    """MiniRocket's features and a ridge head whose penalty its efficient leave-one-out picks,
    fitted: the few lines of sktime that the archive's references start from. Returned as
    (transform, scaler, head): an sktime transformer does not sit in a scikit-learn 1.8
    ``Pipeline``."""
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from sklearn.preprocessing import StandardScaler
    from sktime.transformations.panel.rocket import MiniRocketMultivariate

    transform = MiniRocketMultivariate(random_state=seed).fit(X)
    features = np.asarray(transform.transform(X))
    scaler = StandardScaler(with_mean=False).fit(features)
    head = (RidgeCV if task == "regression" else RidgeClassifierCV)(alphas=np.logspace(-3, 3, 10))
    return transform, scaler, head.fit(scaler.transform(features), y)


def _rocket_features(rocket: tuple, X: np.ndarray) -> np.ndarray:
    transform, scaler, _ = rocket
    return scaler.transform(np.asarray(transform.transform(X)))


def _panel(X: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat rows back as sktime's panel ``[n, channels, length]`` (tradeoff's ``[n, length,
    channels]``); shorter series as tradeoff padded them."""
    return X.reshape(len(X), *shape).transpose(0, 2, 1).astype(np.float64)


def _nbsvm(texts: np.ndarray, y: np.ndarray, beta: float = 0.25, alpha: float = 1.0):
    """NB-SVM (Wang & Manning 2012): binarised uni- and bigram counts, scaled by their
    log-count ratio ``r``, a linear SVM, its weights interpolated towards their mean by
    ``beta``; ``r`` folded into the weights (w . (r * x) = (w * r) . x), so what ships is a
    plain count vectoriser and a linear SVM."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    vectorizer = CountVectorizer(ngram_range=(1, 2), binary=True)
    counts = vectorizer.fit_transform(texts)
    p = alpha + np.asarray(counts[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(counts[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    svm = LinearSVC(C=1.0).fit(counts.multiply(r).tocsr(), y)
    w = svm.coef_.ravel()
    svm.coef_ = (((1 - beta) * np.abs(w).mean() + beta * w) * r).reshape(1, -1)
    return make_pipeline(vectorizer, svm)


def _probabilities(estimator, rows) -> np.ndarray:
    """Class probabilities, or for a margin classifier (ridge, SVM) its scores' softmax: what
    an accuracy or ROC AUC reads the same."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(rows).astype(np.float64)
    scores = np.asarray(estimator.decision_function(rows), np.float64)
    if scores.ndim == 1:
        scores = np.stack([-scores / 2, scores / 2], axis=1)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


def _save_model(model, path: Path) -> str:
    """Pickle a model this harness fitted, for its own probe step; returns the path."""
    import pickle

    with open(path, "wb") as file:
        pickle.dump(model, file, pickle.HIGHEST_PROTOCOL)
    return str(path)


def _load_model(path: str):
    """A model :func:`_save_model` wrote in this run's folder (never a file a user hands us)."""
    import pickle

    with open(path, "rb") as file:
        return pickle.load(file)


def _sklearn_onnx(estimator, n_features: int, path: Path) -> str | None:
    """A scikit-learn pipeline in ONNX (skl2onnx), probabilities as a plain tensor, or None."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        options = {id(estimator[-1]): {"zipmap": False}} if hasattr(estimator, "classes_") else None
        model = convert_sklearn(
            estimator,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options=options,
            target_opset=15,
        )
        path.write_bytes(model.SerializeToString())
        return str(path)
    except Exception as error:  # a converter gap is a figure we report, not a failure
        print(f"onnx conversion failed: {error}", file=sys.stderr)
        return None


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
        if name in ("xgboost", "xgb_limitdepth"):
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType

            # onnxmltools reads features as f0, f1, ...: drop the frame's column names.
            booster = estimator.get_booster()
            booster.feature_names, booster.feature_types = None, None
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


def _loader(kind: str, model_path: str, row: np.ndarray, request: dict | None = None):
    """A function predicting ``row`` with the shipped predictor, as its user would call it.

    ``request["feeds"]``: an ``.npz`` of a bundle's real inputs by name (a table's raw
    columns, row for row); each call then takes the next row, as ``tradeoff bench`` does.
    ``request["categorical"]``: the peer's categorical columns (see :func:`_frame`)."""
    request = request or {}
    categorical = {int(k): v for k, v in (request.get("categorical") or {}).items()}
    if kind.startswith("autogluon"):
        from autogluon.tabular import TabularPredictor

        predictor = TabularPredictor.load(model_path, require_py_version_match=False)
        predictor.persist()  # keep models in memory: AutoGluon's advice for online inference
        frame = _frame(row)
        return lambda: predictor.predict(frame)
    if kind == "flaml":
        automl = _load_model(model_path)
        frame = _frame(row.reshape(1, -1), categorical=categorical)
        return lambda: automl.predict(frame)
    if kind in ("linear", "hgb"):
        estimator = _load_model(model_path)
        flat = row.reshape(1, -1).astype(np.float32)
        return lambda: estimator.predict(flat)
    if kind in ("minirocket", "nbsvm"):
        estimator = _load_model(model_path)
        if kind == "nbsvm":
            text = row.reshape(1, -1)[:, 0]
            return lambda: estimator.predict(text)
        series = _panel(row.reshape(1, -1), tuple(request["input_shape"]))
        return lambda: estimator[-1].predict(_rocket_features(estimator, series))
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
        if request.get("feeds"):
            stored = np.load(request["feeds"], allow_pickle=False)
            arrays = {i.name: stored[i.name] for i in inputs}
            # Strings are stored as unicode arrays (no pickle); ORT takes them as objects.
            arrays = {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in arrays.items()}
            count = len(arrays[inputs[0].name])
            cycle = itertools.cycle(
                [{k: v[r : r + 1] for k, v in arrays.items()} for r in range(count)]
            )
            return lambda: sess.run(None, next(cycle))
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

    package = {
        "autogluon": "autogluon.tabular",
        "flaml": "flaml",
        "lightgbm": "lightgbm",
        "linear": "scikit-learn",
        "hgb": "scikit-learn",
        "minirocket": "sktime",
        "nbsvm": "scikit-learn",
    }
    if kind == "onnx":
        return f"onnxruntime {version('onnxruntime')}"
    name = package["autogluon" if kind.startswith("autogluon") else kind]
    return f"{name} {version(name)} predict (Python)"


def probe(request: dict) -> dict:
    """Memory and batch-1 latency of one shipped predictor, in this (fresh) process."""
    from tradeoff.measure.latency import LatencyProtocol, measure_call

    baseline = _status_mb("VmRSS")
    row = np.load(request["row"], allow_pickle=False)
    call = _loader(request["kind"], request["model"], row, request)
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

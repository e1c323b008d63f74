"""TF-IDF over word or character n-grams, and a linear head: the cheap, strong text baseline.

The search space: word n-grams (1 to 1..3) or character n-grams (2..3 to 4..5), the
vocabulary size, sublinear term frequency, naive-Bayes log-count-ratio scaling (Wang &
Manning 2012's NB-SVM, binary tasks), and the head: logistic regression or a linear
SVM (squared hinge), with its regularisation strength. The shipped graph computes the
counts with ``TfIdfVectorizer``, then weighting, L2 normalisation and the linear map.
Character n-gram models are fitted on at most ``_text.MAX_CHAR_DOCS`` training texts.
"""

from __future__ import annotations

import time

import numpy as np
from onnx import TensorProto

from tradeoff.errors import TradeoffError
from tradeoff.families import _text
from tradeoff.families._base import Family, FittedModel, register_family


@register_family("tfidf")
class TfIdfLinear(Family):
    modalities = frozenset({"text"})
    description = (
        "TF-IDF of word / char n-grams (vocabulary size, sublinear tf, NB scaling) + "
        "logistic regression or linear SVM"
    )
    trained_by = "fit"

    def defaults(self, input_shape):
        return {
            "analyzer": "word",
            "max_n": 2,
            "max_features": 50_000,
            "sublinear_tf": True,
            "nb_scaling": False,
            "head": "logistic",
            "C": 4.0,
        }

    def suggest(self, trial, input_shape):
        analyzer = trial.suggest_categorical(self.key("analyzer"), ["word", "char"])
        return {
            "analyzer": analyzer,
            "max_n": trial.suggest_int(self.key("max_n"), 1, 3)
            if analyzer == "word"
            else trial.suggest_int(self.key("char_max_n"), 3, 5),
            "max_features": trial.suggest_categorical(
                self.key("max_features"), [5_000, 20_000, 50_000, 100_000]
            ),
            "sublinear_tf": trial.suggest_categorical(self.key("sublinear_tf"), [True, False]),
            "nb_scaling": trial.suggest_categorical(self.key("nb_scaling"), [True, False]),
            "head": trial.suggest_categorical(self.key("head"), ["logistic", "linear_svm"]),
            "C": trial.suggest_float(self.key("C"), 0.1, 30.0, log=True),
        }

    def fit(self, params, prepared, seed):
        start = time.perf_counter()
        analyzer = params["analyzer"]
        low = 1 if analyzer == "word" else 2
        grams, train_counts, n_rows = _text.top_grams(
            prepared.X_train, analyzer, (low, params["max_n"]), params["max_features"]
        )
        if not grams:
            raise TradeoffError(f"{prepared.data.name}: the training texts hold no tokens")
        y = prepared.y_train[:n_rows]
        g = _text.Graph()
        counts = _text.ngram_counts(g, analyzer, grams)
        idf = _idf(train_counts)
        features = _weighted(g, counts, idf, params["sublinear_tf"])
        X = _normalised(train_counts, idf, params["sublinear_tf"])
        scale = np.ones(len(grams), np.float32)
        if params["nb_scaling"] and prepared.n_outputs == 2:
            scale = _log_count_ratio(X, y)
            X = X.multiply(scale[None, :]).tocsr()
        coef, intercept = _linear(params, X, y, seed)
        logits = _text.logits_head(g, features, coef * scale[None, :], intercept)
        onnx_model = g.model(logits, TensorProto.FLOAT, ["N", prepared.n_outputs])
        return FittedModel(
            onnx_model=onnx_model.SerializeToString(),
            n_params=int(coef.size + intercept.size + len(grams)),
            seconds=time.perf_counter() - start,
        )


def _idf(counts) -> np.ndarray:
    """scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)


def _normalised(counts, idf: np.ndarray, sublinear: bool):
    X = counts.astype(np.float32).tocsr(copy=True)
    if sublinear:
        X.data = np.log(X.data) + 1
    X = X.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    return X.multiply(1 / np.maximum(norms, 1e-12)[:, None]).tocsr()


def _weighted(g: _text.Graph, counts: str, idf: np.ndarray, sublinear: bool) -> str:
    """The graph of ``_normalised``: (1 + ln tf where tf > 0), times idf, L2-normalised."""
    x = counts
    if sublinear:
        one = g.const("one_f", np.array(1.0, np.float32))
        log = g.node("Log", [g.node("Max", [x, one], "at_least_one")], "log_tf")
        x = g.node("Add", [log, g.node("Min", [x, one], "present")], "sublinear")
    x = g.node("Mul", [x, g.const("idf", idf)], "tfidf")
    norm = g.node("ReduceL2", [x], "norm", axes=[-1], keepdims=1)
    safe = g.node("Max", [norm, g.const("tiny", np.array(1e-12, np.float32))], "safe_norm")
    return g.node("Div", [x, safe], "features")


def _log_count_ratio(X, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """NB-SVM's r = log((p / |p|1) / (q / |q|1)) with p, q the feature sums of each class."""
    p = np.asarray(X[y == 1].sum(axis=0)).ravel() + alpha
    q = np.asarray(X[y == 0].sum(axis=0)).ravel() + alpha
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def _linear(params: dict, X, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if params["head"] == "logistic":
        model = LogisticRegression(C=params["C"], max_iter=1000, random_state=seed)
    else:
        model = LinearSVC(C=params["C"], max_iter=5000, random_state=seed)
    model.fit(X, y)
    return model.coef_.astype(np.float32), np.atleast_1d(model.intercept_).astype(np.float32)

"""TF-IDF over word or character n-grams, and a linear head: the cheap, strong text baseline.

The search space: word n-grams (1 to 1..3) or character n-grams (2..3 to 4..5), the
vocabulary size, sublinear term frequency, naive-Bayes log-count-ratio scaling (Wang &
Manning 2012's NB-SVM, binary tasks), and the head: logistic regression or a linear
SVM (squared hinge), with its regularisation strength. The shipped graph computes the
counts with ``TfIdfVectorizer``, then weighting, L2 normalisation and the linear map.
Character n-gram models are fitted on at most ``ngrams.MAX_CHAR_DOCS`` training texts.
"""

from __future__ import annotations

import time

import numpy as np
from onnx import TensorProto

from tradeoff.errors import TradeoffError
from tradeoff.families import _text
from tradeoff.families._base import FittedFamily, FittedModel, register_family
from tradeoff.inputs import ngrams

#: The vocabulary sizes searched, and those a shrink steps down through.
VOCABULARY_SIZES = [5_000, 20_000, 50_000, 100_000]


@register_family("tfidf")
class TfIdfLinear(FittedFamily):
    modalities = frozenset({"text"})
    description = (
        "TF-IDF of word / char n-grams (vocabulary size, sublinear tf, NB scaling) + "
        "logistic regression or linear SVM"
    )
    training = "own fit (scikit-learn linear model)"
    has_native = True

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

    def shrink(self, params):
        """A smaller vocabulary first (the graph's dense weighting, normalisation and head
        scale with it: on IMDB reviews, 50,000 -> 20,000 word 1-2-grams took the p50 from 50x
        to 26x the reference model's, two runs alike), then word n-grams one size shorter; ``None`` for
        char n-grams, whose defaults are not a seeded start."""
        if params["analyzer"] != "word":
            return None
        smaller = [n for n in VOCABULARY_SIZES if n < params["max_features"]]
        if smaller:
            return {**params, "max_features": smaller[-1]}
        return {**params, "max_n": params["max_n"] - 1} if params["max_n"] > 1 else None

    def suggest(self, trial, input_shape):
        analyzer = trial.suggest_categorical(self.key("analyzer"), ["word", "char"])
        return {
            "analyzer": analyzer,
            "max_n": trial.suggest_int(self.key("max_n"), 1, 3)
            if analyzer == "word"
            else trial.suggest_int(self.key("char_max_n"), 3, 5),
            "max_features": trial.suggest_categorical(self.key("max_features"), VOCABULARY_SIZES),
            "sublinear_tf": trial.suggest_categorical(self.key("sublinear_tf"), [True, False]),
            "nb_scaling": trial.suggest_categorical(self.key("nb_scaling"), [True, False]),
            "head": trial.suggest_categorical(self.key("head"), ["logistic", "linear_svm"]),
            "C": trial.suggest_float(self.key("C"), 0.1, 30.0, log=True),
        }

    def fit(self, params, prepared, seed):
        start = time.perf_counter()
        analyzer = params["analyzer"]
        low = 1 if analyzer == "word" else 2
        grams, train_counts, n_rows = ngrams.top_grams(
            prepared.X_train, analyzer, (low, params["max_n"]), params["max_features"]
        )
        if not grams:
            raise TradeoffError(f"{prepared.data.name}: the training texts hold no tokens")
        y = prepared.y_train[:n_rows]
        g = _text.Graph()
        counts = ngrams.ngram_counts(g, analyzer, grams)
        idf = ngrams.idf(train_counts)
        features = ngrams.weighted(g, counts, idf, params["sublinear_tf"])
        X = ngrams.normalised(train_counts, idf, params["sublinear_tf"])
        scale = np.ones(len(grams), np.float32)
        if params["nb_scaling"] and prepared.n_outputs == 2:
            scale = _text.log_count_ratio(X, y)
            X = X.multiply(scale[None, :]).tocsr()
        coef, intercept = _text.fit_linear(params, X, y, seed)
        logits = _text.logits_head(g, features, coef * scale[None, :], intercept)
        onnx_model = g.model(logits, TensorProto.FLOAT, ["N", prepared.n_outputs])

        def weighted(texts: np.ndarray):
            counts = ngrams.count_grams(texts, analyzer, grams)
            return ngrams.normalised(counts, idf, params["sublinear_tf"])

        return FittedModel(
            onnx_model=onnx_model.SerializeToString(),
            n_params=int(coef.size + intercept.size + len(grams)),
            seconds=time.perf_counter() - start,
            native=_text.linear_native(weighted, coef * scale[None, :], intercept),
        )

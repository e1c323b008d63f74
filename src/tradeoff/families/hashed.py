"""Hashed n-grams + a linear head: many more n-grams than weights.

Every word n-gram seen in at least two training texts (up to ``pool`` of them, most
frequent first) is counted, and its count goes to one of ``buckets`` columns chosen by a
stable hash (CRC-32) of the n-gram: the hashing trick, with ``TfIdfVectorizer``'s
n-gram-to-column map doing the hashing inside the graph. The weights grow with the
buckets, the graph's n-gram pool with ``pool``; collisions are the price. Searched:
n-gram length (1 to 2..3), pool size, buckets, sublinear tf, head and its C.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
from onnx import TensorProto
from scipy import sparse

from tradeoff.errors import TradeoffError
from tradeoff.families import _text
from tradeoff.families._base import FittedFamily, FittedModel, register_family
from tradeoff.inputs import ngrams


@register_family("hashed")
class HashedNgrams(FittedFamily):
    modalities = frozenset({"text"})
    description = "hashed word n-grams (pool, buckets, sublinear tf) + logistic / linear SVM"
    training = "own fit (scikit-learn linear model)"
    has_native = True

    def defaults(self, input_shape):
        return {
            "max_n": 2,
            "pool": 200_000,
            "buckets": 2**14,
            "sublinear_tf": True,
            "head": "logistic",
            "C": 4.0,
        }

    def suggest(self, trial, input_shape):
        return {
            "max_n": trial.suggest_int(self.key("max_n"), 2, 3),
            "pool": trial.suggest_categorical(self.key("pool"), [50_000, 200_000, 500_000]),
            "buckets": trial.suggest_categorical(self.key("buckets"), [2**12, 2**14, 2**16]),
            "sublinear_tf": trial.suggest_categorical(self.key("sublinear_tf"), [True, False]),
            "head": trial.suggest_categorical(self.key("head"), ["logistic", "linear_svm"]),
            "C": trial.suggest_float(self.key("C"), 0.1, 30.0, log=True),
        }

    def fit(self, params, prepared, seed):
        start = time.perf_counter()
        grams, counts_by_gram, n_rows = ngrams.top_grams(
            prepared.X_train, "word", (1, params["max_n"]), params["pool"]
        )
        if not grams:
            raise TradeoffError(f"{prepared.data.name}: the training texts hold no tokens")
        buckets = params["buckets"]
        columns = [zlib.crc32(" ".join(g).encode("utf-8")) % buckets for g in grams]
        to_bucket = sparse.csr_matrix(
            (np.ones(len(grams), np.float32), (np.arange(len(grams)), columns)),
            shape=(len(grams), buckets),
        )
        train_counts = (counts_by_gram @ to_bucket).tocsr()
        g = _text.Graph()
        counts = ngrams.ngram_counts(g, "word", grams, indexes=columns)
        if max(columns) < buckets - 1:  # TfIdfVectorizer's width is the largest index + 1
            counts = g.node(
                "Pad",
                [counts, g.const("pads", np.array([0, 0, 0, buckets - 1 - max(columns)]))],
                "counts_padded",
            )
        idf = ngrams.idf(train_counts)
        features = ngrams.weighted(g, counts, idf, params["sublinear_tf"])
        X = ngrams.normalised(train_counts, idf, params["sublinear_tf"])
        coef, intercept = _text.fit_linear(params, X, prepared.y_train[:n_rows], seed)
        logits = _text.logits_head(g, features, coef, intercept)
        onnx_model = g.model(logits, TensorProto.FLOAT, ["N", prepared.n_outputs])

        def weighted(texts: np.ndarray):
            bucketed = (ngrams.count_grams(texts, "word", grams) @ to_bucket).tocsr()
            return ngrams.normalised(bucketed, idf, params["sublinear_tf"])

        return FittedModel(
            onnx_model=onnx_model.SerializeToString(),
            n_params=int(coef.size + intercept.size + buckets),
            seconds=time.perf_counter() - start,
            native=_text.linear_native(weighted, coef, intercept),
        )

"""Bags of n-grams as ONNX nodes: tokenization, counts and TF-IDF weighting of raw strings.

What the bag-of-n-gram text families (``families.tfidf``, ``families.hashed``) and a table's
free-text columns (``table_input``) share. A graph reads a string tensor ``[N, 1]``:
``StringNormalizer`` (lower case), the ``com.microsoft`` ``Tokenizer`` built into ONNX
Runtime (a regular expression for words, or one token per character), then
``TfIdfVectorizer`` counts of a vocabulary, weighted and L2-normalised as scikit-learn's
``TfidfVectorizer`` does. The vocabulary and the training features are counted by
scikit-learn's ``CountVectorizer`` with the same token pattern; a test checks that the graph
counts the same. No PyTorch here: a data set's loader uses it too.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

#: Words: runs of ASCII letters and digits, with inner apostrophes ("don't"), after lower-casing.
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
#: What the Tokenizer pads a batch's shorter rows with; never a token of the pattern.
PAD_TOKEN = "#"
#: The "C" locale: the default en_US.UTF-8 is not installed everywhere, and the token
#: pattern keeps ASCII only, which "C" lower-cases.
LOCALE = "C"
#: The operator sets these graphs use (the Tokenizer is ONNX Runtime's own, com.microsoft).
OPSETS = {"": 17, "com.microsoft": 1, "ai.onnx.ml": 3}


class Graph:
    """A small ONNX graph builder: nodes and constants under a prefix, reading the string
    tensor ``source`` ``[N, 1]``."""

    def __init__(self, prefix: str = "text.", source: str = "input") -> None:
        self.prefix, self.source, self.nodes, self.constants = prefix, source, [], []

    def const(self, name: str, array: np.ndarray) -> str:
        self.constants.append(numpy_helper.from_array(np.asarray(array), self.prefix + name))
        return self.prefix + name

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs) -> str:
        out = self.prefix + name
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out


def tokens(g: Graph, analyzer: str) -> str:
    """Lower-cased tokens ``[N, T]`` (padded with ``PAD_TOKEN``): words, or characters."""
    flat = g.node("Reshape", [g.source, g.const("flat", np.array([-1], np.int64))], "flat_text")
    lower = g.node("StringNormalizer", [flat], "lower", case_change_action="LOWER", locale=LOCALE)
    split = {"tokenexp": TOKEN_PATTERN} if analyzer == "word" else {"separators": [""]}
    return g.node(
        "Tokenizer",
        [lower],
        "tokens",
        domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value=PAD_TOKEN,
        **split,
    )


def vocabulary(
    texts: np.ndarray, analyzer: str, ngram_range: tuple[int, int], max_features: int | None
) -> list[tuple[str, ...]]:
    """The ``max_features`` most frequent n-grams of the training texts (in at least 2 of them)."""
    return top_grams(texts, analyzer, ngram_range, max_features)[0]


#: Char n-gram models count at most this many training texts (Python-side counting is slow).
MAX_CHAR_DOCS = 4_000
_COUNTS: dict[tuple, tuple] = {}


def _all_counts(texts: np.ndarray, analyzer: str, ngram_range: tuple[int, int]):
    """Every n-gram's counts in the training texts, cached: trials differ mostly in how many
    of them they keep. Counted by scikit-learn with the graph's token pattern (lower-cased);
    a test checks that the graph counts the same."""
    from sklearn.feature_extraction.text import CountVectorizer

    limit = MAX_CHAR_DOCS if analyzer == "char" else None
    first = str(texts[0, 0]) if len(texts) else ""
    key = (id(texts), len(texts), first, analyzer, tuple(ngram_range))
    if key not in _COUNTS:
        if len(_COUNTS) >= 3:
            _COUNTS.pop(next(iter(_COUNTS)))
        rows = texts.ravel()[:limit]
        kwargs = {"token_pattern": TOKEN_PATTERN} if analyzer == "word" else {}
        counter = CountVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(ngram_range),
            min_df=2 if len(rows) >= 20 else 1,
            lowercase=True,
            dtype=np.float32,
            **kwargs,
        )
        try:
            matrix = counter.fit_transform(rows).tocsc()
            names = counter.get_feature_names_out()
        except ValueError:  # no token at all (every text empty or punctuation)
            matrix, names = None, np.array([], dtype=object)
        totals = np.zeros(0) if matrix is None else np.asarray(matrix.sum(axis=0)).ravel()
        _COUNTS[key] = (matrix, names, totals, len(rows))
    return _COUNTS[key]


def top_grams(
    texts: np.ndarray, analyzer: str, ngram_range: tuple[int, int], max_features: int | None
):
    """The most frequent n-grams (sorted by length, as ``TfIdfVectorizer`` wants them), their
    counts in the training texts ``[rows, grams]`` (CSR) and how many rows were counted."""
    matrix, names, totals, n_rows = _all_counts(texts, analyzer, ngram_range)
    if matrix is None:
        return [], None, n_rows
    order = np.argsort(-totals, kind="stable")[:max_features]
    grams = [tuple(g.split(" ")) if analyzer == "word" else tuple(g) for g in names[order]]
    by_length = sorted(range(len(grams)), key=lambda i: (len(grams[i]), grams[i]))
    return [grams[i] for i in by_length], matrix[:, order[by_length]].tocsr(), n_rows


def count_grams(texts: np.ndarray, analyzer: str, grams: list[tuple[str, ...]]):
    """Counts ``[N, len(grams)]`` (CSR, in the order of ``grams``) of the n-grams in ``texts``,
    by scikit-learn's ``CountVectorizer`` with the graph's token pattern: what the graph's
    ``TfIdfVectorizer`` must count, computed outside it (a fitted family's native outputs)."""
    from sklearn.feature_extraction.text import CountVectorizer

    joiner = " " if analyzer == "word" else ""
    lengths = [len(g) for g in grams] or [1]
    kwargs = {"token_pattern": TOKEN_PATTERN} if analyzer == "word" else {}
    counter = CountVectorizer(
        analyzer=analyzer,
        ngram_range=(min(lengths), max(lengths)),
        vocabulary={joiner.join(g): i for i, g in enumerate(grams)},
        lowercase=True,
        dtype=np.float32,
        **kwargs,
    )
    return counter.transform(np.asarray(texts).ravel().astype(str)).tocsr()


def ngram_counts(
    g: Graph,
    analyzer: str,
    grams: list[tuple[str, ...]],
    indexes: list[int] | None = None,
) -> str:
    """``TfIdfVectorizer`` term counts ``[N, width]`` of ``grams`` (sorted by length).

    ``indexes`` maps each n-gram to its output column (several may share one: hashing);
    by default each n-gram has its own.
    """
    tok = tokens(g, analyzer)
    lengths = [len(x) for x in grams] or [1]
    low, high = min(lengths), max(lengths)
    starts, offset = [], 0
    for n in range(1, high + 1):
        starts.append(offset)
        offset += n * sum(1 for x in grams if len(x) == n)
    pool = [t for x in grams for t in x] or [PAD_TOKEN]  # an empty pool is not a valid graph
    return g.node(
        "TfIdfVectorizer",
        [tok],
        "counts",
        mode="TF",
        min_gram_length=low,
        max_gram_length=high,
        max_skip_count=0,
        ngram_counts=starts,
        ngram_indexes=indexes if indexes is not None else list(range(max(1, len(grams)))),
        pool_strings=pool,
    )


def idf(counts) -> np.ndarray:
    """scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)


def normalised(counts, idf: np.ndarray, sublinear: bool):
    X = counts.astype(np.float32).tocsr(copy=True)
    if sublinear:
        X.data = np.log(X.data) + 1
    X = X.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    return X.multiply(1 / np.maximum(norms, 1e-12)[:, None]).tocsr()


def weighted(g: Graph, counts: str, idf: np.ndarray, sublinear: bool) -> str:
    """The graph of ``normalised``: (1 + ln tf where tf > 0), times idf, L2-normalised."""
    x = counts
    if sublinear:
        one = g.const("one_f", np.array(1.0, np.float32))
        log = g.node("Log", [g.node("Max", [x, one], "at_least_one")], "log_tf")
        x = g.node("Add", [log, g.node("Min", [x, one], "present")], "sublinear")
    x = g.node("Mul", [x, g.const("idf", idf)], "tfidf")
    norm = g.node("ReduceL2", [x], "norm", axes=[-1], keepdims=1)
    safe = g.node("Max", [norm, g.const("tiny", np.array(1e-12, np.float32))], "safe_norm")
    return g.node("Div", [x, safe], "features")

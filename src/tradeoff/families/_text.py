"""What the text families share: tokenization as ONNX nodes, vocabularies, and a token-model fit.

Every text family ships one ONNX graph that takes raw strings ``[N, 1]`` under
``INPUT_NAME``: ``StringNormalizer`` (lower case), the ``com.microsoft`` ``Tokenizer``
built into ONNX Runtime (a regular expression for words, or one token per character),
then either ``TfIdfVectorizer`` n-gram counts (bag-of-n-gram families) or a
``LabelEncoder`` vocabulary to token ids (sequence families). The features a family
trains on are computed by running that same front graph in ONNX Runtime, so the
shipped model sees exactly the tokens it was trained on.

The vocabulary itself is chosen with scikit-learn's ``CountVectorizer`` on the training
split, with the same token pattern; any tokens it disagrees on are just unknown.
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from tradeoff.families._base import (
    INPUT_NAME,
    OUTPUT_NAME,
    Candidate,
    FittedFamily,
    FittedModel,
    TrialServices,
)

#: Words: runs of ASCII letters and digits, with inner apostrophes ("don't"), after lower-casing.
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
#: What the Tokenizer pads a batch's shorter rows with; never a token of the pattern.
PAD_TOKEN = "#"
#: The "C" locale: the default en_US.UTF-8 is not installed everywhere, and the token
#: pattern keeps ASCII only, which "C" lower-cases.
LOCALE = "C"
#: Token ids of the sequence families: 0 padding, 1 unknown, 2 start; the vocabulary from 3.
PAD_ID, UNKNOWN_ID, START_ID, FIRST_WORD_ID = 0, 1, 2, 3
OPSETS = {"": 17, "com.microsoft": 1, "ai.onnx.ml": 3}
_FEATURE_CHUNK = 256  # texts per ONNX Runtime call when computing training features


class Graph:
    """A small ONNX graph builder: nodes and constants under a prefix, one string input."""

    def __init__(self, prefix: str = "text.") -> None:
        self.prefix, self.nodes, self.constants = prefix, [], []

    def const(self, name: str, array: np.ndarray) -> str:
        self.constants.append(numpy_helper.from_array(np.asarray(array), self.prefix + name))
        return self.prefix + name

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs) -> str:
        out = self.prefix + name
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def model(self, output: str, elem_type: int, shape: list, output_name: str = OUTPUT_NAME):
        """The graph as a model: ``INPUT_NAME`` strings ``[N, 1]`` in, ``output_name`` out."""
        self.nodes.append(helper.make_node("Identity", [output], [output_name]))
        graph = helper.make_graph(
            self.nodes,
            "text",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.STRING, ["N", 1])],
            [helper.make_tensor_value_info(output_name, elem_type, shape)],
            self.constants,
        )
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(d, v) for d, v in OPSETS.items()],
            ir_version=8,
        )


def tokens(g: Graph, analyzer: str) -> str:
    """Lower-cased tokens ``[N, T]`` (padded with ``PAD_TOKEN``): words, or characters."""
    flat = g.node("Reshape", [INPUT_NAME, g.const("flat", np.array([-1], np.int64))], "flat_text")
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


def run_front(model: onnx.ModelProto, texts: np.ndarray, sparse: bool = True):
    """Run a front graph on many texts in chunks: a CSR matrix (counts) or a list of arrays."""
    from scipy import sparse as sp

    from tradeoff.measure.latency import session

    sess = session(model.SerializeToString(), threads=os.cpu_count() or 1)
    parts = [
        sess.run(None, {INPUT_NAME: texts[i : i + _FEATURE_CHUNK]})[0]
        for i in range(0, len(texts), _FEATURE_CHUNK)
    ]
    return sp.vstack([sp.csr_matrix(p) for p in parts]).tocsr() if sparse else parts


def logits_head(g: Graph, features: str, coef: np.ndarray, intercept: np.ndarray) -> str:
    """``features @ coef.T + intercept`` as logits ``[N, classes]``; a binary model gets [0, z]."""
    if coef.shape[0] == 1:
        coef = np.concatenate([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    weights = g.const("coef", coef.T.astype(np.float32))
    product = g.node("MatMul", [features, weights], "product")
    return g.node("Add", [product, g.const("intercept", intercept.astype(np.float32))], "logits")


# ---- bag-of-n-gram families: weighting and a linear head ----


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


def log_count_ratio(X, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """NB-SVM's r = log((p / |p|1) / (q / |q|1)) with p, q the feature sums of each class."""
    p = np.asarray(X[y == 1].sum(axis=0)).ravel() + alpha
    q = np.asarray(X[y == 0].sum(axis=0)).ravel() + alpha
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def fit_linear(params: dict, X, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if params["head"] == "logistic":
        model = LogisticRegression(C=params["C"], max_iter=1000, random_state=seed)
    else:
        model = LinearSVC(C=params["C"], max_iter=5000, random_state=seed)
    model.fit(X, y)
    return model.coef_.astype(np.float32), np.atleast_1d(model.intercept_).astype(np.float32)


# ---- sequence families: token ids in, a PyTorch encoder over them ----


def token_ids(g: Graph, vocab: list[str], max_len: int) -> str:
    """Token ids ``[N, 1 + min(T, max_len)]``: the start id, then the first ``max_len`` tokens."""
    tok = tokens(g, "word")
    ids = g.node(
        "LabelEncoder",
        [tok],
        "ids",
        domain="ai.onnx.ml",
        keys_strings=[PAD_TOKEN, *vocab],
        values_int64s=[PAD_ID, *range(FIRST_WORD_ID, FIRST_WORD_ID + len(vocab))],
        default_int64=UNKNOWN_ID,
    )
    zero, one = g.const("zero", np.array([0], np.int64)), g.const("one", np.array([1], np.int64))
    cut = g.node(
        "Slice", [ids, zero, g.const("max_len", np.array([max_len], np.int64)), one], "cut"
    )
    rows = g.node("Slice", [g.node("Shape", [ids], "shape"), zero, one], "rows")
    start_shape = g.node("Concat", [rows, one], "start_shape", axis=0)
    start = g.node(
        "ConstantOfShape",
        [start_shape],
        "start",
        value=numpy_helper.from_array(np.array([START_ID], np.int64)),
    )
    return g.node("Concat", [start, cut], "token_ids", axis=1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the time axis of ``x [B, T, H]`` where ``mask [B, T, 1]`` is 1 (never empty)."""
    return (x * mask).sum(dim=1) / mask.sum(dim=1)


@dataclass
class TokenTraining:
    """How a sequence family trains: Adam, minibatches, early stopping on validation accuracy."""

    lr: float = 2e-3
    batch_size: int = 64
    max_epochs: int = 8
    patience: int = 2
    max_seconds: float = 150.0  # one fit's training time, so that a search keeps moving
    weight_decay: float = 0.0
    curve: list = field(default_factory=list)


def fit_token_model(
    encoder: nn.Module,
    vocab: list[str],
    max_len: int,
    prepared,
    seed: int,
    training: TokenTraining,
) -> FittedModel:
    """Train ``encoder`` (token ids ``[B, T]`` -> logits) on ``prepared`` and ship it behind
    the tokenizing front graph, as one ONNX model taking raw strings."""
    g = Graph()
    front = g.model(token_ids(g, vocab, max_len), TensorProto.INT64, ["N", "T"], "token_ids")
    start = time.perf_counter()
    train_ids = _padded(run_front(front, prepared.X_train, sparse=False), max_len + 1)
    val_ids = _padded(run_front(front, prepared.X_val, sparse=False), max_len + 1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X, y = torch.from_numpy(train_ids), torch.from_numpy(prepared.y_train)
    Xv, yv = torch.from_numpy(val_ids), prepared.y_val
    optimizer = torch.optim.Adam(
        encoder.parameters(), lr=training.lr, weight_decay=training.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, since_best = -1.0, None, 0
    for _epoch in range(training.max_epochs):
        encoder.train()
        for batch in np.array_split(rng.permutation(len(y)), max(1, len(y) // training.batch_size)):
            optimizer.zero_grad()
            loss_fn(encoder(X[batch]), y[batch]).backward()
            optimizer.step()
        encoder.eval()
        with torch.no_grad():
            accuracy = float(
                np.mean(
                    np.concatenate(
                        [encoder(Xv[i : i + 512]).argmax(1).numpy() for i in range(0, len(yv), 512)]
                    )
                    == yv
                )
            )
        training.curve.append(accuracy)
        if accuracy > best:
            best, since_best = accuracy, 0
            best_state = {k: v.clone() for k, v in encoder.state_dict().items()}
        else:
            since_best += 1
        if since_best >= training.patience or time.perf_counter() - start > training.max_seconds:
            break
    if best_state is not None:
        encoder.load_state_dict(best_state)
    return FittedModel(
        onnx_model=ship_token_model(encoder, front),
        n_params=sum(p.numel() for p in encoder.parameters()),
        seconds=time.perf_counter() - start,
    )


def ship_token_model(encoder: nn.Module, front: onnx.ModelProto) -> bytes:
    """The encoder exported to ONNX behind ``front``: raw strings in, logits out."""
    import io
    import warnings

    encoder.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            (torch.full((1, 5), START_ID, dtype=torch.int64),),
            buffer,
            dynamo=False,
            input_names=["token_ids"],
            output_names=[OUTPUT_NAME],
            dynamic_axes={"token_ids": {0: "batch", 1: "time"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSETS[""],
        )
    net = onnx.load_from_string(buffer.getvalue())
    net.ir_version = front.ir_version
    # The front's names all carry its "text." prefix, so they cannot clash with the net's.
    merged = onnx.compose.merge_models(front, net, io_map=[("token_ids", "token_ids")])
    return merged.SerializeToString()


def _padded(parts: list[np.ndarray], width: int) -> np.ndarray:
    out = np.full((sum(len(p) for p in parts), width), PAD_ID, np.int64)
    row = 0
    for part in parts:
        out[row : row + len(part), : part.shape[1]] = part
        row += len(part)
    return out


def word_vocabulary(X_train: np.ndarray, size: int) -> list[str]:
    """The ``size`` most frequent words of the training split."""
    return [g[0] for g in vocabulary(X_train, "word", (1, 1), size)]


def untrained_token_model(family, params: dict, prepared, seed: int) -> FittedModel:
    """The family's model before training, as it will ship: what its cost is measured on."""
    vocab = word_vocabulary(prepared.X_train, params["vocab"])
    torch.manual_seed(seed)
    encoder = family.encoder(params, FIRST_WORD_ID + len(vocab), prepared.n_outputs)
    g = Graph()
    front = g.model(
        token_ids(g, vocab, params["max_len"]), TensorProto.INT64, ["N", "T"], "token_ids"
    )
    return FittedModel(
        onnx_model=ship_token_model(encoder, front),
        n_params=sum(p.numel() for p in encoder.parameters()),
        seconds=0.0,
    )


def fit_token_family(family, params: dict, prepared, seed: int) -> FittedModel:
    """Train one of the sequence families (``family.encoder``) with :func:`fit_token_model`."""
    vocab = word_vocabulary(prepared.X_train, params["vocab"])
    torch.manual_seed(seed)
    encoder = family.encoder(params, FIRST_WORD_ID + len(vocab), prepared.n_outputs)
    return fit_token_model(
        encoder, vocab, params["max_len"], prepared, seed, TokenTraining(lr=params["lr"])
    )


class TokenFamily(FittedFamily):
    """The kind of the text sequence families: token ids into a PyTorch encoder, trained by
    :func:`fit_token_model` rather than the search's strategy space. The model is built
    untrained first and screened, so a candidate that breaks a cost limit is never trained."""

    training = "own PyTorch loop (Adam, up to 8 epochs, at most 150 s)"
    #: Minutes of training, not seconds: after the families that fit in seconds (tfidf, hashed).
    defaults_first = False

    @abstractmethod
    def encoder(self, params: dict, vocab_size: int, n_outputs: int) -> nn.Module:
        """The network from token ids ``[N, T]`` (0 padding) to logits ``[N, n_outputs]``."""

    def untrained(self, params: dict, prepared, seed: int) -> FittedModel:
        """The model before training, as it will ship: what its cost is measured on."""
        return untrained_token_model(self, params, prepared, seed)

    def fit(self, params: dict, prepared, seed: int) -> FittedModel:
        return fit_token_family(self, params, prepared, seed)

    def produce(self, params: dict, services: TrialServices) -> Candidate:
        before = self.untrained(params, services.prepared, services.seed)
        services.screen(before.onnx_model, n_params=before.n_params)
        fitted = self.fit(params, services.prepared, services.seed)
        return Candidate(fitted.onnx_model, train_seconds=fitted.seconds)

"""What the text families share: token ids as ONNX nodes, and a token-model fit.

Every text family ships one ONNX graph that takes raw strings ``[N, 1]`` under
``INPUT_NAME``. The bag-of-n-gram families count n-grams with ``tradeoff.inputs.ngrams`` and add a
linear head here; the sequence families map tokens to ids with a ``LabelEncoder``
vocabulary and run a PyTorch encoder over them. The features a family trains on are
computed by running that same front graph in ONNX Runtime (or, for counts, by
scikit-learn with the same token pattern, checked by a test), so the shipped model sees
the tokens it was trained on.
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from tradeoff.families._base import (
    CUT_BY_DEADLINE,
    INPUT_NAME,
    OUTPUT_NAME,
    Candidate,
    FittedFamily,
    FittedModel,
    TrialServices,
    module_outputs,
)
from tradeoff.inputs import ngrams
from tradeoff.inputs.ngrams import OPSETS, PAD_TOKEN, tokens, vocabulary

#: Token ids of the sequence families: 0 padding, 1 unknown, 2 start; the vocabulary from 3.
PAD_ID, UNKNOWN_ID, START_ID, FIRST_WORD_ID = 0, 1, 2, 3
_FEATURE_CHUNK = 256  # texts per ONNX Runtime call when computing training features
#: Texts per forward pass when validating: attention's scores grow with the square of the length.
VALIDATION_BATCH = 512


class Graph(ngrams.Graph):
    """A text family's whole graph: ``INPUT_NAME`` strings ``[N, 1]`` in, one output."""

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


def _per_class(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear head's weights with one row per class: a binary model's z becomes [0, z]."""
    if coef.shape[0] == 1:
        coef = np.concatenate([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return coef, intercept


def logits_head(g: Graph, features: str, coef: np.ndarray, intercept: np.ndarray) -> str:
    """``features @ coef.T + intercept`` as logits ``[N, classes]``; a binary model gets [0, z]."""
    coef, intercept = _per_class(coef, intercept)
    weights = g.const("coef", coef.T.astype(np.float32))
    product = g.node("MatMul", [features, weights], "product")
    return g.node("Add", [product, g.const("intercept", intercept.astype(np.float32))], "logits")


def linear_native(
    features: Callable[[np.ndarray], object], coef: np.ndarray, intercept: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """The logits :func:`logits_head` must give, computed outside the graph
    (``FittedModel.native``): ``features(texts)`` (scikit-learn's counts, weighted in Python)
    times the fitted head, in float64."""
    coef, intercept = _per_class(coef.astype(np.float64), intercept.astype(np.float64))

    def outputs(X: np.ndarray) -> np.ndarray:
        return np.asarray(features(X) @ coef.T) + intercept

    return outputs


# ---- bag-of-n-gram families: weighting and a linear head ----


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
    deadline: float | None = None,
) -> FittedModel:
    """Train ``encoder`` (token ids ``[B, T]`` -> logits) on ``prepared`` and ship it behind
    the tokenizing front graph, as one ONNX model taking raw strings.

    Time stops it as it stops the search's networks (:class:`tradeoff.train.Clock`): no epoch
    after the first once ``training.max_seconds`` have gone, and no epoch or batch that would
    leave no room for its validation before ``deadline`` (``time.monotonic()``; an epoch cut
    there is validated). A fit that time stopped says ``stopped_by`` :data:`CUT_BY_DEADLINE`."""
    from tradeoff.train import Clock

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
    clock, stopped_by = Clock(deadline, training.max_seconds, len(yv)), None
    for epoch in range(1, training.max_epochs + 1):
        if not clock.epoch_may_start(epoch):
            stopped_by = CUT_BY_DEADLINE  # or its max_seconds, as train() says of time_limit_s
            break
        encoder.train()
        began, seen, cut = time.monotonic(), 0, False
        for batch in np.array_split(rng.permutation(len(y)), max(1, len(y) // training.batch_size)):
            if seen and not clock.batch_may_start(seen, began):
                cut, stopped_by = True, CUT_BY_DEADLINE
                break
            optimizer.zero_grad()
            loss_fn(encoder(X[batch]), y[batch]).backward()
            optimizer.step()
            seen += len(batch)
        outputs = clock.validate(encoder, Xv, VALIDATION_BATCH)
        accuracy = float(np.mean(outputs.argmax(1).numpy() == yv))
        training.curve.append(accuracy)
        if accuracy > best:
            best, since_best = accuracy, 0
            best_state = {k: v.clone() for k, v in encoder.state_dict().items()}
        else:
            since_best += 1
        if cut or since_best >= training.patience:
            break
    if best_state is not None:
        encoder.load_state_dict(best_state)
    logits = module_outputs(encoder.eval())

    def native(texts: np.ndarray) -> np.ndarray:
        """The trained encoder's own logits (PyTorch) on the front graph's token ids."""
        return logits(_padded(run_front(front, texts, sparse=False), max_len + 1))

    return FittedModel(
        onnx_model=ship_token_model(encoder, front),
        n_params=sum(p.numel() for p in encoder.parameters()),
        seconds=time.perf_counter() - start,
        stopped_by=stopped_by,
        native=native,
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


def fit_token_family(
    family, params: dict, prepared, seed: int, deadline: float | None = None
) -> FittedModel:
    """Train one of the sequence families (``family.encoder``) with :func:`fit_token_model`."""
    vocab = word_vocabulary(prepared.X_train, params["vocab"])
    torch.manual_seed(seed)
    encoder = family.encoder(params, FIRST_WORD_ID + len(vocab), prepared.n_outputs)
    training = TokenTraining(lr=params["lr"])
    return fit_token_model(encoder, vocab, params["max_len"], prepared, seed, training, deadline)


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

    def fit_until(self, params: dict, prepared, seed: int, deadline: float | None) -> FittedModel:
        return fit_token_family(self, params, prepared, seed, deadline)

    def produce(self, params: dict, services: TrialServices) -> Candidate:
        before = self.untrained(params, services.prepared, services.seed)
        services.screen(before.onnx_model, n_params=before.n_params)
        fitted = self.fit_until(params, services.prepared, services.seed, services.deadline)
        return Candidate(
            fitted.onnx_model, train_seconds=fitted.seconds, stopped_by=fitted.stopped_by
        )

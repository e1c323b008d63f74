"""Table rows as users have them, folded into an exported model's ONNX graph.

A search trains on numeric features: numbers as they are, each category column one-hot
(``datasets.tabular``), each free-text column the scores of a linear model on its TF-IDF
(``text_scores``), missing values imputed and constant features dropped (``prepare``). An
exported bundle takes the raw columns instead: numeric columns in one float32 input,
category columns in one string input, free-text columns in another; a small graph in front
of the trained model imputes, encodes, counts n-grams and scores them (``tradeoff.inputs.ngrams``)
and selects the features it reads, so that any ONNX runtime gets the same answer from the
same row. The search measures cost on that whole graph, timed
on raw training rows (:func:`cost_samples`) since a text's cost grows with its length.

>>> schema = TableSchema.of(prepared)  # doctest: +SKIP
>>> bundle_bytes = fold(onnx_bytes, schema)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tradeoff.errors import TradeoffError
from tradeoff.inputs import ngrams
from tradeoff.inputs.text import DEFAULT_MAX_CHARS, latency_samples
from tradeoff.inputs.text_scores import TextHead

if TYPE_CHECKING:
    import pandas as pd

    from tradeoff.datasets import Column
    from tradeoff.prepare import Prepared

NUMERIC_INPUT, CATEGORICAL_INPUT, TEXT_INPUT = "numeric", "categorical", "text"
_PREFIX = "table_input."  # names of the folded nodes and tensors, apart from the model's


@dataclass(frozen=True)
class TableSchema:
    """The raw columns of a table, and how the trained model's features come from them.

    ``kept`` are the feature indices (one-hot expanded, before constant ones dropped) the
    model reads; ``fill`` the training split's imputation value of every feature.
    """

    columns: tuple[Column, ...]
    kept: tuple[int, ...]
    fill: np.ndarray
    #: Each free-text column's linear model on its TF-IDF (``Prepared.text_heads``).
    text_heads: dict[str, TextHead] = field(default_factory=dict)

    @classmethod
    def of(cls, prepared: Prepared) -> TableSchema | None:
        """The schema of a prepared table, or None where the features are the raw columns."""
        columns = prepared.data.columns
        if prepared.modality != "tabular" or not columns:
            return None
        width = sum(c.width for c in columns)
        kept = prepared.kept_features or tuple(range(width))
        if all(c.kind == "numeric" for c in columns) and len(kept) == width:
            return None
        fill = np.asarray(prepared.imputation.fill, np.float32)
        return cls(tuple(columns), tuple(kept), fill, dict(prepared.text_heads))

    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "numeric"]

    @property
    def categorical(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "categorical"]

    @property
    def text(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "text"]

    def _offsets(self) -> list[int]:
        return list(np.cumsum([0] + [c.width for c in self.columns])[:-1])

    def modes(self) -> dict[str, str]:
        """Each text column's most frequent category in training: what a missing value became."""
        return {
            c.name: c.categories[int(np.argmax(self.fill[start : start + c.width]))]
            for c, start in zip(self.columns, self._offsets(), strict=True)
            if c.kind == "categorical"
        }

    def card(self) -> dict:
        """The input section of a bundle's cost card."""
        inputs = []
        if self.numeric:
            names = [c.name for c in self.numeric]
            inputs.append({"name": NUMERIC_INPUT, "dtype": "float32", "columns": names})
        if self.categorical:
            names = [c.name for c in self.categorical]
            inputs.append({"name": CATEGORICAL_INPUT, "dtype": "string", "columns": names})
        if self.text:
            names = [c.name for c in self.text]
            inputs.append({"name": TEXT_INPUT, "dtype": "string", "columns": names})
        modes = self.modes()
        features = []
        for c in self.columns:
            feature = {"name": c.name, "type": c.kind}
            if c.kind == "categorical":
                feature |= {"categories": list(c.categories), "missing_becomes": modes[c.name]}
            elif c.kind == "text":
                feature |= {
                    "ngrams": len(self.text_heads[c.name].grams),
                    "scores": c.width,
                    "max_chars": DEFAULT_MAX_CHARS,
                }
            features.append(feature)
        text = (
            "each free-text column becomes the scores of a linear model (logistic regression, "
            "or ridge for regression) on TF-IDF of its most frequent word 1-2-grams, fitted on "
            "the training split (vocabulary and idf counted on the training texts only; a "
            "missing text is empty); "
            if self.text
            else ""
        )
        return {
            "inputs": inputs,
            "features": features,
            "preprocessing": "inside model.onnx: missing numbers become the training median; "
            "each category column is one-hot encoded (a missing or unseen value counts as the "
            f"training split's most frequent category); {text}constant features are dropped; "
            "standardisation fitted on the training split",
        }

    def rows(
        self, X: np.ndarray, texts: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Prepared feature rows ``X`` turned back into raw columns, for checking the fold.

        Returns the inputs of the rows whose categories can be read back (one 1 per
        one-hot block), and those rows' indices. TF-IDF cannot be read back: a mixed
        table's raw ``texts`` (``Prepared.texts``, row for row with ``X``) are needed.
        """
        if self.text and (texts is None or len(texts) != len(X)):
            raise ValueError("a mixed table's rows need its raw texts, row for row")
        full = np.tile(self.fill, (len(X), 1))
        full[:, list(self.kept)] = X
        ok = np.ones(len(X), bool)
        numeric, categorical = [], []
        for column, start in zip(self.columns, self._offsets(), strict=True):
            block = full[:, start : start + column.width]
            if column.kind == "numeric":
                numeric.append(block[:, 0])
            elif column.kind == "categorical":
                ok &= ((block == 0) | (block == 1)).all(axis=1) & (block.sum(axis=1) == 1)
                categorical.append(
                    np.asarray(column.categories, dtype=object)[block.argmax(axis=1)]
                )
        feeds = {}
        if numeric:
            feeds[NUMERIC_INPUT] = np.stack(numeric, axis=1).astype(np.float32)[ok]
        if categorical:
            feeds[CATEGORICAL_INPUT] = np.stack(categorical, axis=1)[ok]
        if self.text:
            feeds[TEXT_INPUT] = np.asarray(texts, dtype=object)[ok]
        return feeds, np.flatnonzero(ok)


def fold(onnx_bytes: bytes, schema: TableSchema) -> bytes:
    """The model with the table encoding in front: it takes raw columns, not features."""
    model = onnx.load_from_string(onnx_bytes)
    opsets = {o.domain: o.version for o in model.opset_import}
    nodes, constants, parts = [], [], []

    def constant(name: str, array: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(array, _PREFIX + name))
        return _PREFIX + name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        domain = "ai.onnx.ml" if op == "LabelEncoder" else ""
        nodes.append(helper.make_node(op, inputs, [_PREFIX + output], domain=domain, **attributes))
        return _PREFIX + output

    inputs = []
    if schema.numeric:
        inputs.append(
            helper.make_tensor_value_info(
                NUMERIC_INPUT, TensorProto.FLOAT, ["N", len(schema.numeric)]
            )
        )
        offsets = dict(zip(schema.columns, schema._offsets(), strict=True))
        medians = np.array([[schema.fill[offsets[c]] for c in schema.numeric]], np.float32)
        missing = node("IsNaN", [NUMERIC_INPUT], "missing")
        numbers = node("Where", [missing, constant("medians", medians), NUMERIC_INPUT], "numbers")
    for name, columns in ((CATEGORICAL_INPUT, schema.categorical), (TEXT_INPUT, schema.text)):
        if columns:
            inputs.append(
                helper.make_tensor_value_info(name, TensorProto.STRING, ["N", len(columns)])
            )
    modes = schema.modes()
    n_numeric = n_categorical = n_text = 0
    for column in schema.columns:
        if column.kind == "numeric":
            at = constant(f"at.{column.name}", np.array([n_numeric], np.int64))
            parts.append(node("Gather", [numbers, at], f"col.{column.name}", axis=1))
            n_numeric += 1
            continue
        if column.kind == "text":
            at = constant(f"at.{column.name}", np.array([n_text], np.int64))
            raw = node("Gather", [TEXT_INPUT, at], f"raw.{column.name}", axis=1)
            g = ngrams.Graph(prefix=f"{_PREFIX}tfidf.{column.name}.", source=raw)
            parts.append(text_scores_graph(g, column, schema.text_heads[column.name]))
            nodes.extend(g.nodes)
            constants.extend(g.constants)
            n_text += 1
            continue
        at = constant(f"at.{column.name}", np.array([n_categorical], np.int64))
        text = node("Gather", [CATEGORICAL_INPUT, at], f"text.{column.name}", axis=1)
        codes = node(
            "LabelEncoder",
            [text],
            f"code.{column.name}",
            keys_strings=list(column.categories),
            values_int64s=list(range(column.width)),
            default_int64=column.categories.index(modes[column.name]),
        )
        positions = constant(f"positions.{column.name}", np.arange(column.width, dtype=np.int64))
        hot = node("Equal", [codes, positions], f"hot.{column.name}")
        parts.append(node("Cast", [hot], f"col.{column.name}", to=TensorProto.FLOAT))
        n_categorical += 1
    features = node("Concat", parts, "features", axis=1)
    kept = constant("kept", np.array(schema.kept, np.int64))
    selected = node("Gather", [features, kept], "selected", axis=1)
    head = helper.make_model(
        helper.make_graph(
            nodes,
            "table_input",
            inputs,
            [helper.make_tensor_value_info(selected, TensorProto.FLOAT, ["N", len(schema.kept)])],
            constants,
        ),
        opset_imports=[
            helper.make_opsetid("", opsets.get("", 17)),
            # LabelEncoder-2 (string keys): opsets 2 and 3 of ai.onnx.ml; gbdt models use 3.
            helper.make_opsetid("ai.onnx.ml", opsets.get("ai.onnx.ml", 3)),
        ]
        + (
            [helper.make_opsetid("com.microsoft", ngrams.OPSETS["com.microsoft"])]
            if schema.text
            else []
        ),
        ir_version=model.ir_version,
    )
    merged = onnx.compose.merge_models(head, model, io_map=[(selected, model.graph.input[0].name)])
    return merged.SerializeToString()


def text_scores_graph(g: ngrams.Graph, column: Column, head: TextHead) -> str:
    """The scores ``[N, column.width]`` of a text column's linear model, from its raw string:
    TF-IDF over its vocabulary (``ngrams``), then ``@ coef.T + intercept``."""
    counts = ngrams.ngram_counts(g, "word", list(head.grams))
    features = ngrams.weighted(g, counts, head.idf, True)
    product = g.node("MatMul", [features, g.const("coef", head.coef.T.copy())], "product")
    return g.node("Add", [product, g.const("intercept", head.intercept)], "scores")


def as_shipped(onnx_bytes: bytes, prepared: Prepared) -> tuple[bytes, tuple[int, ...]]:
    """The graph a bundle of this model will hold, and the shape of its first input.

    What the search measures cost on, so that a table's encoding is paid for in the
    latency and size that select the model, not discovered at export.
    """
    schema = TableSchema.of(prepared)
    if schema is None:
        return onnx_bytes, prepared.input_shape
    first = len(schema.numeric) or len(schema.categorical) or len(schema.text)
    return fold(onnx_bytes, schema), (first,)


def cost_samples(prepared: Prepared) -> np.ndarray | dict[str, np.ndarray] | None:
    """Real inputs to time a shipped model on, where its cost depends on them: training texts
    (a text data set), or raw training rows of a mixed table, every input by name; None
    where any input of the right shape costs the same."""
    if prepared.modality == "text":
        return latency_samples(prepared.X_train)
    schema = TableSchema.of(prepared)
    if schema is None or not schema.text or prepared.texts is None:
        return None
    picked = latency_samples(np.arange(len(prepared.X_train)).reshape(-1, 1)).ravel()
    feeds, _ = schema.rows(prepared.X_train[picked], prepared.texts.train[picked])
    return feeds


def feeds_from_frame(
    frame: pd.DataFrame, features: list[dict]
) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """A bundle's inputs from a table of raw rows, and the rows that fail its schema.

    ``features`` is the card's list. Failing rows get placeholders (never predicted):
    a missing or non-numeric number, a missing or unknown category.
    """
    import pandas as pd

    missing = [f["name"] for f in features if f["name"] not in frame.columns]
    if missing:
        raise TradeoffError(
            f"missing column(s) {', '.join(map(repr, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    problems: dict[int, str] = {}
    numeric, categorical, texts = [], [], []
    for feature in features:
        name, raw = feature["name"], frame[feature["name"]]
        absent = raw.isna().to_numpy()
        if feature["type"] == "text":
            texts.append(_free_text(raw, feature, problems))
            continue
        if feature["type"] == "numeric":
            values = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
            for row in np.flatnonzero(absent | ~np.isfinite(values)):
                why = "missing" if absent[row] else f"not a finite number ({raw.iloc[row]!r})"
                problems.setdefault(int(row), f"column {name!r}: {why}")
            for row in np.flatnonzero(np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max):
                problems.setdefault(int(row), f"column {name!r}: outside the float32 range")
            numeric.append(np.where(np.isfinite(values), values, 0.0))
            continue
        known = feature["categories"]
        text = np.array([_category_text(v) for v in raw], dtype=object)
        for row in np.flatnonzero(absent):
            problems.setdefault(int(row), f"column {name!r}: missing")
        for row in np.flatnonzero(~absent & ~np.isin(text, known)):
            problems.setdefault(
                int(row),
                f"column {name!r}: unknown category {text[row]!r} (known: "
                + ", ".join(known[:10])
                + (", ..." if len(known) > 10 else "")
                + ")",
            )
        categorical.append(text)
    feeds = {}
    with np.errstate(over="ignore"):
        if numeric:
            feeds[NUMERIC_INPUT] = np.stack(numeric, axis=1).astype(np.float32)
    if categorical:
        feeds[CATEGORICAL_INPUT] = np.stack(categorical, axis=1)
    if texts:
        feeds[TEXT_INPUT] = np.stack(texts, axis=1)
    return feeds, dict(sorted(problems.items()))


def _free_text(raw: pd.Series, feature: dict, problems: dict[int, str]) -> np.ndarray:
    """A free-text column's cells as strings (a missing one empty, as in training); a cell
    over the bundle's length cap is a problem row, with an empty placeholder."""
    absent = raw.isna().to_numpy()
    text = np.array(["" if a else str(v) for v, a in zip(raw, absent, strict=True)], object)
    cap = feature.get("max_chars", DEFAULT_MAX_CHARS)
    for row in np.flatnonzero([len(t) > cap for t in text]):
        problems.setdefault(
            int(row), f"column {feature['name']!r}: {len(text[row])} characters, over {cap}"
        )
        text[row] = ""
    return text


def _category_text(value) -> str:
    """A cell as the category text it was trained on (CSV columns read as text stay text)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

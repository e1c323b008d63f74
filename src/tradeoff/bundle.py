"""A bundle read back: its card checked, its model loaded once, raw inputs in, predictions out.

A bundle (written by :func:`tradeoff.export`) is ONNX + JSON only: nothing in it is
ever unpickled, and its files must be plain files inside its folder.

>>> import tradeoff
>>> predictor = tradeoff.load("model/")  # doctest: +SKIP
>>> predictor.predict(X[:3]), predictor.predict_proba(X[:3]).shape  # doctest: +SKIP
(array(['7', '2', '1'], dtype='<U1'), (3, 10))
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tradeoff.errors import TradeoffError
from tradeoff.inputs.table import feeds_from_frame
from tradeoff.inputs.text import text_rows
from tradeoff.measure.latency import run_onnx, session

BUNDLE_FORMAT = "tradeoff-bundle/1"
MODEL_FILE, CARD_FILE = "model.onnx", "card.json"
#: Table files a bundle reads rows from, and their format.
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
__all__ = [
    "Predictor",
    "check_agreement",
    "load",
    "read_card",
    "row_problems",
    "run_onnx",
    "softmax",
]
#: A compressed pick's check rows: model inputs and its fp32 parent's classes (NumPy arrays,
#: loaded with ``allow_pickle=False``), for `tradeoff bench` to re-check agreement elsewhere.
CHECK_FILE = "check.npz"
#: Prefix of the input arrays in CHECK_FILE; the rest of the key is the model input's name.
CHECK_INPUT = "input:"
#: Largest card.json read back; a card is a few KB, anything far bigger is not one of ours.
MAX_CARD_BYTES = 4 * 2**20
FLOAT32_MAX = float(np.finfo(np.float32).max)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class Predictor:
    """A bundle loaded for inference: one ONNX Runtime session, created once.

    >>> predictor = Predictor("model/")  # doctest: +SKIP
    >>> predictor.predict(X)  # labels, from the card's classes  # doctest: +SKIP
    """

    def __init__(self, directory: str | os.PathLike, threads: int = 1) -> None:
        self.directory = Path(directory)
        self.card = read_card(self.directory)
        onnx_bytes = _read_model(self.directory, self.card)
        try:
            self.session = session(onnx_bytes, threads=threads)
        except Exception as error:  # ORT raises its own types for a bad model
            raise TradeoffError(
                f"{self.directory / MODEL_FILE}: ONNX Runtime cannot load it: {error}".splitlines()[
                    0
                ]
            ) from None
        self.input_shape = tuple(self.card["input"]["shape"][1:])
        self.task = self.card["task"]
        self.classes = np.asarray(self.card["classes"], dtype=str)
        self.features = self.card["input"].get("features")
        #: A table bundle takes raw columns (numeric and text inputs), not one float tensor.
        self.table = bool(self.card["input"].get("inputs"))
        #: A text bundle takes raw strings, each at most ``max_chars`` long.
        self.text = self.card["input"].get("modality") == "text"
        self.max_chars = int(self.card["input"].get("max_chars") or 0)
        self._input_name = self.session.get_inputs()[0].name
        if self.table:
            got = [i.name for i in self.session.get_inputs()]
            expected = [i["name"] for i in self.card["input"]["inputs"]]
        else:
            got, expected = self.session.get_inputs()[0].shape[1:], list(self.input_shape)
        if list(got) != expected:
            raise TradeoffError(
                f"{self.directory / CARD_FILE}: input {expected} does not match model.onnx ({got})"
            )

    def _outputs(self, X) -> np.ndarray:
        return self.session.run(None, self.feeds(X))[0]

    def feeds(self, X) -> dict[str, np.ndarray]:
        """The model's inputs for the batch ``X``; a TradeoffError naming what is wrong.

        A table bundle takes a pandas DataFrame, a dict of columns, a list of row dicts,
        or rows of values in the card's column order; a text bundle a list of strings;
        other bundles a numeric array.
        """
        if self.text:
            return {self._input_name: text_rows(X, self.max_chars)}
        if not self.table:
            return {self._input_name: self.check_input(X)}
        feeds, problems = self.table_feeds(_as_frame(X, [f["name"] for f in self.features]))
        if problems:
            row, why = next(iter(problems.items()))
            raise TradeoffError(f"input: {len(problems)} bad row(s), first: row {row}: {why}")
        return feeds

    def table_feeds(self, frame) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        """Inputs of a table bundle for every row of ``frame``, and the rows failing the schema."""
        try:
            return feeds_from_frame(frame, self.features)
        except TradeoffError as error:
            raise TradeoffError(f"input: {error}") from None

    def check_input(self, X) -> np.ndarray:
        """``X`` as a float32 batch ``[N, *input_shape]``; a TradeoffError naming what is wrong."""
        try:
            array = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise TradeoffError("input: expected numbers") from None
        if array.shape[1:] != self.input_shape:
            raise TradeoffError(
                f"input: expected shape [N, {', '.join(map(str, self.input_shape))}], "
                f"got {list(array.shape)}"
            )
        bad = row_problems(array)
        if bad:
            first = next(iter(bad.items()))
            raise TradeoffError(f"input: {len(bad)} bad row(s), first: row {first[0]}: {first[1]}")
        return array.astype(np.float32)

    def read_file(self, path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        """The rows of a ``.csv``, ``.parquet`` or ``.npy`` file (for a text model also a ``.txt``
        file, one text a line), or of a folder of images (one
        row per image, sorted by path), as the model's inputs; with the rows failing the input
        schema and why (they are placeholders in the inputs: never predict them).

        >>> feeds, problems = predictor.read_file("new.csv")  # doctest: +SKIP
        """
        return read_rows(Path(path), self)

    def predict(self, X) -> np.ndarray:
        """Class labels (classification) or values (regression) for the batch ``X``."""
        out = self._outputs(X)
        if self.task == "regression":
            return out[:, 0]
        return self.classes[out.argmax(axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[N, n_classes]``, in the order of ``classes``."""
        if self.task == "regression":
            raise TradeoffError("predict_proba: this bundle is a regression model")
        return softmax(self._outputs(X))


def _as_frame(X, names: list[str]):
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, dict) or (isinstance(X, list) and X and isinstance(X[0], dict)):
        return pd.DataFrame(X)
    rows = np.asarray(X, dtype=object)
    if rows.ndim != 2 or rows.shape[1] != len(names):
        raise TradeoffError(
            f"input: expected rows of {len(names)} values ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}), got shape {list(rows.shape)}"
        )
    return pd.DataFrame(rows, columns=names)


def row_problems(array: np.ndarray) -> dict[int, str]:
    """Rows of a numeric batch that the model cannot take, with the reason."""
    flat = array.reshape(len(array), -1)
    problems: dict[int, str] = {}
    for row in np.flatnonzero(~np.isfinite(flat).all(axis=1)):
        problems[int(row)] = "non-finite value (NaN or infinity)"
    for row in np.flatnonzero((np.abs(np.nan_to_num(flat)) > FLOAT32_MAX).any(axis=1)):
        problems.setdefault(int(row), "value outside the float32 range")
    return problems


def read_card(directory: Path) -> dict:
    """``card.json`` of a bundle, checked for the fields a predictor relies on."""
    if not directory.is_dir():
        raise TradeoffError(f"{directory}: no such bundle folder")
    path = directory / CARD_FILE
    _plain_file_inside(directory, path)
    if path.stat().st_size > MAX_CARD_BYTES:
        raise TradeoffError(f"{path}: too large to be a cost card")
    try:
        card = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TradeoffError(f"{path}: not valid JSON ({error}); truncated or tampered?") from None
    if not isinstance(card, dict) or card.get("format") != BUNDLE_FORMAT:
        raise TradeoffError(f"{path}: not a {BUNDLE_FORMAT} card")
    try:
        ok = (
            card["model"]["file"] == MODEL_FILE
            and isinstance(card["model"]["sha256"], str)
            and isinstance(card["model"]["bytes"], int)
            and card["task"] in ("binary", "multiclass", "regression")
            and isinstance(card["classes"], list)
            and all(isinstance(d, int) and d > 0 for d in card["input"]["shape"][1:])
        )
    except (KeyError, TypeError, IndexError):
        ok = False
    if not ok:
        raise TradeoffError(f"{path}: missing or malformed fields (model, task, classes, input)")
    return card


def _read_model(directory: Path, card: dict) -> bytes:
    path = directory / MODEL_FILE
    _plain_file_inside(directory, path)
    data = path.read_bytes()
    if (
        len(data) != card["model"]["bytes"]
        or hashlib.sha256(data).hexdigest() != card["model"]["sha256"]
    ):
        raise TradeoffError(
            f"{path}: does not match the checksum in {CARD_FILE} (truncated or tampered bundle)"
        )
    return data


def _plain_file_inside(directory: Path, path: Path) -> None:
    # A link could point anywhere; a bundle holds plain files only.
    if path.is_symlink() or not path.is_file():
        raise TradeoffError(f"{path}: missing, or not a plain file inside the bundle")
    if path.resolve().parent != directory.resolve():
        raise TradeoffError(f"{path}: resolves outside the bundle folder")


def load(directory: str | os.PathLike, threads: int = 1) -> Predictor:
    """Load a bundle written by :func:`export`.

    >>> import tradeoff
    >>> predictor = tradeoff.load("model/")  # doctest: +SKIP
    >>> predictor.predict_proba(X[:2])  # doctest: +SKIP
    """
    return Predictor(directory, threads=threads)


# Reading rows from files: `tradeoff predict INPUT` and Predictor.read_file.


def read_rows(path: Path, predictor: Predictor) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """The rows of ``path`` as the model's inputs, plus the rows failing the schema and why."""
    name = predictor.session.get_inputs()[0].name
    if path.is_dir():
        return _as_feeds(name, *_read_images(path, predictor))
    if not path.is_file():
        raise TradeoffError(f"INPUT: {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _as_feeds(name, *_read_npy(path, predictor))
    if suffix in TABLE_SUFFIXES and predictor.text:
        return _read_texts(path, TABLE_SUFFIXES[suffix], predictor)
    if suffix == ".txt" and predictor.text:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return _checked_texts(name, np.asarray(lines, dtype=object), predictor)
    if suffix in TABLE_SUFFIXES:
        if predictor.table:
            return _read_raw_table(path, TABLE_SUFFIXES[suffix], predictor)
        return _as_feeds(name, *_read_table(path, TABLE_SUFFIXES[suffix], predictor))
    raise TradeoffError(
        f"INPUT: {path}: unsupported file type {suffix!r}; use .csv, .parquet, .npy or a "
        "folder of images"
    )


def _read_texts(path: Path, kind: str, predictor: Predictor):
    """The text column of a table (named as in the card, or its only column)."""
    frame = _read_frame(path, kind, [predictor.features[0]["name"]])
    column = predictor.features[0]["name"]
    if column not in frame.columns:
        if frame.shape[1] != 1:
            raise TradeoffError(f"INPUT: {path}: no column {column!r} (the model's text column)")
        column = frame.columns[0]
    values = frame[column].to_numpy(dtype=object)
    return _checked_texts(predictor.session.get_inputs()[0].name, values, predictor)


def _checked_texts(name: str, values: np.ndarray, predictor: Predictor):
    """Texts as the model's input; rows that are missing or too long are reported, not run."""
    import pandas as pd

    problems: dict[int, str] = {}
    rows = np.empty((len(values), 1), dtype=object)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            problems[i] = "missing text" if pd.isna(value) else f"not a text ({value!r:.40})"
            value = ""
        elif len(value) > predictor.max_chars:
            problems[i] = f"{len(value)} characters, over the limit of {predictor.max_chars}"
            value = ""
        rows[i, 0] = value
    return {name: rows}, problems


def _read_images(path: Path, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    """Every image under ``path`` (sorted by path; class sub-folders allowed), one row each."""
    from tradeoff.datasets.images import IMAGE_SUFFIXES, read_image

    shape = predictor.input_shape
    if len(shape) != 3:
        raise TradeoffError(f"INPUT: {path} is a folder of images; this model takes {list(shape)}")
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TradeoffError(f"INPUT: {path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    channels, height, width = shape
    rows = np.zeros((len(files), *shape), np.float32)
    problems: dict[int, str] = {}
    for i, file in enumerate(files):
        try:
            pixels = read_image(file, height, width)
        except TradeoffError as error:
            problems[i] = str(error)
            continue
        if pixels.shape[0] != channels:
            problems[i] = f"{file.name}: {pixels.shape[0]} channels, the model takes {channels}"
            continue
        rows[i] = pixels
    return rows, problems


def _read_npy(path: Path, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    try:
        array = np.load(path, allow_pickle=False)  # never unpickle a user's file
    except ValueError as error:
        raise TradeoffError(f"INPUT: {path}: not a plain numeric .npy file ({error})") from None
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise TradeoffError(f"INPUT: {path}: dtype {array.dtype} is not numeric")
    shape = predictor.input_shape
    if array.ndim == 2 and array.shape[1] == int(np.prod(shape)):
        array = array.reshape(len(array), *shape)
    if array.shape[1:] != shape:
        raise TradeoffError(
            f"INPUT: {path}: rows shaped {list(array.shape[1:])}, the model takes {list(shape)}"
        )
    array = array.astype(np.float64)
    problems = row_problems(array)
    return _to_float32(array, problems), problems


def _as_feeds(name: str, X: np.ndarray, problems: dict[int, str]):
    return {name: X}, problems


def _read_frame(path: Path, kind: str, text_columns: list[str] = ()):
    import pandas as pd

    try:
        if kind == "csv":
            # Text columns stay text: "01" is a category, not the number 1.
            return pd.read_csv(path, dtype={name: str for name in text_columns})
        return pd.read_parquet(path)
    except Exception as error:  # pandas/pyarrow raise many types for a bad file
        raise TradeoffError(
            f"INPUT: {path}: cannot read it as {kind}: {error}".splitlines()[0]
        ) from None


def _read_raw_table(path: Path, kind: str, predictor: Predictor):
    """A table bundle's inputs (raw numeric and text columns) from a CSV or Parquet file."""
    text = [f["name"] for f in predictor.features if f["type"] == "categorical"]
    frame = _read_frame(path, kind, text)
    try:
        return predictor.table_feeds(frame)
    except TradeoffError as error:
        raise TradeoffError(f"INPUT: {path}: {error}".replace(": input:", ":")) from None


def _read_table(path: Path, kind: str, predictor: Predictor) -> tuple[np.ndarray, dict[int, str]]:
    import pandas as pd

    frame = _read_frame(path, kind)
    features = predictor.card["input"].get("features")
    n_values = int(np.prod(predictor.input_shape))
    if features:
        names = [f["name"] for f in features]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise TradeoffError(
                f"INPUT: {path}: missing column(s) {', '.join(map(repr, missing[:5]))}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        frame = frame[names]
    elif frame.shape[1] != n_values:
        raise TradeoffError(
            f"INPUT: {path}: {frame.shape[1]} columns, the model takes {n_values} values a row "
            f"(shape {list(predictor.input_shape)}, row-major)"
        )
    problems: dict[int, str] = {}
    columns = []
    for name in frame.columns:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        for row in np.flatnonzero(values.isna().to_numpy()):
            problems.setdefault(
                int(row),
                f"column {name!r}: missing"
                if pd.isna(raw.iloc[row])
                else f"column {name!r}: not a number ({raw.iloc[row]!r})",
            )
        columns.append(values.to_numpy())
    array = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))
    for row, why in row_problems(np.nan_to_num(array, nan=0.0)).items():
        problems.setdefault(row, why)
    array = array.reshape(len(frame), *predictor.input_shape)
    return _to_float32(array, problems), dict(sorted(problems.items()))


def _to_float32(array: np.ndarray, problems: dict[int, str]) -> np.ndarray:
    array = array.copy()
    if problems:
        array[list(problems)] = 0.0  # placeholders; these rows are never predicted
    return array.astype(np.float32)


def read_check(directory: Path, card: dict) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """A compressed bundle's check rows (the model's feeds, by input name) and its fp32
    parent's classes on them; ``None`` for a bundle without check rows."""
    if not card.get("check"):
        return None
    path = directory / CHECK_FILE
    _plain_file_inside(directory, path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            feeds = {
                key.removeprefix(CHECK_INPUT): arrays[key]
                for key in arrays.files
                if key.startswith(CHECK_INPUT)
            }
            reference = arrays["reference_classes"]
    except (OSError, ValueError, KeyError) as error:
        raise TradeoffError(f"{path}: unreadable check rows ({error})") from None
    feeds = {k: v.astype(object) if v.dtype.kind == "U" else v for k, v in feeds.items()}
    return feeds, reference


def agreement_with_parent(classes: np.ndarray, reference: np.ndarray, card: dict) -> dict:
    """The agreement of ``classes`` (the model's, on the check rows, on some machine) with the
    fp32 parent's, beside the one export recorded; it holds unless it falls below that."""
    section = card["check"]
    agreement = float(np.mean(np.asarray(classes) == reference))
    recorded = float(section["agreement"])
    return {
        "rows": int(len(reference)),
        "reference": section["reference"],
        "recorded_agreement": recorded,
        "recorded_on": section["measured_on"],
        "agreement": agreement,
        "holds": agreement >= recorded,
    }


def check_agreement(directory: Path, card: dict) -> dict | None:
    """A compressed bundle's classes on its stored check rows, here, against its fp32 parent's
    (:func:`agreement_with_parent`); ``None`` for a bundle without check rows."""
    check = read_check(directory, card)
    if check is None:
        return None
    feeds, reference = check
    classes = session(_read_model(directory, card)).run(None, feeds)[0].argmax(axis=1)
    return agreement_with_parent(classes, reference, card)

"""Export: the pick as a bundle (``model.onnx`` + ``card.json``), checked, and loaded back.

A bundle is ONNX + JSON only: nothing in it is ever unpickled. Preprocessing
(scaling fitted on train; for tables also imputation, one-hot encoding of text
columns and the dropping of constant features: ``table_input``) is folded into
``model.onnx``, so it takes raw inputs.

>>> import tradeoff
>>> bundle = tradeoff.export("runs/m1d", "model/")  # doctest: +SKIP
>>> predictor = tradeoff.load("model/")  # doctest: +SKIP
>>> predictor.predict(X[:3]), predictor.predict_proba(X[:3]).shape  # doctest: +SKIP
(array(['7', '2', '1'], dtype='<U1'), (3, 10))
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tradeoff.errors import TradeoffError
from tradeoff.families import INPUT_NAME, OUTPUT_NAME, deployable, get_family
from tradeoff.frontier import Run
from tradeoff.measure import predict_outputs, score, session
from tradeoff.prepare import Prepared
from tradeoff.requirements import Requirements
from tradeoff.search import TrialRecord
from tradeoff.table_input import TableSchema, feeds_from_frame, fold

BUNDLE_FORMAT = "tradeoff-bundle/1"
MODEL_FILE, CARD_FILE = "model.onnx", "card.json"
#: fp32 parity at export: every argmax must agree and no output may differ by more than this.
PARITY_MAX_ABS_DIFF = 1e-4
#: Largest card.json read back; a card is a few KB, anything far bigger is not one of ours.
MAX_CARD_BYTES = 4 * 2**20
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Parity:
    """The exported ONNX model against the in-memory PyTorch model, on one split."""

    split: str
    n: int
    argmax_agreement: float | None  # None for regression
    max_abs_diff: float
    int8_argmax_agreement: float | None = None  # a compressed pick: its agreement with fp32
    reference: str = "the trained PyTorch model"
    # Tables: the bundle fed the split's rows as raw columns, against the model fed features.
    raw_rows: int | None = None
    raw_max_abs_diff: float | None = None

    @property
    def passed(self) -> bool:
        if self.raw_max_abs_diff is not None and self.raw_max_abs_diff > PARITY_MAX_ABS_DIFF:
            return False
        if self.int8_argmax_agreement is not None:
            # A compressed variant passed its paired test at search time; agreement is reported.
            return True
        agree = self.argmax_agreement is None or self.argmax_agreement == 1.0
        return agree and self.max_abs_diff <= PARITY_MAX_ABS_DIFF


def export(
    run: Run | str | os.PathLike,
    out: str | os.PathLike,
    *,
    trial: int | str = "best",
    requirements: Requirements | None = None,
) -> Path:
    """Write the bundle of one trial of ``run`` to the new folder ``out``; return its path.

    ``trial="best"`` takes ``run.select(requirements)``. The export fails (and
    writes nothing) unless the ONNX model passes ``onnx.checker`` and matches
    the trained PyTorch model on the test split (argmax 100 %, max |diff| <= 1e-4).

    >>> export("runs/m1d", "model/", trial="best")  # doctest: +SKIP
    PosixPath('model')
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TradeoffError(f"--out: {out} already exists and is not an empty folder")
    run = run if isinstance(run, Run) else Run.open(run)
    record = _pick(run, trial, requirements)
    prepared = run.prepared
    with tempfile.TemporaryDirectory() as tmp:
        onnx_bytes = Path(run.artifact_path(record, tmp)).read_bytes()
        _check_onnx(onnx_bytes, f"trial {record.number}")
        parity = _parity(run, record, prepared, onnx_bytes, tmp)
    schema = TableSchema.of(prepared)
    if schema is not None:
        onnx_bytes, parity = _fold_table(onnx_bytes, schema, prepared, parity, record)
    if not parity.passed:
        raise TradeoffError(
            f"trial {record.number}: the ONNX model does not match the trained model on the "
            f"{parity.split} split (argmax agreement {parity.argmax_agreement}, max |diff| "
            f"{parity.max_abs_diff:.3g}, raw-row max |diff| {parity.raw_max_abs_diff}; "
            f"tolerance {PARITY_MAX_ABS_DIFF}); not exported"
        )
    card = build_card(run, record, prepared, onnx_bytes, parity, schema)

    # Write next to the destination, then rename: ``out`` is complete or absent.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as error:  # a read-only folder, a full disk
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None
    try:
        (staging / MODEL_FILE).write_bytes(onnx_bytes)
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TradeoffError(f"--out: cannot write {out}: {error.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _pick(run: Run, trial: int | str, requirements: Requirements | None) -> TrialRecord:
    if trial == "best":
        record = run.select(requirements)
        if record is None:
            raise TradeoffError(
                "--trial best: no trained trial meets the requirements; choose one with --trial ID"
            )
        return record
    try:
        number = int(trial)
    except (TypeError, ValueError):
        raise TradeoffError(f"--trial: expected a trial number or 'best', got {trial!r}") from None
    found = [r for r in run.trials() if r.number == number]
    if not found:
        raise TradeoffError(f"--trial: {run.out} has no trial {number}")
    if not found[0].trained:
        raise TradeoffError(
            f"--trial: trial {number} was not trained (status {found[0].status}); nothing to export"
        )
    return found[0]


def _parity(
    run: Run, record: TrialRecord, prepared: Prepared, onnx_bytes: bytes, tmp: str
) -> Parity:
    """Check the artifact against the best reference the trial has.

    A network: its trained PyTorch model, rebuilt from the stored weights. A compressed
    variant: its fp32 parent's artifact (agreement reported). A family whose ONNX model is
    the fitted model itself (gbdt, ensembles): the validation metric the study recorded.
    """
    if record.parent_trial is not None:
        parent = next(r for r in run.trials() if r.number == record.parent_trial)
        parent_onnx = Path(run.artifact_path(parent, tmp)).read_bytes()
        expected = predict_outputs(parent_onnx, prepared.X_test)
        got = predict_outputs(onnx_bytes, prepared.X_test)
        return Parity(
            split="test",
            n=len(prepared.X_test),
            argmax_agreement=None,
            max_abs_diff=float(np.max(np.abs(expected - got))) if len(got) else 0.0,
            int8_argmax_agreement=float(np.mean(expected.argmax(1) == got.argmax(1))),
            reference=f"its fp32 parent, trial {parent.number}",
        )
    if record.weights_artifact_id is None and get_family(record.family).trained_by != "torch":
        outputs = predict_outputs(onnx_bytes, prepared.X_val)
        again = score(run.requirements.metric, prepared.y_val, outputs)
        return Parity(
            split="val",
            n=len(prepared.X_val),
            argmax_agreement=None,
            max_abs_diff=abs(again - record.val_metric),
            reference=f"the validation {run.requirements.metric} recorded in the study",
        )
    weights = _weights_bytes(run, record, tmp)
    return check_parity(onnx_bytes, _reference_model(record, prepared, weights), prepared)


def _fold_table(
    onnx_bytes: bytes, schema: TableSchema, prepared: Prepared, parity: Parity, record
) -> tuple[bytes, Parity]:
    """The model taking raw table columns, checked against the model taking features."""
    folded = fold(onnx_bytes, schema)
    _check_onnx(folded, f"trial {record.number} with its table encoding")
    feeds, rows = schema.rows(prepared.X_test)
    expected = predict_outputs(onnx_bytes, prepared.X_test[rows])
    sess = session(folded, threads=os.cpu_count() or 1)
    got = sess.run(None, feeds)[0] if len(rows) else expected
    diff = float(np.max(np.abs(expected - got))) if len(rows) else 0.0
    if prepared.task != "regression" and not np.array_equal(
        expected.argmax(axis=1), got.argmax(axis=1)
    ):
        diff = max(diff, float("inf"))  # a changed class is a failure whatever the values
    return folded, replace(parity, raw_rows=int(len(rows)), raw_max_abs_diff=diff)


def _weights_bytes(run: Run, record: TrialRecord, directory: str) -> bytes:
    if record.weights_artifact_id is None:
        raise TradeoffError(
            f"trial {record.number}: its trained weights were not stored (a run from an older "
            "tradeoff), so parity cannot be checked; search again to export it"
        )
    path = os.path.join(directory, f"trial-{record.number}.pt")
    run.download(record.weights_artifact_id, path, f"the weights of trial {record.number}")
    return Path(path).read_bytes()


def _reference_model(record: TrialRecord, prepared: Prepared, weights: bytes) -> torch.nn.Module:
    """The trained model rebuilt in memory from its family, parameters and weights."""
    model = deployable(
        get_family(record.family),
        record.params,
        prepared.input_shape,
        prepared.n_outputs,
        prepared.scaling,
    )
    # weights_only: tensors and containers only; never arbitrary pickled objects.
    model.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    return model.eval()


def _check_onnx(onnx_bytes: bytes, what: str) -> None:
    try:
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes), full_check=True)
    except Exception as error:  # onnx raises several types; all mean "not a valid model"
        raise TradeoffError(f"{what}: model fails onnx.checker: {error}".splitlines()[0]) from None


def check_parity(
    onnx_bytes: bytes, reference: torch.nn.Module, prepared: Prepared, split: str = "test"
) -> Parity:
    """Compare ONNX Runtime's outputs with ``reference``'s on ``split`` (``test`` or ``val``)."""
    X = prepared.X_test if split == "test" else prepared.X_val
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(X)).numpy()
    got = run_onnx(session(onnx_bytes, threads=os.cpu_count() or 1), X)
    classification = prepared.task != "regression"
    return Parity(
        split=split,
        n=len(X),
        argmax_agreement=float(np.mean(expected.argmax(1) == got.argmax(1)))
        if classification
        else None,
        max_abs_diff=float(np.max(np.abs(expected - got))) if len(X) else 0.0,
    )


def run_onnx(sess: ort.InferenceSession, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Raw model outputs (logits, or values for regression) for ``X``, in chunks."""
    name = sess.get_inputs()[0].name
    parts = [sess.run(None, {name: X[i : i + batch]})[0] for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, sess.get_outputs()[0].shape[1]))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def build_card(
    run: Run,
    record: TrialRecord,
    prepared: Prepared,
    onnx_bytes: bytes,
    parity: Parity,
    schema: TableSchema | None = None,
) -> dict:
    """The cost card: what the model is, what it costs, how good it is, and where it came from."""
    data = prepared.data
    classification = prepared.task != "regression"
    test = run.test_estimate(record) if classification else None
    n_features = int(np.prod(prepared.input_shape))
    input_section = {
        "name": INPUT_NAME,
        "dtype": "float32",
        "shape": [None, *prepared.input_shape],
        "modality": prepared.modality,
        "features": None,
        "preprocessing": "standardisation fitted on the training split, inside model.onnx",
    }
    if schema is not None:
        input_section |= {"name": None, "dtype": None, "shape": [None, len(schema.columns)]}
        input_section |= schema.card()
    elif prepared.modality == "tabular":
        names = prepared.feature_names or tuple(f"x{i}" for i in range(n_features))
        input_section["features"] = [{"name": name, "type": "numeric"} for name in names]
    return {
        "format": BUNDLE_FORMAT,
        "model": {
            "file": MODEL_FILE,
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
            "bytes": len(onnx_bytes),
            "runtime": "onnxruntime",
        },
        "task": prepared.task,
        "classes": list(data.classes) if classification else [],
        "input": input_section,
        "output": {
            "name": OUTPUT_NAME,
            "kind": "logits" if classification else "value",
            "shape": [None, prepared.n_outputs],
            "probabilities": "softmax of the logits" if classification else None,
        },
        "requirements": run.requirements.to_dict(),
        "cost": {
            "p50_ms": record.p50_ms,
            "p95_ms": record.p95_ms,
            "size_mb": record.size_mb,
            "n_params": record.n_params,
            "method": record.latency_method,
            "measured_on": "the same ONNX graph before training, at search time"
            + ("" if schema is None else ", the table encoding in front of it as shipped"),
        },
        "metrics": {
            "metric": run.requirements.metric,
            "validation": {
                "value": record.val_metric,
                "split": "validation",
                "n": len(prepared.y_val),
            },
            "test": None if test is None else asdict(test),
        },
        "parity": {**asdict(parity), "passed": parity.passed, "tolerance": PARITY_MAX_ABS_DIFF},
        "lineage": {
            "run": str(run.out),
            "trial": record.number,
            "family": record.family,
            "params": record.params,
            "strategy": record.strategy,
            "compression": record.compression or None,
            "parent_trial": record.parent_trial,
        },
        "data": prepared.describe(),
        "versions": _versions(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _versions() -> dict:
    import sklearn

    from tradeoff import __version__

    return {
        "tradeoff": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "scikit-learn": sklearn.__version__,
    }


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
        or rows of values in the card's column order; other bundles a numeric array.
        """
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

"""The suite's contenders: tradeoff as a user runs it, the baselines a user writes in a few
lines, and FLAML; each pick then measured as shipped, in a fresh process, on real test rows.

Every contender gets the same train/validation/test split (tradeoff's ``prepare`` with the
run's seed) and, where it searches, the same wall-clock budget and the same limits, each in
its own terms: tradeoff's ``--max-latency-ms``/``--max-size-mb``, FLAML's
``pred_time_limit`` (seconds per row; it has no size knob). The baselines have nothing to
tune on the validation rows, so they train on train+validation. Tables reach FLAML, LightGBM
and HistGradientBoosting with their categories as categories (integer codes, natively
handled), the linear baseline with them one-hot, as each is meant to be used.

What ships is measured in a fresh process (``benchmarks/peer_side.py probe``) by tradeoff's
own protocol (``measure_call``: warm-up, blocks next to the reference model): tradeoff's
bundle in ONNX Runtime fed real test rows (a table's raw columns); each peer's own
``predict`` on a real test row; and the peer's model converted to ONNX where a converter
exists (onnxmltools, skl2onnx), so that quality at equal limits compares ONNX with ONNX.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.peers import CONTENDERS as PEER_ENVIRONMENTS
from benchmarks.peers import _side, peer_python, test_estimate
from tradeoff import evaluate

#: Contenders that search under the limits (one fit per limits) and those that do not.
SEARCHING = ("tradeoff", "flaml")
BASELINES = ("linear", "lightgbm", "hgb", "minirocket", "nbsvm")
CONTENDERS = SEARCHING + BASELINES

#: The modalities each contender takes (one missing takes every modality but text): the
#: references of a shape where it has one, MiniRocket + ridge for series (Dempster et al.
#: 2021) and NB-SVM for texts (Wang & Manning 2012).
MODALITIES = {
    "tradeoff": ("tabular", "sequence", "image", "text"),
    "minirocket": ("sequence",),
    "nbsvm": ("text",),
}


def takes(contender: str, modality: str, task: str) -> bool:
    """Whether ``contender`` runs on a set of ``modality``; NB-SVM is a binary classifier."""
    if contender == "nbsvm" and task != "binary":
        return False
    return modality in MODALITIES.get(contender, ("tabular", "sequence", "image"))


@dataclass(frozen=True)
class Limits:
    """Requirements stated relative to the machine: p95 at batch 1 <= ``latency_factor`` x the
    reference model's p95 measured when the invocation starts, and a size cap (a byte count
    is the same on every machine)."""

    name: str
    latency_factor: float
    max_size_mb: float
    about: str


#: ``us``: microsecond limits, where only small compiled graphs fit (about 0.05 ms on the
#: 2-core machines of RESULTS.md); ``ms``: limits a Python ``predict`` can meet (2-3 ms there).
LIMITS = {
    "us": Limits("us", 3.0, 1.0, "3 x the reference's p95, 1 MB"),
    "ms": Limits("ms", 150.0, 50.0, "150 x the reference's p95, 50 MB"),
}


@dataclass
class Case:
    """One set under one seed, prepared once and shared by every contender."""

    name: str
    data: object  # tradeoff Dataset
    prepared: object  # tradeoff Prepared (tradeoff's own, possibly with folds)
    seed: int
    budget_s: float
    folder: Path
    reference_p95_ms: float
    protocol: object  # LatencyProtocol
    metric: str | None

    def requirements(self, limits: Limits):
        from tradeoff.requirements import Requirements

        return Requirements(
            max_latency_ms=float(f"{limits.latency_factor * self.reference_p95_ms:.3g}"),
            max_size_mb=limits.max_size_mb,
            metric=self.metric,
        ).for_task(self.data.task)


def prepare_case(data, seed: int, cv: str = "auto"):
    """tradeoff's splits as its CLI makes them (``--cv auto``: folds when validation is small)."""
    from tradeoff.searcher.cv import prepare_for_search

    return prepare_for_search(data, seed=seed, cv=cv)


def fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


# --------------------------------------------------------------------------- inputs


def flat(X: np.ndarray) -> np.ndarray:
    """Rows as a peer takes them: one row per example, texts as NumPy strings."""
    return unpickled(X.reshape(len(X), -1))


def unpickled(X: np.ndarray) -> np.ndarray:
    """``X`` as ``np.load(..., allow_pickle=False)`` reads it back: texts as NumPy strings."""
    return X.astype(str) if X.dtype == object else X


def peer_arrays(prepared) -> tuple[dict[str, np.ndarray], dict[int, int]]:
    """Each split as a peer takes it: a table's numeric columns then its categories as integer
    codes (``categorical``: code column -> number of categories); other data flattened."""
    from tradeoff.inputs.table import CATEGORICAL_INPUT, NUMERIC_INPUT, TableSchema

    splits = {
        "train": (prepared.X_train, prepared.y_train),
        "val": (prepared.X_val, prepared.y_val),
        "test": (prepared.X_test, prepared.y_test),
    }
    schema = TableSchema.of(prepared)
    if schema is None or schema.text or not any(c.kind == "categorical" for c in schema.columns):
        arrays = {f"X_{k}": flat(X) for k, (X, _) in splits.items()}
        arrays |= {f"y_{k}": y for k, (_, y) in splits.items()}
        return arrays, {}
    categories = [c.categories for c in schema.columns if c.kind == "categorical"]
    arrays, categorical = {}, {}
    for key, (X, y) in splits.items():
        feeds, kept = schema.rows(_unseen_as_mode(schema, X))
        if len(kept) != len(X):
            raise RuntimeError(
                f"{key}: {len(X) - len(kept)} rows whose categories do not read back"
            )
        numeric = feeds.get(NUMERIC_INPUT, np.zeros((len(X), 0), np.float32))
        codes = np.stack(
            [
                np.asarray([names.index(v) for v in feeds[CATEGORICAL_INPUT][:, j]], np.float32)
                for j, names in enumerate(categories)
            ],
            axis=1,
        )
        arrays[f"X_{key}"] = np.concatenate([numeric, codes], axis=1)
        arrays[f"y_{key}"] = y
    offset = arrays["X_train"].shape[1] - len(categories)
    categorical = {offset + j: len(names) for j, names in enumerate(categories)}
    return arrays, categorical


def _unseen_as_mode(schema, X: np.ndarray) -> np.ndarray:
    """``X`` with each category never seen in training (an all-zero one-hot block) or missing
    (imputed: the training frequencies) made the training split's most frequent one: the rule tradeoff's bundle applies (its card says so),
    so that a peer reads the same row as tradeoff does."""
    full = np.tile(schema.fill, (len(X), 1))
    full[:, list(schema.kept)] = X
    for column, start in zip(schema.columns, schema._offsets(), strict=True):
        if column.kind != "categorical":
            continue
        block = full[:, start : start + column.width]
        one_hot = ((block == 0) | (block == 1)).all(axis=1) & (block.sum(axis=1) == 1)
        unseen = ~one_hot  # unseen (all zero) or missing (the imputed frequencies)
        block[unseen] = 0
        block[unseen, int(np.argmax(schema.fill[start : start + column.width]))] = 1
    return full[:, list(schema.kept)]


def bundle_feeds(prepared, path: Path, rows: int = 64) -> Path | None:
    """Real test rows as a bundle takes them (a table's raw columns, or texts, by input name),
    or None where the bundle takes the feature rows themselves."""
    from tradeoff.families._base import INPUT_NAME
    from tradeoff.inputs.table import TableSchema

    if prepared.modality == "text":
        np.savez(path, **{INPUT_NAME: flat(prepared.X_test[:rows])})
        return path
    schema = TableSchema.of(prepared)
    if schema is None:
        return None
    texts = None if prepared.texts is None else prepared.texts.test[:rows]
    feeds, _ = schema.rows(prepared.X_test[:rows], texts)
    np.savez(path, **{k: v.astype(str) if v.dtype == object else v for k, v in feeds.items()})
    return path


# --------------------------------------------------------------------------- fitting


def fit_tradeoff(case: Case, req) -> dict:
    """tradeoff as shipped: search, select under the limits, export the bundle; the test figure
    is the one its CLI prints (the refit's under --cv)."""
    from tradeoff.exporter import export
    from tradeoff.frontier import Run
    from tradeoff.searcher import SearchSettings, run_search

    folder = fresh(case.folder / "tradeoff")
    start = time.monotonic()
    settings = SearchSettings(time_budget_s=case.budget_s, seed=case.seed)
    run_search(
        case.data, req, folder / "run", settings, show_progress=False, prepared=case.prepared
    )
    wall_s = time.monotonic() - start
    run = Run.open(folder / "run", prepared=case.prepared)
    counts = run.counts()
    pick = run.select(req)
    if pick is None:
        return {"fit_s": wall_s, "error": "nothing met the limits (exit 1)", "counts": counts}
    bundle = export(run, folder / "bundle", requirements=req)
    test = evaluate.test_estimate(run, pick)
    feeds = bundle_feeds(case.prepared, folder / "feeds.npz")
    # The second answer (--prefer cheaper): its test figure, for the comparison of the rules.
    twin = run.cheaper_twin(req)
    twin_test = None if twin is None else evaluate.test_estimate(run, twin)
    return {
        "fit_s": wall_s,
        "pick": f"{pick.family} #{pick.number}",
        "val": pick.val_metric,
        "test": (test.value, test.low, test.high),
        "test_split": test.split,
        "twin": None
        if twin is None
        else {
            "pick": f"{twin.family} #{twin.number}",
            "val": twin.val_metric,
            "search_p95_ms": twin.p95_ms,
            "test": (twin_test.value, twin_test.low, twin_test.high),
        },
        "counts": counts,
        "search_p95_ms": pick.p95_ms,
        "shipped": [("bundle in ORT", sys.executable, "onnx", str(bundle / "model.onnx"))],
        "feeds": None if feeds is None else str(feeds),
    }


def fit_peer(case: Case, name: str, req, splits: Path, categorical: dict[int, int]) -> dict:
    """A peer or a baseline in a process of its own Python; tradeoff's Python for the
    baselines (scikit-learn, LightGBM and the converters are tradeoff's own dependencies)."""
    folder = fresh(case.folder / (name if req is None else f"{name}-{req.max_latency_ms:g}"))
    python = sys.executable if name in BASELINES else peer_python(PEER_ENVIRONMENTS[name])
    request = {
        "kind": name,
        "splits": str(splits),
        "out": str(folder),
        "task": case.data.task,
        "metric": (req or case.requirements(LIMITS["us"])).metric,
        "budget_s": case.budget_s,
        "latency_limit_ms": req.max_latency_ms if req is not None else 1e9,
        "seed": case.seed,
        "categorical": {str(k): v for k, v in categorical.items()},
        "n_features": int(np.load(splits)["X_train"].shape[1]),
        "input_shape": list(case.prepared.input_shape),
    }
    result = _side(python, "fit", request, timeout_s=4 * case.budget_s + 600)
    outputs = np.load(folder / "test_outputs.npy", allow_pickle=False)
    metric = request["metric"]
    result["test"] = test_estimate(metric, case.prepared.y_test, outputs)
    shipped = []
    shipped.append(("own predict", python, name, result["model_path"]))
    if result.get("onnx"):
        shipped.append(("ONNX in ORT", python, "onnx", result["onnx"]))
    result["shipped"] = shipped
    return result


def measure_shipped(case: Case, fit: dict, row: np.ndarray, categorical: dict[int, int]) -> list:
    """Each way the pick ships, measured in a fresh process: p50/p95 at batch 1, size, memory."""
    measured = []
    for how, python, kind, model in fit.get("shipped", []):
        request = {
            "kind": kind,
            "model": model,
            "protocol": asdict(case.protocol),
            "categorical": {str(k): v for k, v in categorical.items()},
            "feeds": fit.get("feeds") if how == "bundle in ORT" else None,
            "input_shape": list(case.prepared.input_shape),
        }
        row_path = case.folder / "row.npy"
        np.save(row_path, unpickled(np.ascontiguousarray(row[:1])))
        request["row"] = str(row_path)
        size_mb = _size_mb(Path(model))
        try:
            probe = _side(python, "probe", request, timeout_s=600)
            latency = probe["latency"]
            measured.append(
                {
                    "how": how,
                    "p50_ms": latency["p50_ms"],
                    "p95_ms": latency["p95_ms"],
                    "p95_high_ms": latency.get("p95_high_ms"),
                    "ratio_to_reference": latency.get("ratio_to_reference"),
                    "runtime": latency.get("method", {}).get("runtime"),
                    "calls": latency.get("method", {}).get("calls"),
                    "size_mb": size_mb,
                    "inference_rss_mb": probe["inference_rss_mb"],
                }
            )
        except Exception as error:  # a predictor that cannot be measured is a row, not a crash
            measured.append({"how": how, "size_mb": size_mb, "error": str(error)[:300]})
    return measured


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6

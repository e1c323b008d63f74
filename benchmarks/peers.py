"""tradeoff beside what a user would pick instead: AutoGluon, FLAML and hand-written baselines.

Per data set, on the same train/validation/test split and with the same wall-clock budget,
one after another on this machine (the order rotates from one data set to the next):

- ``tradeoff``: as shipped (``run_search``, then the pick exported as a bundle);
- ``autogluon``: ``TabularPredictor`` with ``infer_limit`` = the latency limit and
  ``infer_limit_batch_size=1``; ``autogluon_best``: the same, unconstrained, ``best_quality``;
- ``flaml``: ``AutoML`` with ``pred_time_limit`` = the latency limit;
- ``lightgbm``: ``LGBMClassifier``/``LGBMRegressor`` at its defaults, written by hand;
- ``cnn`` (series only): a standard small 1D CNN in PyTorch at common defaults, by hand.

Every peer runs in a virtual environment of its own under ``benchmarks/.peers/NAME``
(made on first use; tradeoff's environment is never touched). Then every shipped predictor
is measured as its user would run it, each in a fresh process (``benchmarks/peer_side.py``):
AutoGluon's, FLAML's and LightGBM's own ``predict`` on one row, tradeoff's bundle in ONNX
Runtime, and the peer's model converted to ONNX where that exists (LightGBM, FLAML's pick
when it is LightGBM); p50/p95 at batch 1 by tradeoff's latency protocol, timed next to its
reference model; size on disk; the resident memory loading and running it adds; test quality
with a 95 % bootstrap interval; whether it meets the limits.

    PYTHONPATH=src python -m benchmarks.peers                 # default set, about 35 min
    PYTHONPATH=src python -m benchmarks.peers --quick         # smoke run, a few minutes
    PYTHONPATH=src python -m benchmarks.peers --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / "benchmarks" / ".peers"
SIDE = Path(__file__).with_name("peer_side.py")
START, END = "<!-- benchmarks.peers:start -->", "<!-- benchmarks.peers:end -->"

#: What each peer's own environment holds. onnx + onnxruntime: the probe times every
#: predictor next to tradeoff's reference model (an ONNX graph). None of them needs torch;
#: the constraint file pins it anyway, so that nothing can pull a multi-GB CUDA build.
ENVIRONMENTS = {
    "autogluon": ["autogluon.tabular[lightgbm]==1.6.3", "onnx", "onnxruntime"],
    "flaml": ["flaml[automl]==2.7.0", "onnxmltools", "skl2onnx", "onnx", "onnxruntime"],
    "lightgbm": [
        "lightgbm==4.7.0",
        "onnxmltools",
        "skl2onnx",
        "onnx",
        "onnxruntime",
        "pandas",
        "scikit-learn",
    ],
}
#: Contender -> the environment it runs in (None: tradeoff's own).
CONTENDERS = {
    "tradeoff": None,
    "autogluon": "autogluon",
    "autogluon_best": "autogluon",
    "flaml": "flaml",
    "lightgbm": "lightgbm",
    "cnn": None,
}


@dataclass(frozen=True)
class Case:
    """One data set, the requirements every contender is held to, and its quality metric."""

    dataset: str
    max_latency_ms: float
    max_size_mb: float
    metric: str | None = None  # None: tradeoff's default for the task


CASES = (
    Case("breast_cancer", 0.02, 0.05),
    Case("digits", 0.015, 0.15),
    Case("gunpoint", 0.03, 0.1),
    Case("caravan", 0.03, 0.2, "roc_auc"),  # 6 % positives: accuracy would reward "No"
    Case("bikeshare", 0.05, 0.5),
)
QUICK = ("breast_cancer", "gunpoint")
DEFAULT_BUDGET_S, QUICK_BUDGET_S = 60.0, 15.0


@dataclass(frozen=True)
class Measured:
    """One shipped predictor measured in a fresh process, beside its quality and limits."""

    contender: str
    shipped: str  # what was measured: "bundle (ORT)", "own predict", "ONNX (onnxmltools)"
    pick: str
    fit_s: float
    test: tuple[float, float, float] | None  # value, low, high (95 % bootstrap)
    p50_ms: float | None
    p95_ms: float | None
    ratio_to_reference: float | None
    own_ms_per_row: float | None  # the peer's own notion: mean per row at its batch size
    own_batch: int | None
    size_mb: float | None
    memory_mb: float | None
    runtime: str = ""
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def meets(self, case: Case) -> bool | None:
        """Within the latency (p95, batch 1) and size limits, as shipped; None if unmeasured."""
        if self.p95_ms is None or self.size_mb is None:
            return None
        return self.p95_ms <= case.max_latency_ms and self.size_mb <= case.max_size_mb


# --------------------------------------------------------------------------- environments


def peer_python(name: str, install: bool = True) -> Path:
    """The Python of peer environment ``name``, created and installed on first use."""
    folder = PEERS_DIR / name
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    if ready.is_file() or not install:
        return python
    print(f"[peers] creating {folder} ({' '.join(ENVIRONMENTS[name])}) ...", file=sys.stderr)
    if not python.exists():  # a half-made environment is completed, not made again
        venv.EnvBuilder(with_pip=True).create(folder)
    constraints = folder / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *ENVIRONMENTS[name]],
        check=True,
    )
    ready.write_text(json.dumps(ENVIRONMENTS[name]))
    return python


def versions(python: Path, packages: list[str]) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "for p in sys.argv[1:]:\n"
        "    try: print(p, m.version(p))\n"
        "    except Exception: pass\n"
    )
    done = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True)
    return ", ".join(done.stdout.split("\n")[:-1])


# --------------------------------------------------------------------------- data


def islp_csv(name: str) -> bytes:
    """A CSV shipped inside the ISLP wheel (fetched once into the peers' cache by pip)."""
    cache = PEERS_DIR / "cache"
    wheels = sorted(cache.glob("islp-*.whl")) + sorted(cache.glob("ISLP-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "ISLP==0.6.0"]
            + ["-d", str(cache)],
            check=True,
        )
        wheels = sorted(cache.glob("islp-*.whl")) + sorted(cache.glob("ISLP-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.read(f"ISLP/data/{name}.csv")


def load_case(case: Case, seed: int):
    """The data set of ``case`` as tradeoff loads it (a built-in, or a CSV from ISLP)."""
    import pandas as pd

    import tradeoff

    if case.dataset == "caravan":
        table = pd.read_csv(io.BytesIO(islp_csv("Caravan")))
        target = "Purchase"
    elif case.dataset == "bikeshare":
        # casual + registered = bikers: the two counts would leak the target.
        table = pd.read_csv(io.BytesIO(islp_csv("Bikeshare"))).drop(
            columns=["casual", "registered"]
        )
        target = "bikers"
    else:
        return tradeoff.datasets.load(case.dataset, seed=seed)
    path = PEERS_DIR / "cache" / f"{case.dataset}.csv"
    table.to_csv(path, index=False)
    return tradeoff.datasets.load(str(path), target=target, seed=seed)


# --------------------------------------------------------------------------- measuring


def probe(
    python: Path | str, kind: str, model: str, row: np.ndarray, protocol, timeout_s: float = 300
) -> dict:
    """Measure one shipped predictor in a fresh process of ``python`` (see ``peer_side.probe``)."""
    with tempfile.TemporaryDirectory() as tmp:
        row_path = Path(tmp) / "row.npy"
        np.save(row_path, np.ascontiguousarray(row[:1]))
        request = {"kind": kind, "model": str(model), "row": str(row_path)}
        request["protocol"] = asdict(protocol)
        return _side(python, "probe", request, timeout_s)


def _side(python: Path | str, command: str, request: dict, timeout_s: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(python), str(SIDE), command, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError((lines or ["no output"])[-1][:300])
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_estimate(metric: str, y_test: np.ndarray, outputs: np.ndarray):
    from tradeoff.measure import bootstrap

    est = bootstrap(metric, y_test, outputs, split="test")
    return (est.value, est.low, est.high)


# --------------------------------------------------------------------------- contenders


def fit_tradeoff(data, prepared, req, budget_s: float, seed: int, folder: Path) -> dict:
    """tradeoff as shipped: search, select under the limits, export the bundle."""
    from benchmarks.contenders import _test, run_tradeoff
    from tradeoff.exporter import export
    from tradeoff.frontier import Run

    start = time.monotonic()
    study, store = run_tradeoff(data, prepared, req, budget_s, seed, folder / "run")
    run = Run.open(folder / "run", prepared=prepared)
    pick = run.select(req)
    fit_s = time.monotonic() - start
    if pick is None:
        return {"fit_s": fit_s, "error": "nothing met the limits (exit 1)"}
    bundle = export(run, folder / "bundle", requirements=req)
    test = _test(store, pick, prepared, req)
    return {
        "fit_s": fit_s,
        "pick": f"{pick.family} #{pick.number}",
        "test": (test.value, test.low, test.high),
        "model_path": str(bundle / "model.onnx"),
        "size_mb": (bundle / "model.onnx").stat().st_size / 1e6,
        "search_p95_ms": pick.p95_ms,
    }


def fit_peer(name: str, splits: Path, prepared, req, budget_s, seed, folder: Path) -> dict:
    """One peer in its own environment, on the splits in ``splits``."""
    request = {
        "kind": name,
        "splits": str(splits),
        "out": str(folder),
        "task": prepared.task,
        "metric": req.metric,
        "budget_s": budget_s,
        "latency_limit_ms": req.max_latency_ms,
        "seed": seed,
    }
    python = peer_python(CONTENDERS[name])
    result = _side(python, "fit", request, timeout_s=4 * budget_s + 600)
    outputs = np.load(folder / "test_outputs.npy", allow_pickle=False)
    result["test"] = test_estimate(req.metric, prepared.y_test, outputs)
    return result


def fit_cnn(prepared, req, budget_s: float, seed: int, folder: Path) -> dict:
    """A standard small 1D CNN written by hand (3 conv layers, Adam 1e-3, batch 32)."""
    import torch
    from torch import nn

    from tradeoff.families import to_onnx
    from tradeoff.measure import predict_outputs

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    channels = prepared.input_shape[-1]
    model = nn.Sequential(
        nn.Conv1d(channels, 16, 7, padding=3),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(16, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(64, prepared.n_outputs),
    )

    class Net(nn.Module):  # tradeoff's series arrays are [N, length, channels]
        def __init__(self):
            super().__init__()
            self.body = model

        def forward(self, x):
            return self.body(x.transpose(1, 2))

    net = Net()
    mean, std = prepared.X_train.mean(), prepared.X_train.std() or 1.0
    X = torch.from_numpy(((prepared.X_train - mean) / std).astype(np.float32))
    y = torch.from_numpy(prepared.y_train.astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    start, deadline, epochs = time.monotonic(), time.monotonic() + budget_s, 0
    while epochs < 200 and time.monotonic() < deadline:
        net.train()
        for batch in torch.randperm(len(X)).split(32):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(X[batch]), y[batch]).backward()
            optimizer.step()
        epochs += 1
    net.eval()

    class Scaled(nn.Module):  # ship the scaling inside the graph, as tradeoff's bundle does
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net((x - mean) / std)

    onnx_bytes = to_onnx(Scaled(), prepared.input_shape)
    path = folder / "cnn.onnx"
    path.write_bytes(onnx_bytes)
    outputs = predict_outputs(onnx_bytes, prepared.X_test)
    return {
        "fit_s": time.monotonic() - start,
        "pick": f"CNN 16-32-64, {epochs} epochs",
        "test": test_estimate(req.metric, prepared.y_test, outputs),
        "model_path": str(path),
        "size_mb": path.stat().st_size / 1e6,
    }


def run_case(case: Case, budget_s: float, seed: int, out: Path, order: list[str], protocol):
    """Every contender on one data set, then every shipped predictor measured fresh."""
    from benchmarks.contenders import fresh
    from tradeoff.prepare import prepare
    from tradeoff.requirements import Requirements

    data = load_case(case, seed)
    prepared = prepare(data, seed=seed)
    req = Requirements(
        max_latency_ms=case.max_latency_ms, max_size_mb=case.max_size_mb, metric=case.metric
    ).for_task(data.task)
    splits = fresh(out / case.dataset) / "splits.npz"
    np.savez(
        splits,
        X_train=prepared.X_train,
        y_train=prepared.y_train,
        X_val=prepared.X_val,
        y_val=prepared.y_val,
        X_test=prepared.X_test,
    )
    fits: dict[str, dict] = {}
    for name in order:
        if name == "cnn" and data.modality != "sequence":
            continue
        folder = fresh(out / case.dataset / name)
        print(f"[{case.dataset}] {name}: {budget_s:.0f} s ...", file=sys.stderr, flush=True)
        try:
            if name == "tradeoff":
                fits[name] = fit_tradeoff(data, prepared, req, budget_s, seed, folder)
            elif name == "cnn":
                fits[name] = fit_cnn(prepared, req, budget_s, seed, folder)
            else:
                fits[name] = fit_peer(name, splits, prepared, req, budget_s, seed, folder)
        except Exception as error:  # a peer that fails is a row of the table, not a crash
            fits[name] = {"error": str(error).splitlines()[0][:300] if str(error) else repr(error)}
        print(f"[{case.dataset}] {name}: {fits[name]}", file=sys.stderr, flush=True)

    # What ships, each measured in a fresh process, in the same rotated order.
    row = prepared.X_test[:1]
    rows: list[Measured] = []
    for name in order:
        if name not in fits:
            continue
        fit = fits[name]
        targets = []
        if fit.get("model_path"):
            if name in ("tradeoff", "cnn"):
                shipped = "bundle in ORT" if name == "tradeoff" else "ONNX in ORT"
                targets.append((sys.executable, "onnx", fit["model_path"], shipped))
            else:
                python = peer_python(CONTENDERS[name])
                targets.append((python, name, fit["model_path"], "own predict"))
                if fit.get("onnx"):
                    targets.append((python, "onnx", fit["onnx"], "ONNX (onnxmltools) in ORT"))
        if not targets:
            rows.append(_row(name, "-", fit, None, None))
            continue
        for python, kind, model, shipped in targets:
            print(f"[{case.dataset}] measuring {name} ({shipped}) ...", file=sys.stderr, flush=True)
            try:
                measured = probe(python, kind, model, row, protocol)
                error = None
            except Exception as exc:
                measured, error = None, str(exc)
            size = Path(model).stat().st_size / 1e6 if kind == "onnx" else fit.get("size_mb")
            rows.append(_row(name, shipped, fit, measured, size, error))
    return rows, req, prepared


def _row(name, shipped, fit, measured, size_mb, error=None) -> Measured:
    latency = (measured or {}).get("latency") or {}
    return Measured(
        contender=name,
        shipped=shipped,
        pick=str(fit.get("pick", "-")),
        fit_s=float(fit.get("fit_s", float("nan"))),
        test=tuple(fit["test"]) if fit.get("test") else None,
        p50_ms=latency.get("p50_ms"),
        p95_ms=latency.get("p95_ms"),
        ratio_to_reference=latency.get("ratio_to_reference"),
        # tradeoff's own notion is the p95 its search measured at batch 1, in-process.
        own_ms_per_row=fit.get("own_ms_per_row", fit.get("search_p95_ms")),
        own_batch=fit.get("own_batch", 1 if "search_p95_ms" in fit else None),
        size_mb=size_mb,
        memory_mb=(measured or {}).get("inference_rss_mb"),
        runtime=(latency.get("method") or {}).get("runtime", ""),
        error=error or fit.get("error"),
    )


# --------------------------------------------------------------------------- tables


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _ms(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value < 0.1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def case_table(case: Case, metric: str, rows: list[Measured]) -> list[str]:
    """The markdown table of one data set: every shipped predictor, ratios to tradeoff's."""
    ours = next((r for r in rows if r.contender == "tradeoff" and r.p95_ms), None)
    lines = [
        f"### {case.dataset}: p95 latency <= {case.max_latency_ms} ms at batch 1, "
        f"size <= {case.max_size_mb} MB, metric {metric}",
        "",
        f"| contender | as shipped | pick | fit s | test {metric} [95% CI] | p50 ms | p95 ms | "
        "p95 ratio tradeoff/this | p50 ratio tradeoff/this, via the reference | "
        "own notion: ms per row (batch) | size MB | memory MB | meets limits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{r.test[0]:.3f} [{r.test[1]:.3f}, {r.test[2]:.3f}]" if r.test else "-"
        ratio = drift_free = "-"
        if ours and r.p95_ms:
            ratio = f"{ours.p95_ms / r.p95_ms:.3g}"
        if ours and ours.ratio_to_reference and r.ratio_to_reference:
            drift_free = f"{ours.ratio_to_reference / r.ratio_to_reference:.3g}"
        own = "-"
        if r.own_ms_per_row is not None and r.shipped in ("own predict", "bundle in ORT"):
            own = f"{_ms(r.own_ms_per_row)} ({r.own_batch})"
        meets = {True: "yes", False: "no", None: "-"}[r.meets(case)]
        pick = r.pick if not r.error else f"{r.pick}; failed: {r.error}"
        lines.append(
            f"| {r.contender} | {r.shipped} | {pick.replace('|', '/')} | {_num(r.fit_s, 0)} | "
            f"{test} | {_ms(r.p50_ms)} | {_ms(r.p95_ms)} | {ratio} | {drift_free} | {own} | "
            f"{_num(r.size_mb, 3)} | {_num(r.memory_mb, 1)} | {meets} |"
        )
    return lines + [""]


def summary_table(results: list[tuple[Case, list[Measured]]]) -> list[str]:
    """Per contender: how many of its shipped picks meet the limits when measured as shipped."""
    names = list(dict.fromkeys(r.contender for _, rows in results for r in rows))
    lines = [
        "### Picks that meet the limits when measured as shipped (p95 at batch 1, size)",
        "",
        "| contender | as shipped | meets / measured | data sets where it meets them |",
        "|---|---|---|---|",
    ]
    for name in names:
        shipped_kinds = list(
            dict.fromkeys(r.shipped for _, rows in results for r in rows if r.contender == name)
        )
        for shipped in shipped_kinds:
            hits, total = [], 0
            for case, rows in results:
                for r in rows:
                    if r.contender == name and r.shipped == shipped and r.meets(case) is not None:
                        total += 1
                        if r.meets(case):
                            hits.append(case.dataset)
            lines.append(
                f"| {name} | {shipped} | {len(hits)} / {total} | {', '.join(hits) or '-'} |"
            )
    return lines + [""]


def write_section(path: Path, lines: list[str]) -> None:
    """Replace this benchmark's section of ``path`` (between its markers), or append it."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "\n".join([START, *lines, END])
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def machine_line(load_start: str) -> str:
    import onnxruntime
    import torch

    from tradeoff.measure import cpu_model

    load_end = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu_model()}, {os.cpu_count()} logical cores, shared with other engineers' builds and "
        f"tests during the run (load average 1/5/15 min {load_start} at the start, {load_end} at "
        f"the end); Python {platform.python_version()}, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def main(argv: list[str] | None = None) -> None:
    from benchmarks.contenders import fresh
    from tradeoff.measure import LatencyProtocol

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {', '.join(QUICK)}")
    parser.add_argument("--budget", type=float, default=None, help="seconds per contender")
    parser.add_argument("--datasets", default=None, help="comma-separated subset")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/peers", help="folder for the runs (replaced)")
    parser.add_argument("--results", default=None, help="markdown file to write the section to")
    args = parser.parse_args(argv)

    names = args.datasets.split(",") if args.datasets else list(QUICK if args.quick else [])
    cases = [c for c in CASES if not names or c.dataset in names]
    unknown = set(names) - {c.dataset for c in CASES}
    if unknown:
        parser.error(f"--datasets: unknown {', '.join(sorted(unknown))}")
    contenders = args.contenders.split(",")
    if set(contenders) - set(CONTENDERS):
        parser.error(f"--contenders: choose among {', '.join(CONTENDERS)}")
    budget_s = args.budget or (QUICK_BUDGET_S if args.quick else DEFAULT_BUDGET_S)
    protocol = LatencyProtocol()  # what the search screens with and `tradeoff bench` uses
    if args.quick:
        protocol = LatencyProtocol(min_calls=200, min_seconds=0.5, max_seconds=5.0)

    for env_name in sorted({CONTENDERS[c] for c in contenders} - {None}):
        try:
            peer_python(env_name)
        except subprocess.CalledProcessError as error:
            print(f"[peers] {env_name}: install failed ({error})", file=sys.stderr)

    out = fresh(Path(args.out))
    # A private temp folder keeps tradeoff's machine-wide cost lock free of other users' runs.
    tempfile.tempdir = str(fresh(out / "tmp"))
    started = datetime.datetime.now(datetime.UTC)
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    start = time.monotonic()
    results, lines = [], []
    for i, case in enumerate(cases):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        rows, req, _ = run_case(case, budget_s, args.seed, out, order, protocol)
        results.append((case, rows))
        # Every figure, to re-render or compare runs later without rerunning them.
        (out / "results.json").write_text(
            json.dumps([[asdict(c), [asdict(r) for r in rs]] for c, rs in results], indent=1)
        )
        lines += case_table(case, req.metric, rows)
        print("\n".join(lines[-12:]), file=sys.stderr, flush=True)
    lines += summary_table(results)
    minutes = (time.monotonic() - start) / 60
    command = " ".join(["PYTHONPATH=src python -m benchmarks.peers", *(argv or sys.argv[1:])])
    peer_versions = "; ".join(
        f"{name}: {versions(peer_python(name, install=False), pkgs)}"
        for name, pkgs in (
            ("autogluon", ["autogluon.tabular", "lightgbm", "pandas", "onnxruntime"]),
            ("flaml", ["flaml", "lightgbm", "xgboost", "onnxmltools", "onnxruntime"]),
            ("lightgbm", ["lightgbm", "onnxmltools", "onnxruntime"]),
        )
        if peer_python(name, install=False).exists()
    )
    header = [
        "## tradeoff beside AutoGluon, FLAML and hand-written baselines (issue 16)",
        "",
        f"Command: `{command}` — {started:%Y-%m-%d %H:%M} UTC, {minutes:.0f} min in all, "
        f"budget {budget_s:.0f} s per contender and data set, seed {args.seed}.",
        "",
        f"Machine: {machine_line(load_start)}. Peer environments: {peer_versions}.",
        "",
        "Latency: every shipped predictor in a fresh process, on one test row, 1 thread "
        f"(ORT intra-op threads 1, OMP_NUM_THREADS=1), by tradeoff's protocol ({protocol.min_calls}+ "
        f"calls and {protocol.min_seconds:g}+ s after warm-up, blocks of {protocol.block_calls} "
        "calls with a block of the reference model every "
        f"{protocol.reference_every}); a ratio tradeoff/this < 1 means tradeoff's is faster; "
        "the p50 ratio via the reference divides each one's p50 over the reference model's, "
        "timed next to it, which cancels drift between the processes. "
        "Own notion: the peer's own predict over the whole test split in one call, ms per row "
        "(what `infer_limit` and `pred_time_limit` bound); for tradeoff, the p95 its search "
        "measured in-process at batch 1. Memory: peak RSS minus RSS after "
        "importing NumPy and ONNX Runtime, so it includes the peer library's import. Quality: "
        "test split, 95 % bootstrap interval (1,000 resamples).",
        "",
    ]
    print("\n".join(header + lines))
    if args.results:
        write_section(Path(args.results), header + lines)


if __name__ == "__main__":
    main()

"""Cost measured in a fresh process: peak inference memory (RSS) and latency.

A fresh process is the honest setting for memory (nothing else allocated in
it) and for ``tradeoff bench`` (no warm caches from the search). The child
imports only NumPy and ONNX Runtime before its baseline is read, so the
memory figure is what the session and its calls add.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tradeoff.errors import TradeoffError
from tradeoff.measure.latency import Latency, LatencyProtocol

SCREENING = LatencyProtocol()
_PROBE = Path(__file__).with_name("_probe.py")


def measure_fresh(
    onnx_path: str | os.PathLike,
    input_shape: tuple[int, ...],
    protocol: LatencyProtocol = SCREENING,
    *,
    latency: bool = True,
    timeout_s: float = 600.0,
    samples=None,
) -> dict:
    """Measure ``onnx_path`` in a new Python process.

    Returns ``{"baseline_rss_mb", "peak_rss_mb", "inference_rss_mb", "latency"}``
    where ``latency`` is a :class:`Latency` (or ``None`` when ``latency=False``).

    >>> measure_fresh("model.onnx", (40, 1))["inference_rss_mb"]  # doctest: +SKIP
    3.1

    ``samples`` (texts, object ``[n, 1]``) are the inputs to time, cycled through.
    """
    request = {
        "model": str(Path(onnx_path).resolve()),
        "input_shape": list(input_shape),
        "protocol": asdict(protocol),
        "latency": latency,
    }
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        if samples is not None:  # too large for a command line: a file beside the request
            request["texts_file"] = os.path.join(tmp, "texts.json")
            with open(request["texts_file"], "w", encoding="utf-8") as file:
                json.dump([str(t) for t in samples.ravel()], file)
        done = subprocess.run(
            [sys.executable, str(_PROBE), json.dumps(request)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TradeoffError(f"{onnx_path}: the measuring process failed: {last}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("latency") is not None:
        fields = result["latency"]
        for key in ("p50_interval_ms", "p95_interval_ms", "p99_interval_ms", "ratio_interval"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        result["latency"] = Latency(**fields)
    return result


def peak_inference_memory_mb(onnx_path: str | os.PathLike, input_shape: tuple[int, ...]) -> float:
    """Resident memory (MB) that loading and running the model adds, in a fresh process."""
    return measure_fresh(onnx_path, input_shape, latency=False)["inference_rss_mb"]

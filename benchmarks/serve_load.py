"""Bounded loopback load test of `tradeoff serve`, against bare ONNX Runtime on the same model.

Starts `python -m tradeoff serve BUNDLE` in its own process on 127.0.0.1, sends
``--requests`` POST /predict requests (one instance each) from ``--concurrency``
async clients (httpx), and reports client-side p50/p99 latency, errors and
throughput; then the same with one client (the server's own p50, no queueing),
and the p50 of bare ``session.run`` on the same instance in this process.
"Server p50" is the server's own time per request (its ``Server-Timing`` header:
request in to response start), without the client library and the network.

    python benchmarks/serve_load.py --requests 5000 --concurrency 8            # builds a bundle
    python benchmarks/serve_load.py --bundle model/ --requests 5000 --out r.json

Without ``--bundle`` it first runs a tiny MNIST-1D search (3 trials, 3 epochs)
and exports its pick, so the model is a small one (what the server adds matters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def build_bundle(directory: Path) -> Path:
    import tradeoff
    from tradeoff.searcher import SearchSettings, run_search

    data = tradeoff.datasets.load("mnist1d")
    settings = SearchSettings(time_budget_s=None, n_trials=3, max_epochs=3)
    run_search(data, tradeoff.Requirements(), directory / "run", settings, show_progress=False)
    return tradeoff.export(directory / "run", directory / "model")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(bundle: Path, port: int) -> subprocess.Popen:
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "tradeoff", "serve", str(bundle), "--port", str(port)], env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


async def load(url: str, body: bytes, n_requests: int, concurrency: int) -> dict:
    latencies_ms: list[float] = []
    server_ms: list[float] = []
    errors: dict[str, int] = {}
    next_request = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_request
        while next_request < n_requests:
            next_request += 1
            start = time.perf_counter()
            try:
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                ok = response.status_code == 200
                timing = response.headers.get("server-timing", "")
                if timing.startswith("app;dur="):
                    server_ms.append(float(timing.removeprefix("app;dur=")))
                key = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                ok, key = False, type(error).__name__
            latencies_ms.append((time.perf_counter() - start) * 1e3)
            if not ok:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed_s = time.perf_counter() - started
    ms = np.asarray(latencies_ms)
    return {
        "requests": len(ms),
        "concurrency": concurrency,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput_rps": len(ms) / elapsed_s,
        "server_p50_ms": float(np.median(server_ms)) if server_ms else None,
        "server_p99_ms": float(np.percentile(server_ms, 99)) if server_ms else None,
    }


def bare_ort_p50_ms(bundle: Path, instance: np.ndarray, calls: int = 5000) -> float:
    from tradeoff.bundle import Predictor

    sess = Predictor(bundle).session
    feed = {sess.get_inputs()[0].name: instance[None].astype(np.float32)}
    for _ in range(200):
        sess.run(None, feed)
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        sess.run(None, feed)
        times.append(time.perf_counter_ns() - start)
    return float(np.percentile(np.asarray(times) / 1e6, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle to serve (default: build a tiny one)")
    parser.add_argument("--requests", type=int, default=5000, help="requests in the loaded run")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--sequential", type=int, default=1000, help="requests with one client")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or build_bundle(Path(tmp))
        card = json.loads((bundle / "card.json").read_text())
        shape = card["input"]["shape"][1:]
        instance = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        body = json.dumps({"instances": [instance.tolist()]}).encode()

        port = free_port()
        server = start_server(bundle, port)
        try:
            url = f"http://127.0.0.1:{port}/predict"
            asyncio.run(load(url, body, 200, args.concurrency))  # warm-up, not reported
            loaded = asyncio.run(load(url, body, args.requests, args.concurrency))
            sequential = asyncio.run(load(url, body, args.sequential, 1))
        finally:
            server.terminate()
            server.wait(timeout=10)
        bare = bare_ort_p50_ms(bundle, instance)

    import onnxruntime

    from tradeoff.measure import cpu_model

    results = {
        "loaded": loaded,
        "sequential": sequential,
        "bare_ort_p50_ms": bare,
        "server_minus_bare_p50_ms": sequential["server_p50_ms"] - bare,
        "round_trip_minus_bare_p50_ms": sequential["p50_ms"] - bare,
        "model": {
            "family": card["lineage"]["family"],
            "params": card["lineage"]["params"],
            "size_mb": card["cost"]["size_mb"],
            "input_shape": shape,
        },
        "method": {
            "client": "httpx.AsyncClient over loopback, keep-alive, 1 instance a request",
            "server": "python -m tradeoff serve (uvicorn, 1 process), ORT 1 intra-op thread",
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },
    }
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""The cost agent's overhead: the same 20 candidates measured here and through an agent.

    PYTHONPATH=src python benchmarks/target.py            # full: 20 candidates, ~1 s protocol
    PYTHONPATH=src python benchmarks/target.py --quick    # smoke test: 4 candidates, short protocol

Each candidate (an MLP built directly as ONNX, 20 widths and depths) is measured twice,
in alternating order: in a fresh local process (``measure_model(fresh=True)``, what
``tradeoff bench`` runs) and through a ``tradeoff agent`` on loopback
(``measure_on_target``: HTTP, base64, ``onnx.checker``, the same fresh process there).
Reported: the agent's extra wall time per measurement as the client sees it (goal
<= 10 %), and whether each p95 falls inside the other measurement's 95 % interval.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tradeoff.measure import (
    LatencyProtocol,
    MeasureSpec,
    Target,
    describe_machine,
    machine_info,
    measure_model,
    measure_on_target,
)

#: A measurement of about a second: long enough that the overhead is a fair share of it.
PROTOCOL = LatencyProtocol(min_calls=1000, min_seconds=1.0, warmup_max_seconds=0.5)
QUICK = LatencyProtocol(warmup_calls=20, warmup_max_seconds=0.2, min_calls=200, min_seconds=0.2)
INPUTS = 64


def candidates(n: int) -> list[tuple[str, bytes]]:
    """``n`` MLPs of growing width and depth, as ONNX bytes."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        width, depth = 16 * 2 ** (i % 5), 1 + i // 5 % 4
        nodes, inits, last, size = [], [], "input", INPUTS
        for d in range(depth):
            w = numpy_helper.from_array(
                rng.standard_normal((size, width)).astype(np.float32), f"w{d}"
            )
            b = numpy_helper.from_array(np.zeros(width, np.float32), f"b{d}")
            inits += [w, b]
            nodes += [
                helper.make_node("Gemm", [last, f"w{d}", f"b{d}"], [f"h{d}"]),
                helper.make_node("Relu", [f"h{d}"], [f"a{d}"]),
            ]
            last, size = f"a{d}", width
        graph = helper.make_graph(
            nodes,
            f"mlp-{width}x{depth}",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", INPUTS])],
            [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["batch", width])],
            initializer=inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        out.append((f"mlp {width}x{depth}", model.SerializeToString()))
    return out


def start_agent(tmp: Path) -> tuple[str, str, subprocess.Popen]:
    token = secrets.token_hex(16)
    (tmp / "token").write_text(token)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeoff", "agent", "--port", str(port)]
        + ["--token-file", str(tmp / "token")],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/info", timeout=1)
        except urllib.error.HTTPError:
            return url, token, process  # 401 without the token: it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the agent did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    protocol = QUICK if args.quick else PROTOCOL
    models = candidates(4 if args.quick else 20)
    spec = MeasureSpec((INPUTS,), protocol, memory=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url, token, agent = start_agent(Path(tmp))
        target = Target(url, token)
        try:
            for i, (name, model) in enumerate(models):
                order = ("local", "agent") if i % 2 == 0 else ("agent", "local")
                seen = {}
                for where in order:
                    start = time.perf_counter()
                    if where == "local":
                        m = measure_model(model, spec, fresh=True)
                    else:
                        m = measure_on_target(target, model, spec)
                    seen[where] = (time.perf_counter() - start, m)
                (wall_l, local), (wall_a, remote) = seen["local"], seen["agent"]
                lo_l, hi_l = local.latency.p95_interval_ms
                lo_a, hi_a = remote.latency.p95_interval_ms
                rows.append(
                    {
                        "model": name,
                        "local_wall_s": wall_l,
                        "agent_wall_s": wall_a,
                        "extra": wall_a / wall_l - 1.0,
                        "local_p95_ms": local.latency.p95_ms,
                        "agent_p95_ms": remote.latency.p95_ms,
                        "local_p95_in_agent_ci": bool(lo_a <= local.latency.p95_ms <= hi_a),
                        "agent_p95_in_local_ci": bool(lo_l <= remote.latency.p95_ms <= hi_l),
                        "local_ratio": local.latency.ratio_to_reference,
                        "agent_ratio": remote.latency.ratio_to_reference,
                        "ratios_overlap": bool(
                            local.latency.ratio_interval[0] <= remote.latency.ratio_interval[1]
                            and remote.latency.ratio_interval[0] <= local.latency.ratio_interval[1]
                        ),
                        "local_rss_mb": local.inference_rss_mb,
                        "agent_rss_mb": remote.inference_rss_mb,
                    }
                )
                r = rows[-1]
                print(
                    f"{name:14s} local {wall_l:6.2f} s  agent {wall_a:6.2f} s  "
                    f"extra {100 * r['extra']:+6.1f} %  p95 {r['local_p95_ms']:.4f} / "
                    f"{r['agent_p95_ms']:.4f} ms  in other's CI: "
                    f"{r['local_p95_in_agent_ci']}/{r['agent_p95_in_local_ci']}  ratio to "
                    f"reference {r['local_ratio']:.2f} / {r['agent_ratio']:.2f} "
                    f"(CIs overlap: {r['ratios_overlap']})",
                    flush=True,
                )
        finally:
            agent.terminate()
            agent.wait()
    extra = np.array([r["extra"] for r in rows])
    total = sum(r["agent_wall_s"] for r in rows) / sum(r["local_wall_s"] for r in rows) - 1
    summary = {
        "machine": describe_machine(machine_info()),
        "protocol": f"min {protocol.min_calls} calls and {protocol.min_seconds} s, memory too",
        "candidates": len(rows),
        "median_extra": float(np.median(extra)),
        "total_extra": float(total),
        "max_extra": float(extra.max()),
        "local_p95_in_agent_ci": sum(r["local_p95_in_agent_ci"] for r in rows),
        "agent_p95_in_local_ci": sum(r["agent_p95_in_local_ci"] for r in rows),
        "ratio_cis_overlap": sum(r["ratios_overlap"] for r in rows),
        "median_ratio_difference": float(
            np.median([abs(r["agent_ratio"] / r["local_ratio"] - 1) for r in rows])
        ),
        "rows": rows,
    }
    print(
        f"\nagent's extra wall time per measurement: median {100 * summary['median_extra']:+.1f} %, "
        f"over all {100 * total:+.1f} %, worst {100 * summary['max_extra']:+.1f} % (goal <= 10 %)\n"
        f"local p95 inside the agent's 95% CI: {summary['local_p95_in_agent_ci']}/{len(rows)}; "
        f"agent p95 inside the local CI: {summary['agent_p95_in_local_ci']}/{len(rows)}\n"
        f"ratio to the reference: intervals overlap for {summary['ratio_cis_overlap']}/{len(rows)}, "
        f"median |agent/local - 1| {100 * summary['median_ratio_difference']:.1f} %\n"
        f"on {summary['machine']}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

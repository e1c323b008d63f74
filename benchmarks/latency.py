"""Latency benchmark: the shipped ORT artifact vs torch eager, and repeatability across processes.

    PYTHONPATH=src python benchmarks/latency.py            # full: 3 s per comparison
    PYTHONPATH=src python benchmarks/latency.py --quick    # smoke test (~1 min), noisy figures

Part 1 times torch eager (inference mode, 1 thread) against the ORT artifact
(1 thread) at batch 1, in alternating blocks so that drift cancels, for an
MLP (fp32 ORT), a 1D CNN (ORT static int8, QDQ per-channel) and an LSTM
(ORT dynamic int8). Part 2 measures one model in 5 fresh processes and
reports each one's ratio to the reference model, and the spread around the
median (target: within +-10 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import tradeoff
from tradeoff.compress.int8_dynamic import quantize_dynamic_bytes
from tradeoff.compress.int8_static import quantize_static_bytes
from tradeoff.families import deployable, get_family, to_onnx
from tradeoff.measure import (
    LatencyProtocol,
    cpu_flags,
    cpu_model,
    interleaved_ratio,
    measure_latency,
    session,
)
from tradeoff.prepare import prepare


class LSTMClassifier(nn.Module):
    """A small sequence classifier: one LSTM layer, the last step's state, a linear head."""

    def __init__(self, channels: int = 1, hidden: int = 64, n_outputs: int = 10):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def models(prepared):
    """(name, torch model, ORT artifact bytes, how the artifact was made)."""
    torch.manual_seed(0)
    shape, n_out, scaling = prepared.input_shape, prepared.n_outputs, prepared.scaling
    mlp = deployable(
        get_family("mlp"),
        {"depth": 2, "width": 128, "activation": "relu", "dropout": 0.0},
        shape,
        n_out,
        scaling,
    )
    cnn = deployable(
        get_family("cnn"),
        {
            "depth": 3,
            "channels": 32,
            "kernel": 5,
            "pooling": "stride",
            "head": "flatten",
            "activation": "relu",
            "dropout": 0.0,
        },
        shape,
        n_out,
        scaling,
    )
    lstm = LSTMClassifier(shape[-1], 64, n_out)
    calibration = prepared.X_train[:512]
    return [
        ("MLP 40-128-128-10", mlp, to_onnx(mlp, shape), "ORT fp32"),
        (
            "1D CNN 3x32 k5",
            cnn,
            quantize_static_bytes(to_onnx(cnn, shape), calibration),
            "ORT static int8 (QDQ, per-channel)",
        ),
        ("LSTM 64", lstm, quantize_dynamic_bytes(to_onnx(lstm, shape)), "ORT dynamic int8"),
    ]


def eager_vs_ort(prepared, protocol: LatencyProtocol) -> list[dict]:
    torch.set_num_threads(1)
    x = torch.from_numpy(prepared.X_val[:1])
    rows = []
    for name, model, artifact, how in models(prepared):
        model.eval()
        sess = session(artifact, threads=1)
        feed = {sess.get_inputs()[0].name: prepared.X_val[:1]}

        def eager(model=model):
            with torch.inference_mode():
                model(x)

        def ort_call(sess=sess, feed=feed):
            sess.run(None, feed)

        ratio, (low, high), _ = interleaved_ratio(eager, ort_call, protocol)
        rows.append({"model": name, "artifact": how, "speedup": ratio, "interval": [low, high]})
        print(f"  {name:22s} {how:36s} ORT is {ratio:.2f}x faster [95% CI {low:.2f}, {high:.2f}]")
    return rows


def repeatability(prepared, protocol: LatencyProtocol, processes: int) -> dict:
    _, _, artifact, _ = models(prepared)[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(artifact)
        ratios, p50s = [], []
        for i in range(processes):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(path),
                    "--protocol",
                    json.dumps(dataclasses.asdict(protocol)),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            ratios.append(result["ratio"])
            p50s.append(result["p50_ms"])
            print(
                f"  process {i + 1}: ratio to reference {result['ratio']:.3f}, p50 {result['p50_ms']:.4f} ms"
            )
    median = float(np.median(ratios))
    spread = [r / median - 1 for r in ratios]
    raw_spread = [p / float(np.median(p50s)) - 1 for p in p50s]
    print(
        f"  ratio spread around the median: {min(spread):+.1%} .. {max(spread):+.1%} "
        f"(raw p50 spread {min(raw_spread):+.1%} .. {max(raw_spread):+.1%})"
    )
    return {"ratios": ratios, "p50_ms": p50s, "spread": [min(spread), max(spread)]}


def child(path: str, protocol_json: str) -> None:
    protocol = LatencyProtocol(**json.loads(protocol_json))
    latency = measure_latency(path, (40, 1), protocol)
    print(json.dumps({"ratio": latency.ratio_to_reference, "p50_ms": latency.p50_ms}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (smoke test)")
    parser.add_argument(
        "--processes", type=int, default=5, help="fresh processes for repeatability"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--protocol", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.protocol)
        return
    protocol = LatencyProtocol()
    if args.quick:
        protocol = LatencyProtocol(min_calls=300, min_seconds=0.5, warmup_max_seconds=0.3)
    prepared = prepare(tradeoff.datasets.load("mnist1d"), seed=0)
    print(
        f"CPU: {cpu_model()} [{' '.join(cpu_flags())}], 1 thread, batch 1, torch {torch.__version__}"
    )
    print("Torch eager vs the ORT artifact (interleaved blocks; ratio = eager / ORT):")
    eager_vs_ort(prepared, protocol)
    print(f"Repeatability: the MLP artifact in {args.processes} fresh processes:")
    repeatability(prepared, protocol, args.processes)


if __name__ == "__main__":
    main()

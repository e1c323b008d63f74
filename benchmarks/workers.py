"""Workers on one machine: trials per minute with 1 vs 2 workers, and latency repeatability.

    python -m benchmarks.workers --budget 120 --repeats 15

1. The same search (MNIST-1D, linear/mlp/cnn, default latency protocol) for ``--budget``
   seconds with ``--workers 1`` and then ``--workers 2``: finished trials per minute.
2. Latency repeatability of one fixed reference model (p50 over repeated measurements) on
   a quiet machine, while another process trains under the cost lock (what a second
   worker does), and, as a control, while it trains and the measurement ignores the lock.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import tradeoff
from tradeoff.families import to_onnx
from tradeoff.measure import LatencyProtocol, measure_latency
from tradeoff.searcher import SearchSettings, run_search
from tradeoff.searcher.workers import CostLock


def trials_per_minute(workers: int, budget_s: float, out: Path) -> tuple[int, float]:
    data = tradeoff.datasets.load("mnist1d")
    settings = SearchSettings(
        time_budget_s=budget_s, workers=workers, families=("linear", "mlp", "cnn"), seed=0
    )
    start = time.monotonic()
    study, _ = run_search(data, tradeoff.Requirements(), out, settings, show_progress=False)
    minutes = (time.monotonic() - start) / 60
    finished = sum(t.state.is_finished() for t in study.trials)
    return finished, finished / minutes


def _trainer(stop_at: float) -> None:
    """A second worker's load: train an MLP on random data, letting measurements in per epoch."""
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(40, 512), nn.ReLU(), nn.Linear(512, 512), nn.Linear(512, 10))
    optimizer = torch.optim.Adam(model.parameters())
    X, y = torch.randn(4096, 40), torch.randint(0, 10, (4096,))
    lock = CostLock()
    with lock.training() as checkpoint:
        while time.monotonic() < stop_at:
            for i in range(0, 4096, 64):  # one "epoch"
                loss = nn.functional.cross_entropy(model(X[i : i + 64]), y[i : i + 64])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            checkpoint()


def repeatability(repeats: int) -> dict[str, list[float]]:
    reference = to_onnx(
        nn.Sequential(nn.Linear(40, 256), nn.ReLU(), nn.Linear(256, 10)).eval(), (40,)
    )
    protocol = LatencyProtocol()
    lock = CostLock()

    def measure(locked: bool) -> float:
        if locked:
            with lock.measuring():
                return measure_latency(reference, (40,), protocol).p50_ms
        return measure_latency(reference, (40,), protocol).p50_ms

    results: dict[str, list[float]] = {}
    results["quiet machine"] = [measure(True) for _ in range(repeats)]
    for label, locked in (
        ("2nd worker training, lock", True),
        ("2nd worker training, no lock", False),
    ):
        seconds = repeats * (protocol.min_seconds + 1.0) * 2 + 5
        trainer = mp.get_context("spawn").Process(
            target=_trainer, args=(time.monotonic() + seconds,)
        )
        trainer.start()
        time.sleep(2.0)  # let it start training
        results[label] = [measure(locked) for _ in range(repeats)]
        trainer.terminate()
        trainer.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per search")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"CPU: {tradeoff.measure.cpu_model()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            n, rate = trials_per_minute(workers, args.budget, Path(tmp) / f"w{workers}")
            print(f"workers={workers}: {n} trials in {args.budget:.0f} s -> {rate:.1f} trials/min")
    print("\nReference model p50 latency (ms), repeated measurements:")
    print("| condition | median p50 ms | min | max | max/min | CV |")
    print("|---|---|---|---|---|---|")
    for label, values in repeatability(args.repeats).items():
        arr = np.asarray(values)
        cv = arr.std() / arr.mean()
        print(
            f"| {label} | {statistics.median(values):.4f} | {arr.min():.4f} | {arr.max():.4f} "
            f"| {arr.max() / arr.min():.2f} | {cv:.1%} |"
        )


if __name__ == "__main__":
    main()

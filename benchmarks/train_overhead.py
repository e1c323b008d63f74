"""Training-loop overhead: samples/s of ``tradeoff.train`` vs a bare PyTorch loop.

Same model (the family's defaults, preprocessing folded in), same optimiser, batch size and
number of epochs; the two loops run alternately (interleaved) so that a machine's load
shifts hit both. tradeoff's loop also validates and scores every epoch and keeps the best
weights: that work is counted, since a search pays for it.

    PYTHONPATH=src python -m benchmarks.train_overhead --family mlp --epochs 5 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import tradeoff
from tradeoff.families import deployable, get_family
from tradeoff.prepare import Prepared, prepare
from tradeoff.train import Strategy, train


@dataclass(frozen=True)
class Overhead:
    family: str
    batch_size: int
    epochs: int
    tradeoff_samples_per_s: float  # median over rounds
    bare_samples_per_s: float

    @property
    def ratio(self) -> float:
        """tradeoff's throughput as a fraction of the bare loop's (goal: >= 0.9)."""
        return self.tradeoff_samples_per_s / self.bare_samples_per_s


def bare_loop(model: nn.Module, prepared: Prepared, strategy: Strategy, seed: int) -> float:
    """The plainest loop over the same batches: shuffle, forward, loss, backward, step. Seconds."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(prepared.X_train)
    y = torch.from_numpy(prepared.y_train.astype(np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=strategy.lr)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    for _ in range(strategy.max_epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for first in range(0, len(order), strategy.batch_size):
            batch = order[first : first + strategy.batch_size]
            loss = loss_fn(model(X[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def measure_overhead(
    family: str = "mlp",
    dataset: str = "mnist1d",
    epochs: int = 5,
    batch_size: int = 64,
    rounds: int = 3,
    seed: int = 0,
) -> Overhead:
    """Median samples/s of both loops over ``rounds`` interleaved rounds, on one torch thread."""
    prepared = prepare(tradeoff.datasets.load(dataset), seed=seed)
    fam = get_family(family)
    # patience > epochs: both loops run every epoch.
    strategy = Strategy(
        optimizer="adam", batch_size=batch_size, max_epochs=epochs, patience=epochs + 1
    )

    def fresh_model() -> nn.Module:
        torch.manual_seed(seed)
        return deployable(
            fam, fam.defaults(prepared.input_shape), prepared.input_shape,
            prepared.n_outputs, prepared.scaling,
        )  # fmt: skip

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    samples = epochs * len(prepared.y_train)
    ours, bare = [], []
    try:
        for _ in range(rounds):
            result = train(
                fresh_model(),
                prepared,
                strategy,
                score=lambda y, out: float((out.argmax(1) == y).mean()),
                seed=seed,
            )
            assert result.epochs == epochs, result.stopped_by
            ours.append(samples / result.seconds)
            bare.append(samples / bare_loop(fresh_model(), prepared, strategy, seed))
    finally:
        torch.set_num_threads(threads)
    return Overhead(family, batch_size, epochs, statistics.median(ours), statistics.median(bare))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="mlp", help="family at its defaults (mlp, cnn, gru)")
    parser.add_argument("--dataset", default="mnist1d", help="built-in classification data set")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed run")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of both loops")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median taken)")
    args = parser.parse_args()
    result = measure_overhead(args.family, args.dataset, args.epochs, args.batch_size, args.rounds)
    print(
        f"{result.family}: tradeoff.train {result.tradeoff_samples_per_s:,.0f} samples/s, "
        f"bare loop {result.bare_samples_per_s:,.0f} samples/s, ratio {result.ratio:.2f}"
    )


if __name__ == "__main__":
    main()

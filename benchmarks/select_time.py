"""How long `tradeoff select` takes on a finished run, start to answer, in fresh processes.

Goal (issue 7): under 2 s. Each round runs `python -m tradeoff select RUN --json` and, in
the same round, a bare `python -c "import torch"` as a yardstick for the machine's load,
so the ratio select/import-torch stays comparable when the machine drifts.

    PYTHONPATH=src python -m benchmarks.select_time RUN --rounds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run folder")
    parser.add_argument("--rounds", type=int, default=10, help="fresh processes of each kind")
    args = parser.parse_args()

    select_cmd = [sys.executable, "-m", "tradeoff", "select", args.run, "--json"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    trials = json.loads(subprocess.run(select_cmd, check=True, capture_output=True).stdout)[
        "trials"
    ]
    select_s, torch_s = [], []
    for _ in range(args.rounds):  # interleaved: one of each per round
        select_s.append(wall(select_cmd))
        torch_s.append(wall(torch_cmd))
    print(
        f"run: {args.run} ({trials} trials), {args.rounds} rounds, Python {sys.version.split()[0]}"
    )
    print(f"tradeoff select: median {statistics.median(select_s):.2f} s, max {max(select_s):.2f} s")
    print(
        f"python -c 'import torch': median {statistics.median(torch_s):.2f} s, "
        f"max {max(torch_s):.2f} s"
    )
    ratios = [s / t for s, t in zip(select_s, torch_s, strict=True)]
    print(f"ratio select / import torch, per round: median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

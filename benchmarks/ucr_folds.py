"""Can a UCR set's training split rank candidates? Cross-validation on train against test.

One command (about 2 minutes; with ``--run``, a few more):

    PYTHONPATH=src python -m benchmarks.ucr_folds [--run runs/bench-ucr/ACSF1/screened]

tradeoff ranks candidates by cross-validation on train+validation (``--cv auto``). That
can pick well only where the folds' scores order configurations as the test split does.
Without any tradeoff code, on the univariate sets in sktime's wheel, it measures:

- 1-NN (z-normalised Euclidean) accuracy from train to test, beside leave-one-out 1-NN
  within train: a split whose series resemble the other split's more than their own
  split's makes every within-train estimate pessimistic;
- sktime's MiniRocket (feature counts 84 to 10,000, two seeds) with a standardised
  RidgeClassifierCV head: for 5 folds x 2 and 10 folds x 1 on train, the mean of
  (fold mean - test accuracy), the Spearman correlation of fold means with test
  accuracy across the ten configurations, and the test accuracy of the best fold mean.

With ``--run`` (a finished search folder of ``benchmarks/ucr.py``, ranked with 5 folds x
2), its rockets are scored again on 5 folds x ``--repeats`` (the first two repeats are
the search's own folds) and refitted for their test accuracy: do more repeats order them
by test better?
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeClassifierCV
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sktime.datasets import load_UCR_UEA_dataset
from sktime.transformations.panel.rocket import MiniRocket

from benchmarks.ucr import DATA
from tradeoff import evaluate

SETS = ("ACSF1", "ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf")
CONFIGS = [(n, seed) for n in (84, 336, 840, 2520, 10_000) for seed in (0, 1)]
SCHEMES = ((5, 2), (10, 1))  # folds x repeats: ten fits each


def _znorm(X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float64)
    return (X - X.mean(1, keepdims=True)) / (X.std(1, keepdims=True) + 1e-9)


def one_nn(Xa: np.ndarray, ya: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> float:
    """1-NN accuracy of ``Xb`` against ``Xa``."""
    d = ((_znorm(Xb)[:, None] - _znorm(Xa)[None]) ** 2).sum(-1)
    return float(np.mean(ya[d.argmin(1)] == yb))


def one_nn_left_out(X: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy within ``X``."""
    Z = _znorm(X)
    d = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(y[d.argmin(1)] == y))


def minirocket_score(n_kernels: int, seed: int, Xa, ya, Xb, yb) -> float:
    transform = MiniRocket(num_kernels=n_kernels, random_state=seed)
    Fa = transform.fit_transform(Xa)
    head = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    return float(head.fit(Fa, ya).score(transform.transform(Xb), yb))


def folds_against_test(name: str) -> str:
    Xtr, ytr = load_UCR_UEA_dataset(name, split="train", return_type="numpy3D")
    Xte, yte = load_UCR_UEA_dataset(name, split="test", return_type="numpy3D")
    cross = one_nn(Xtr[:, 0], ytr, Xte[:, 0], yte)
    loo = one_nn_left_out(Xtr[:, 0], ytr)
    rows = []
    for n_kernels, seed in CONFIGS:
        test = minirocket_score(n_kernels, seed, Xtr, ytr, Xte, yte)
        means = []
        for k, repeats in SCHEMES:
            splits = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=0)
            means.append(
                np.mean(
                    [
                        minirocket_score(n_kernels, seed, Xtr[a], ytr[a], Xtr[b], ytr[b])
                        for a, b in splits.split(Xtr[:, 0, :], ytr)
                    ]
                )
            )
        rows.append((test, *means))
    table = np.array(rows)
    cells = [f"{name} | {len(ytr)} | {cross:.3f} | {loo:.3f} | {table[:, 0].mean():.3f}"]
    for j in range(1, len(SCHEMES) + 1):
        bias = np.mean(table[:, j] - table[:, 0])
        rho = spearmanr(table[:, j], table[:, 0]).statistic
        cells.append(f"{bias:+.3f} | {rho:+.2f} | {table[np.argmax(table[:, j]), 0]:.3f}")
    return "| " + " | ".join(cells) + " |"


def rerank_run(folder: Path, repeats: int) -> list[str]:
    """A finished ucr.py search's rockets on 5 folds x ``repeats``, beside their test accuracy."""
    import tradeoff
    from tradeoff.frontier import Run
    from tradeoff.prepare import prepare
    from tradeoff.records import trial_seed
    from tradeoff.retrain import fold_scores
    from tradeoff.searcher.cv import AUTO_FOLDS, AUTO_REPEATS

    name = folder.resolve().parent.name  # ucr.py writes OUT/<set>/screened
    data = tradeoff.datasets.load(DATA / name / f"{name}_TRAIN.ts")
    run = Run.open(folder, prepared=prepare(data, seed=0, cv=AUTO_FOLDS, cv_repeats=AUTO_REPEATS))
    more = prepare(data, seed=run.info["seed"], cv=AUTO_FOLDS, cv_repeats=repeats)
    lines = [
        f"{name}, {folder}: rockets by fold mean, {AUTO_FOLDS} folds x {AUTO_REPEATS} (the "
        f"search's) and x {repeats}, beside test accuracy (refitted on train+validation)",
        "",
        f"| trial | features | stride | pooling | head | x{AUTO_REPEATS} | x{repeats} | test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for record in run.trials():
        if not (record.trained and record.cv and record.family == "rocket"):
            continue
        seed = trial_seed(run.info["seed"], record.number)
        folds = fold_scores(
            more, "rocket", record.params, record.strategy, seed=seed, metric="accuracy"
        )
        test = evaluate.test_estimate(run, record).value
        rows.append((record.val_metric, float(np.mean(folds.scores)), test))
        p = record.params
        lines.append(
            f"| #{record.number} | {p['n_features']} | {p['stride']} | {p['pooling']} | "
            f"{p['head']} | {rows[-1][0]:.3f} | {rows[-1][1]:.3f} | {test:.3f} |"
        )
    table = np.array(rows)
    lines.append("")
    for j, label in ((0, f"x{AUTO_REPEATS}"), (1, f"x{repeats}")):
        rho = spearmanr(table[:, j], table[:, 2]).statistic
        lines.append(
            f"- {label}: Spearman correlation with test {rho:+.2f}; test accuracy of the best "
            f"fold mean {table[np.argmax(table[:, j]), 2]:.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated univariate sets")
    parser.add_argument("--run", type=Path, help="a finished benchmarks/ucr.py search folder")
    parser.add_argument("--repeats", type=int, default=6, help="with --run: repeats of 5 folds")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # sktime's and numba's deprecation notices
    header = " | ".join(
        f"{k} folds x {r}: mean(fold - test) | Spearman | test of best fold mean"
        for k, r in SCHEMES
    )
    print(
        "MiniRocket (sktime) + RidgeClassifierCV; 1-NN z-normalised Euclidean.\n\n"
        f"| set | train rows | 1-NN train->test | 1-NN leave-one-out in train | "
        f"MiniRocket mean test | {header} |\n|" + "---|" * (5 + 3 * len(SCHEMES)),
        flush=True,
    )
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        print(folds_against_test(name), flush=True)
    if args.run:
        print("\n" + "\n".join(rerank_run(args.run, args.repeats)))


if __name__ == "__main__":
    main()

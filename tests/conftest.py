"""Shared fixtures: one small real search per test session, reused read-only by many tests."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch

import tradeoff
from tradeoff.datasets import Dataset, load
from tradeoff.measure import LatencyProtocol
from tradeoff.prepare import prepare

#: Tight enough that some candidates are rejected on size before training.
SMALL_REQUIREMENTS = tradeoff.Requirements(max_latency_ms=1.0, max_size_mb=0.05)
#: A short latency protocol keeps the suite fast; the search default is used in `demo`.
QUICK_PROTOCOL = LatencyProtocol(warmup_calls=20, min_calls=100, min_seconds=0.05)


@pytest.fixture(scope="session")
def mnist1d():
    return tradeoff.datasets.load("mnist1d")


#: Families left out of the small run: their pick has no network for export's parity checks.
WITHOUT_NETWORK = ("ensemble", "rocket")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, mnist1d):
    """A finished 14-trial search on MNIST-1D (every sequence family but the ensemble and
    rocket, whose pick would have no network to check export's parity against), 8 epochs a
    trial at most:
    the defaults, the smaller versions of those over the size limit, then the sampler's."""
    from tradeoff.families import family_names
    from tradeoff.searcher import SearchSettings, run_search

    out = tmp_path_factory.mktemp("runs") / "small"
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=14,
        seed=0,
        max_epochs=8,
        families=tuple(f for f in family_names("sequence") if f not in WITHOUT_NETWORK),
        protocol=QUICK_PROTOCOL,
        compression=None,  # variants are tested in test_compress.py; counts stay exact here
    )
    run_search(mnist1d, SMALL_REQUIREMENTS, out, settings, show_progress=False)
    return tradeoff.Run.open(out)


@pytest.fixture(scope="session")
def bundle(small_run, tmp_path_factory):
    """The small run's pick, exported once (a bundle folder: model.onnx + card.json)."""
    return tradeoff.export(small_run, tmp_path_factory.mktemp("bundles") / "model")


# Tiny models train fastest on one thread, and the test machine is shared.
torch.set_num_threads(1)


def digits_images(n: int = 400) -> Dataset:
    """scikit-learn's 8x8 digits as a 1-channel image data set (the image modality)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        name="digits-test",
        X=(bunch.images[:n, None, :, :] / 16.0).astype(np.float32),
        y=bunch.target[:n].astype(np.int64),
        task="multiclass",
        modality="image",
        classes=tuple(str(c) for c in range(10)),
    )


def small_mnist1d(n: int = 400) -> Dataset:
    data = load("mnist1d")
    return Dataset(
        name="mnist1d-small",
        X=data.X[:n],
        y=data.y[:n],
        X_test=data.X_test[:200],
        y_test=data.y_test[:200],
        task="multiclass",
        modality="sequence",
        classes=data.classes,
    )


@pytest.fixture(scope="session")
def mnist1d_small() -> Dataset:
    return small_mnist1d()


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return digits_images()


@pytest.fixture(scope="session")
def prepared_by_modality():
    """Prepared splits keyed by (modality, task kind)."""
    return {
        ("tabular", "binary"): prepare(load("breast_cancer")),
        ("tabular", "regression"): prepare(load("diabetes")),
        ("sequence", "multiclass"): prepare(small_mnist1d()),
        ("image", "multiclass"): prepare(digits_images()),
    }


def table_rule(color, size):
    """The label: linear in the one-hot colour and the size, so a logistic model learns it."""
    return size + 2.0 * (np.asarray(color) == "red") > 1.0


def table_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    size = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "color": color,
            "size": size,
            "plant": "berlin",  # constant: dropped by prepare, still a column of the table
            "shape": rng.choice(["round", "square"], n),
        }
    )
    frame["label"] = np.where(table_rule(color, size), "yes", "no")
    return frame


def searched_bundle(csv, target: str, families: list[str], requirements=None):
    """A two-trial search of ``families`` on the table ``csv`` (quick latency, no compression)
    into ``run/`` beside it, and its pick exported to ``bundle/``: ``(run, bundle)``."""
    run = tradeoff.search(
        tradeoff.datasets.load(csv, target=target),
        requirements or tradeoff.Requirements(),
        out=csv.parent / "run",
        n_trials=2,
        families=families,
        cv="off",  # the validation split: these tests are of the bundle, not of folds
        quick_latency=True,
        compress=False,
        show_progress=False,
    )
    return run, tradeoff.export(run, csv.parent / "bundle")


@pytest.fixture(scope="session")
def table_bundles(tmp_path_factory):
    """``table_bundles(family)``: a search of that family on a table with text columns, a
    constant column and missing cells, and its pick exported; built once per family."""

    @functools.cache
    def build(family: str):
        root = tmp_path_factory.mktemp(f"table-{family}")
        frame = table_frame(500, seed=0)
        frame.loc[3, "size"] = np.nan
        frame.loc[8, "color"] = None
        frame.to_csv(root / "train.csv", index=False)
        return (*searched_bundle(root / "train.csv", "label", [family]), root)

    return build


@pytest.fixture(scope="session", params=["linear", "gbdt"])
def table_bundle(table_bundles, request):
    """A network and a fitted tree ensemble (whose graph already uses the ai.onnx.ml domain
    the encoding needs), each exported from a search on the table."""
    return table_bundles(request.param)

"""A family and a compression pass from a separate installed package, found through its entry
points (``tradeoff.families``, ``tradeoff.passes``): searched and exported from the CLI.

The package (tests/plugin_pkg) is installed with pip into a folder of its own, as a user's
would be into their environment, so that ``importlib.metadata`` finds its entry points; the
CLI runs in a fresh process with that folder on its path. Nothing in tradeoff names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    # Built from a copy: a build writes its egg-info and build/ next to the sources.
    source = tmp_path_factory.mktemp("source") / "plugin_pkg"
    shutil.copytree(PACKAGE, source)
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        + ["--no-build-isolation", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("tradeoff_toy-*.dist-info/entry_points.txt"))
    return target


def _tradeoff(site: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "tradeoff", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_an_installed_packages_family_and_pass_are_searched_and_exported(site, tmp_path):
    run, model = tmp_path / "run", tmp_path / "model"
    searched = _tradeoff(
        site,
        "search",
        "iris",
        "--families",
        "linear,toy_ridge",  # the network first: the pass runs on a trained network
        "--passes",
        "toy_round",
        "--trials",
        "3",
        "--max-epochs",
        "3",
        "--quick-latency",
        "--cv",
        "off",
        "--out",
        str(run),
        "--json",
    )
    assert searched.returncode == 0, searched.stderr
    from tradeoff.frontier import Run

    trials = Run.open(run).trials()
    ridge = [r for r in trials if r.family == "toy_ridge" and r.parent_trial is None]
    assert ridge and all(r.trained and r.val_metric > 0.5 for r in ridge)
    assert any(r.compression.get("pass") == "toy_round" for r in trials)
    exported = _tradeoff(
        site, "export", str(run), "--out", str(model), "--trial", str(ridge[0].number)
    )
    assert exported.returncode == 0, exported.stderr
    card = json.loads((model / "card.json").read_text())
    assert card["lineage"]["family"] == "toy_ridge"


def test_without_the_package_its_family_is_unknown(tmp_path):
    result = _tradeoff(
        tmp_path, "search", "iris", "--families", "toy_ridge", "--out", str(tmp_path / "r")
    )
    assert result.returncode == 2
    assert "--families: unknown family 'toy_ridge'" in result.stderr

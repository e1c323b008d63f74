"""The two installs: the base one is the target agent's alone, `tradeoff[all]` searches."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from agent_process import agent_only_env, agent_process
from tradeoff._install import FULL_INSTALL, FULL_MODULES
from tradeoff.measure import (
    QUICK_PROTOCOL,
    MeasureSpec,
    Target,
    measure_on_target,
    predict_outputs,
    reference_model,
)

ROOT = Path(__file__).resolve().parents[1]
AGENT_PACKAGES = {"numpy", "onnx", "onnxruntime", "fastapi", "uvicorn"}


def _names(extra: str | None) -> set[str]:
    """The distributions the installed package's metadata requires, for ``extra`` or always."""
    names = set()
    for line in requires("tradeoff"):
        requirement = Requirement(line)
        marker = requirement.marker
        if (marker is None) if extra is None else (marker and marker.evaluate({"extra": extra})):
            names.add(requirement.name)
    return names


def test_the_base_install_is_the_agents_and_all_holds_the_rest():
    assert _names(None) == AGENT_PACKAGES
    assert _names("agent") == AGENT_PACKAGES
    # What the CLI checks for is exactly what `all` installs.
    assert _names("all") - AGENT_PACKAGES == set(FULL_MODULES.values())


def test_an_agent_only_install_answers_other_commands_in_one_line(tmp_path):
    env = agent_only_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", "search", "iris", "--time-budget", "10s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: tradeoff search needs the full install ({FULL_INSTALL})")
    assert "torch" in line and "optuna" in line and "scikit-learn" in line
    library = "import tradeoff\ntry:\n    tradeoff.search\nexcept tradeoff.TradeoffError as e:\n    print(e)"
    done = subprocess.run(
        [sys.executable, "-c", library], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("tradeoff.search needs the full install"), done.stderr
    # The agent itself starts in that environment (the agent tests run it so throughout).
    done = subprocess.run(
        [sys.executable, "-m", "tradeoff", "agent", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--token-file" in done.stdout, done.stderr


@pytest.mark.slow
def test_pip_install_of_the_agent_extra_brings_only_the_agent(tmp_path):
    """A fresh virtual environment, `pip install ".[agent]"` from this checkout (PyPI reachable),
    then a measurement through the agent it serves."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", f"{ROOT}[agent]"], check=True, timeout=900)
    listed = subprocess.run(
        [*pip, "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert installed >= AGENT_PACKAGES
    assert not installed & {*FULL_MODULES.values(), "scipy"}, installed
    tradeoff = [str(venv / "bin" / "tradeoff")]
    done = subprocess.run(
        [*tradeoff, "select", "runs/x"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "pip install" in done.stderr
    token = "t" * 32
    with agent_process(tmp_path, token=token, tradeoff=tradeoff) as (url, _):
        model, shape = reference_model()
        rows = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
        spec = MeasureSpec(shape, QUICK_PROTOCOL, memory=True, check_rows=rows)
        remote = measure_on_target(Target(url, token), model, spec)
    assert remote.latency.p95_ms > 0 and remote.inference_rss_mb > 0
    np.testing.assert_allclose(remote.check_outputs, predict_outputs(model, rows), rtol=1e-5)

"""Searching against target agents: requirements hold on every target, figures name the
agent's machine, a lost agent ends the search in one line and --resume goes on."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest

import tradeoff
from agent_process import agent_process, start_agent, stop_agent
from tradeoff.measure import cpu_model

TOKEN = "t" * 32
SEARCH = [sys.executable, "-m", "tradeoff", "search", "iris", "--families", "linear,mlp"]
SEARCH += ["--quick-latency", "--no-compress", "--max-epochs", "3", "--time-budget", "10m"]


def _env(tmp_path) -> dict:
    return {**os.environ, "TRADEOFF_TARGET_TOKEN": TOKEN}


def _finished(out) -> int:
    """Trials the search in ``out`` has ended (complete or pruned), read without writing.

    ``optuna.load_study`` would create the file and its tables if the search had not yet,
    racing the search's own schema creation; a read-only connection cannot.
    """
    path = out / "study.db"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            query = "SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')"
            return db.execute(query).fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0


def test_a_memory_limit_rejects_every_model_before_training(tmp_path):
    """No ONNX Runtime session adds under 10 kB: each candidate is rejected on memory,
    measured in a fresh process, and none is trained."""
    out = tmp_path / "run"
    done = subprocess.run(
        [*SEARCH, "--trials", "2", "--max-memory-mb", "0.01", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr  # 1 once "nothing fits" exits 1 (main)
    run = tradeoff.Run.open(out)
    assert run.select() is None
    records = run.trials()
    assert len(records) == 2
    for r in records:
        assert r.status == "infeasible" and r.train_seconds == 0.0 and not r.curve
        memory = [v for v in r.violations if v.axis == "memory"]
        assert memory and memory[0].value > memory[0].limit == 0.01, r.violations
        assert str(memory[0]).startswith("inference memory"), r.violations
        assert r.inference_rss_mb > 0.01


@pytest.mark.slow
def test_a_search_on_two_agents_picks_a_model_that_meets_every_requirement_there(tmp_path):
    with (
        agent_process(tmp_path / "a") as (url_a, _),
        agent_process(tmp_path / "b") as (url_b, _),
    ):
        out = tmp_path / "run"
        requirements = ["--max-latency-ms", "50", "--max-memory-mb", "500"]
        requirements += ["--min-throughput", "100", "--throughput-batch", "8"]
        done = subprocess.run(
            [*SEARCH, "--trials", "3", *requirements, "--agent", url_a, "--agent", url_b]
            + ["--out", str(out), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(tmp_path),
        )
        assert done.returncode == 0, done.stderr
        info = json.loads((out / "run.json").read_text())
        assert [t["url"] for t in info["targets"]] == [url_a, url_b]
        assert info["targets"][0]["machine"]["cpu"] == cpu_model()
        run = tradeoff.Run.open(out)
        pick = run.select()
        cost = run.study.trials[pick.number].user_attrs["cost"]
        assert {s["where"] for s in cost["sites"]} == {f"agent {url_a}", f"agent {url_b}"}
        assert cost["method"]["where"] in {f"agent {url_a}", f"agent {url_b}"}
        assert pick.inference_rss_mb is not None and pick.throughput_batch == 8

        bundle = tradeoff.export(run, tmp_path / "model")
        card = json.loads((bundle / "card.json").read_text())
        assert card["cost"]["method"]["machine"]["cpu"] == cpu_model()
        assert card["cost"]["method"]["where"].startswith("agent http://127.0.0.1:")
        assert card["requirements"]["max_memory_mb"] == 500

        # Re-benched through the same agent, in a fresh process: every requirement holds.
        bench = subprocess.run(
            [sys.executable, "-m", "tradeoff", "bench", str(bundle), "--agent", url_a, "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(tmp_path),
        )
        assert bench.returncode == 0, bench.stdout + bench.stderr
        checks = json.loads(bench.stdout)["checks"]
        assert len(checks) == 3 and all(c["holds"] for c in checks)


@pytest.mark.slow
def test_an_agent_killed_mid_search_ends_it_in_one_line_and_resume_goes_on(tmp_path):
    url, agent = start_agent(tmp_path / "agent")
    port = int(url.rsplit(":", 1)[1])
    out = tmp_path / "run"
    search = subprocess.Popen(
        [*SEARCH, "--trials", "30", "--agent", url, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 300
        while _finished(out) < 2 and time.monotonic() < deadline and search.poll() is None:
            time.sleep(0.2)
        assert search.poll() is None, search.communicate()[1]  # it ended before the agent went
        assert _finished(out) >= 2
        stop_agent(agent)  # the target goes away mid-search
        stderr = search.communicate(timeout=300)[1]
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 2
    lines = stderr.strip().splitlines()  # the progress bar's last state, then the error
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:] and f"target {url}: not answering" in errors[0]
    assert "--resume" in errors[0]
    before = _finished(out)

    with agent_process(tmp_path / "agent", port=port):
        done = subprocess.run(
            [*SEARCH[:4], "--resume", str(out), "--trials", "2", "--quick-latency", "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env=_env(tmp_path),
        )
    assert done.returncode in (0, 1), done.stderr  # 1: nothing met the (absent) requirements
    assert _finished(out) >= before + 2

"""The run folder's schema version: runs of every earlier version open, newer ones are refused in
one line, and a run folder opens where it was moved to.

``tests/fixtures/run-v1`` is a small run (breast_cancer, 4 trials of linear and mlp) written by
the tradeoff of schema version 1. Keep it as it is: every later version must open it. When the
version is raised, add a fixture of the new version beside it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tradeoff.errors import TradeoffError
from tradeoff.frontier import Run
from tradeoff.records import SCHEMA_VERSION, load_run_info, open_study

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def old_run(tmp_path) -> Path:
    """A copy of the version-1 fixture, elsewhere than where it was written (it must not be
    changed: reading a run may record figures in its study)."""
    return Path(shutil.copytree(FIXTURES / "run-v1", tmp_path / "moved" / "run-v1"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradeoff", *args], capture_output=True, text=True, timeout=120
    )


def test_a_version_1_run_opens_selects_and_reads_after_being_moved(old_run):
    info = json.loads((old_run / "run.json").read_text())
    assert info["schema_version"] == 1
    assert not Path(info["storage"].removeprefix("sqlite:///")).samefile(old_run / "study.db")
    run = Run.open(old_run)
    trials = run.trials()
    assert len(trials) == 4 and {t.family for t in trials} <= {"linear", "mlp"}
    pick = run.select()
    assert pick is not None and pick.val_metric > 0.8
    done = _cli("select", str(old_run), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pick"]["number"] == pick.number


def test_a_run_written_before_versions_reads_as_version_0(old_run):
    path = old_run / "run.json"
    info = json.loads(path.read_text())
    del info["schema_version"]
    path.write_text(json.dumps(info))
    assert "schema_version" not in load_run_info(old_run)
    assert Run.open(old_run).select() is not None


def test_a_run_of_a_newer_version_is_refused_in_one_line(old_run):
    path = old_run / "run.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps(info | {"schema_version": SCHEMA_VERSION + 98}))
    with pytest.raises(TradeoffError, match=f"schema version {SCHEMA_VERSION + 98}"):
        Run.open(old_run)
    done = _cli("select", str(old_run))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "newer tradeoff" in line and str(SCHEMA_VERSION + 98) in line


def test_a_study_written_by_a_newer_version_is_refused(old_run):
    # What a shared storage holds when another machine's newer tradeoff wrote it.
    with sqlite3.connect(old_run / "study.db") as db:
        db.execute(
            "UPDATE study_user_attributes SET value_json = ? WHERE key = 'schema_version'",
            (json.dumps(SCHEMA_VERSION + 1),),
        )
        assert db.total_changes == 1
    with pytest.raises(TradeoffError, match="its study.*newer tradeoff"):
        open_study(old_run)


def test_a_new_run_records_this_version(small_run):
    assert load_run_info(small_run.out)["schema_version"] == SCHEMA_VERSION
    assert open_study(small_run.out).user_attrs["schema_version"] == SCHEMA_VERSION


def test_a_moved_run_resumes_into_its_own_study(old_run):
    done = _cli("search", "--resume", str(old_run), "--trials", "1", "--json")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(old_run / "study.db") as db:
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 5
    with sqlite3.connect(FIXTURES / "run-v1" / "study.db") as db:  # the original is untouched
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 4

"""Faults of the disk under a run: a read-only run folder.

Real mounts, real errors: a read-only bind mount (needs root).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import tradeoff
from conftest import QUICK_PROTOCOL
from tradeoff.search import SearchSettings, run_search

QUICK = [
    "--quick-latency",
    "--no-compress",
    "--families",
    "linear",
    "--max-size-mb",
    "0.5",
    "--max-epochs",
    "3",
]


def tradeoff_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tradeoff", *args], capture_output=True, text=True)


def unmount(folder: Path) -> None:
    # Lazily: this process may still hold the study file open (SQLAlchemy's pool).
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


def mount(*args: str) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a read-only file system needs root and mount(8)")
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not allowed here: {result.stderr.strip()}")


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    mount("--bind", str(folder), str(folder))
    try:
        mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        unmount(folder)


def contents(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its digest and modification time."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one line of stderr, `error: ...`, of a command that exited with status 2."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def read_only_run(tmp_path_factory, mnist1d) -> Iterator[Path]:
    """A finished run in a read-only folder. Searched through the API, which leaves the test
    figure of its pick uncomputed: the report computes it and cannot record it."""
    folder = tmp_path_factory.mktemp("read-only")
    settings = SearchSettings(
        time_budget_s=None,
        n_trials=2,
        families=("linear",),
        max_epochs=3,
        protocol=QUICK_PROTOCOL,
        compression=None,
    )
    requirements = tradeoff.Requirements(max_size_mb=0.5)
    run_search(mnist1d, requirements, folder / "run", settings, show_progress=False)
    before = contents(folder)
    with read_only(folder):
        yield folder / "run"
        assert contents(folder) == before  # nothing written, nothing removed


def test_searching_into_a_read_only_folder_is_one_line_and_exit_2(read_only_run):
    new = read_only_run.parent / "new"
    result = tradeoff_cli("search", "mnist1d", *QUICK, "--trials", "1", "--out", str(new))
    assert one_error_line(result) == f"error: --out: cannot write to {new}: Read-only file system"
    assert not new.exists()


def test_resuming_a_read_only_run_is_one_line_and_exit_2(read_only_run):
    result = tradeoff_cli("search", "--resume", str(read_only_run), "--trials", "1")
    assert one_error_line(result) == (
        f"error: --resume: cannot write to {read_only_run}: Read-only file system"
    )


def test_select_reads_a_read_only_run(read_only_run):
    result = tradeoff_cli("select", str(read_only_run), "--json")
    assert result.returncode == 0, result.stderr
    assert '"pick"' in result.stdout


def test_report_of_a_read_only_run_writes_elsewhere_or_says_it_cannot(read_only_run, tmp_path):
    result = tradeoff_cli("report", str(read_only_run))
    assert one_error_line(result) == (
        f"error: cannot write {read_only_run / 'report.html'}: Read-only file system; "
        "--out writes the report elsewhere"
    )
    elsewhere = tmp_path / "report.html"
    result = tradeoff_cli("report", str(read_only_run), "--out", str(elsewhere))
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in elsewhere.read_text()  # computed, though it cannot be recorded

"""Output that survives a pipe: tables whole when stdout is piped and on an 80-column terminal,
progress on stderr (plain lines off a terminal), `--json` clean.

Each command runs as a real process: stdout a pipe, or a pseudo-terminal of 80 columns.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

import tradeoff
from tradeoff.cli._results import _key_params
from tradeoff.datasets import builtin_names
from tradeoff.families import family_names

TRADEOFF = [sys.executable, "-m", "tradeoff"]
#: Escape sequences a terminal gets (colours, cursor moves, hyperlinks): not text.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
#: What Rich prints where it cuts a name or a number short.
ELLIPSIS = "…"


def _env() -> dict:
    # No COLUMNS: the width must come from the terminal, or from there being none.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return env | {"TERM": "xterm-256color"}


def run(args: list[str], mode: str) -> tuple[int, str, str]:
    """``tradeoff args`` with stdout a pipe (``mode="pipe"``) or a pseudo-terminal of 80
    columns (``"tty"``); stderr is a pipe. Returns the exit status, stdout and stderr."""
    if mode == "pipe":
        done = subprocess.run(
            [*TRADEOFF, *args], capture_output=True, text=True, timeout=300, env=_env()
        )
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    process = subprocess.Popen(
        [*TRADEOFF, *args],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    os.close(follower)
    out = b""
    while select.select([leader], [], [], 300)[0]:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    text = ESCAPES.sub("", out.decode()).replace("\r\n", "\n")
    assert max(len(line) for line in text.splitlines()) <= 80, "the terminal's width was not used"
    return process.returncode, text, stderr


def first_cells(text: str) -> list[list[str]]:
    """Each line's words, with table borders dropped."""
    return [re.sub(r"[│┃]", " ", line).split() for line in text.splitlines()]


@pytest.mark.parametrize("mode", ["pipe", "tty"])
def test_families_lists_every_name_whole(mode):
    status, out, _ = run(["families"], mode)
    assert status == 0
    assert ELLIPSIS not in out, out
    starts = {words[0] for words in first_cells(out) if words}
    assert set(family_names()) <= starts, set(family_names()) - starts


@pytest.mark.slow  # loads every built-in data set, twice (~15 s each)
@pytest.mark.parametrize("mode", ["pipe", "tty"])
def test_datasets_lists_every_name_whole(mode):
    status, out, _ = run(["datasets"], mode)
    assert status == 0
    assert ELLIPSIS not in out, out
    rows = {words[0]: words for words in first_cells(out) if words}
    for name in builtin_names():
        assert name in rows, name  # its row in the table
        assert f"{name}:" in rows, name  # its description and source below the table
    if mode == "pipe":  # off a terminal a row is one line, as `| grep NAME` needs
        [line] = [line for line in out.splitlines() if line.split()[:1] == ["fashion_mnist"]]
        assert "60000 + 10000" in line and "[1, 28, 28]" in line and "multiclass (10)" in line


#: A short search with some two-digit trial numbers, pruned and infeasible candidates.
SEARCH = ["search", "iris", "--families", "linear,mlp,gbdt", "--trials", "12", "--cv", "off"]
SEARCH += ["--quick-latency", "--no-compress", "--max-epochs", "2", "--max-latency-ms", "0.02"]


@pytest.mark.parametrize("mode", ["pipe", "tty"])
def test_a_search_summary_shows_every_trial_number_and_family_whole(mode, tmp_path):
    out_dir = tmp_path / "run"
    status, out, err = run([*SEARCH, "--out", str(out_dir)], mode)
    assert status in (0, 1), err  # 1: nothing met the latency limit on a slow machine
    assert ELLIPSIS not in out, out
    records = tradeoff.Run.open(out_dir).trials()
    assert len(records) == 12 and max(r.number for r in records) >= 10
    families = {}  # trial number -> the family its rows name (leaderboard and front)
    for words in first_cells(out):
        if len(words) > 1 and words[0].isdigit() and words[1] in family_names():
            families.setdefault(int(words[0]), set()).add(words[1])
    assert families == {r.number: {r.family} for r in records}, out
    if mode == "pipe":  # one line per row: each configuration whole
        for record in records:
            assert _key_params(record) in out, _key_params(record)
    # Progress went to stderr: plain lines off a terminal, none of them cut.
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("done after") and ELLIPSIS not in err, err
    assert all(line.startswith(("searching,", "done after")) for line in lines), err
    assert "\x1b" not in err and "\r" not in err


def test_search_json_stays_one_object_with_progress_on_stderr(tmp_path):
    out_dir = tmp_path / "run"
    args = ["search", "iris", "--families", "linear", "--trials", "2", "--cv", "off"]
    args += ["--quick-latency", "--no-compress", "--max-epochs", "2", "--json"]
    status, out, err = run([*args, "--out", str(out_dir)], "pipe")
    assert status == 0, err
    assert json.loads(out)["counts"]["trials"] == 2  # the whole of stdout is one object
    last = err.strip().splitlines()[-1]
    assert last.startswith("done after") and ": trials 2 · feasible" in last, err

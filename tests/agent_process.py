"""A real `tradeoff agent` in a subprocess on loopback, for tests.

The agent runs pinned to core 0 where the OS allows it (``os.sched_setaffinity``; the
search and the tests train on the others), and with the main package's own dependencies
made unimportable (a ``sitecustomize`` on its PYTHONPATH, inherited by its measuring
processes): so every agent test also shows the agent runs with the ``agent`` extra alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tradeoff._install import FULL_MODULES

#: Top-level modules the full install brings and the agent must not: blocked in the agent.
NOT_FOR_THE_AGENT = (*FULL_MODULES, "scipy")

_BLOCKER = f"""
import sys
class _Blocked:
    names = {NOT_FOR_THE_AGENT!r}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{{name}} is not installed for the agent (blocked by the test)")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pin_to_core_0() -> None:
    if hasattr(os, "sched_setaffinity"):
        # Core 0 may not be ours (a container's cpuset): then the agent runs unpinned.
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {0})


def agent_only_env(tmp: Path) -> dict[str, str]:
    """The environment of a process that can import this package but none of
    :data:`NOT_FOR_THE_AGENT`: what an install of the ``agent`` extra alone sees."""
    site = tmp / "agent-site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER)
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), src])}


def start_agent(
    tmp: Path,
    *args: str,
    token: str | None = "t" * 32,
    port: int | None = None,
    tradeoff: list[str] | None = None,
):
    """Start an agent and wait until it answers; returns ``(url, process)`` (caller stops it).

    ``tradeoff`` is the command to run (by default this interpreter on this checkout, with the
    full install's packages blocked); an installed ``tradeoff`` script runs as it is.
    """
    port = port or free_port()
    env = agent_only_env(tmp) if tradeoff is None else dict(os.environ)
    command = [
        *(tradeoff or [sys.executable, "-m", "tradeoff"]),
        "agent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if token is not None:
        token_file = tmp / "agent-token"
        token_file.write_text(token + "\n")
        command += ["--token-file", str(token_file)]
    process = subprocess.Popen(
        [*command, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_pin_to_core_0,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the agent exited: {process.stderr.read()}")
        try:
            urllib.request.urlopen(url + "/info", timeout=2)
            return url, process
        except urllib.error.HTTPError:  # 401: it answers
            return url, process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the agent did not start within 60 s")


def stop_agent(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()


@contextmanager
def agent_process(
    tmp: Path,
    *args: str,
    token: str | None = "t" * 32,
    port: int | None = None,
    tradeoff: list[str] | None = None,
):
    url, process = start_agent(tmp, *args, token=token, port=port, tradeoff=tradeoff)
    try:
        yield url, process
    finally:
        stop_agent(process)


def call(url: str, path: str, payload: dict | None = None, token: str | None = "t" * 32):
    """``(status, json body, headers)`` of one request, errors included."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

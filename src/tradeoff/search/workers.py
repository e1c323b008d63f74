"""Surviving faults and sharing a machine: trials of dead workers, atomic artifacts, the cost lock.

* A trial records which process runs it; a resumed search fails the RUNNING trials
  of processes that died on this host (kill -9, power loss) and retries their
  configurations. Workers on other hosts are covered by Optuna's heartbeat.
* Artifacts are written to a temporary file and renamed, so a half-written model is
  never referenced.
* Latency is measured under an exclusive machine-wide lock while training holds it
  shared between epochs, so a measurement never overlaps another worker's training.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

from tradeoff.search import record as rec

#: Trial user attribute naming the process that runs it: "host:pid".
WORKER = "worker"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_orphans(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose worker process on this host is gone; retry their configs.

    Returns the numbers of the trials failed.
    """
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(WORKER, "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, rec.ERROR, f"worker {owner} died mid-trial")
        if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            failed.append(trial.number)
    return failed


class AtomicArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system artifact store, writing each file under a temporary name first."""

    def __init__(self, base_path: str | os.PathLike) -> None:
        super().__init__(str(base_path))
        self._base = Path(base_path)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._base, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as file:
                while chunk := content_body.read(1 << 20):
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self._base / artifact_id)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class CostLock:
    """A machine-wide readers-writer lock: many trainers, or one latency measurement.

    Trainers pass a gate before taking the lock shared, so a waiting measurement
    blocks new epochs from starting and gets the machine as soon as the epochs in
    flight end (no writer starvation).
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        base = Path(directory or tempfile.gettempdir())
        user = os.getuid() if hasattr(os, "getuid") else 0
        self._gate = base / f"tradeoff-{user}-cost.gate"
        self._lock = base / f"tradeoff-{user}-cost.lock"

    @contextmanager
    def measuring(self) -> Iterator[None]:
        with open(self._gate, "a") as gate, open(self._lock, "a") as lock:
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)

    @contextmanager
    def training(self) -> Iterator[callable]:
        """Hold the lock shared; the yielded ``checkpoint()`` lets a waiting measurement in."""
        with open(self._lock, "a") as lock:
            self._pass_gate()
            fcntl.flock(lock, fcntl.LOCK_SH)

            def checkpoint() -> None:
                fcntl.flock(lock, fcntl.LOCK_UN)
                self._pass_gate()
                fcntl.flock(lock, fcntl.LOCK_SH)

            try:
                yield checkpoint
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _pass_gate(self) -> None:
        with open(self._gate, "a") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(gate, fcntl.LOCK_UN)

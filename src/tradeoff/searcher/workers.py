"""Surviving faults and sharing a machine: dead workers, a full disk, the cost lock.

* A trial records which process runs it; a resumed search fails the RUNNING trials
  of processes that died on this host (kill -9, power loss) and retries their
  configurations. Workers on other hosts are covered by Optuna's heartbeat.
* Artifacts are written atomically by :mod:`tradeoff.records`.
* A full disk ends the search (:class:`DiskFull`) instead of failing every later trial.
* Latency is measured under an exclusive machine-wide lock while training holds it
  shared between epochs, so a measurement never overlaps another worker's training.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tradeoff.errors import TradeoffError
from tradeoff.records import attrs as rec
from tradeoff.records.attrs import WORKER


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


def reclaim_orphans(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Fail the RUNNING trials whose worker process on this host is gone; retry their configs.

    The retry is enqueued with every parameter the dead trial had drawn, so the parameters
    it had not drawn yet (a kill during the suggestion) are sampled anew and the others are
    kept, whatever phase the kill landed in. ``storage`` is the one ``study`` was opened with
    (a trial that is not this process's own is changed through the storage's public API).
    Returns the numbers of the trials failed.
    """
    host = socket.gethostname()
    failed = []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(WORKER, "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, rec.ERROR, f"worker {owner} died mid-trial")
        if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            retry = {"retry_of": trial.number}
            if rec.SEEDED in trial.user_attrs:  # a seeded trial's retry trains on all rows too
                retry[rec.SEEDED] = trial.user_attrs[rec.SEEDED]
            study.enqueue_trial(trial.params, user_attrs=retry)
            failed.append(trial.number)
    return failed


class TargetDown(BaseException):
    """A target's agent stopped answering during a trial.

    A BaseException, like :class:`DiskFull`, so that it ends the search instead of failing
    every later trial; the trial stays RUNNING and ``--resume`` runs it again.
    """

    def __init__(self, message: str, trial: int) -> None:
        super().__init__(message)
        self.trial = trial


class DiskFull(BaseException):
    """A trial could not write its model or its record: the disk is full.

    A BaseException, so that it gets through ``study.optimize(catch=(Exception,))`` and
    ends the search rather than failing every later trial the same way. The trial stays
    RUNNING; ``--resume``, once there is room, fails it and runs its configuration again.
    """

    def __init__(self, trial: int) -> None:
        super().__init__(f"disk full during trial {trial}")
        self.trial = trial


def disk_full(error: BaseException | None) -> OSError | sqlite3.Error | None:
    """The error saying that the disk is full, if ``error`` is one or was raised from one."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return error
        if isinstance(error, sqlite3.Error) and "disk is full" in str(error):
            return error
        error = error.__cause__ or error.__context__
    return None


def disk_full_error(full: OSError | sqlite3.Error, storage: str, doing: str) -> TradeoffError:
    """One line naming what could not be written for lack of room, and what was being done."""
    if isinstance(full, sqlite3.Error):
        where, reason = storage.removeprefix("sqlite:///"), str(full)
    else:
        # Run files and artifacts are named (see AtomicArtifactStore); the writes that name no
        # file are those of temporary files (ONNX export, quantization).
        where, reason = full.filename or tempfile.gettempdir(), full.strerror
    return TradeoffError(f"{where}: disk full ({reason}) while {doing}")


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

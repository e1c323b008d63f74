"""Where a run's study and model files live: run folder layout, storage URLs, opening a study,
run.json.

Kept free of the training stack so that reading a finished run (`tradeoff select`, the
report) starts fast: it imports Optuna, not PyTorch.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import optuna
from sqlalchemy import event

from tradeoff.errors import TradeoffError
from tradeoff.records._files import write_atomic

RUN_FILE, STUDY_FILE, ARTIFACT_DIR, STUDY_NAME = "run.json", "study.db", "artifacts", "tradeoff"
#: The version of the run folder (run.json, the study's user attributes, each trial's record)
#: this tradeoff writes and the newest it reads. Raise it when a change would make an older
#: tradeoff misread a run, and keep reading the older ones (tests/fixtures/run-v*/).
SCHEMA_VERSION = 1
#: Seconds between a running trial's heartbeats, and after which a silent trial counts as dead.
HEARTBEAT_S, GRACE_S = 10, 60


def storage_url(out: Path) -> str:
    return f"sqlite:///{(out / STUDY_FILE).resolve()}"


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so trials of workers that vanish are failed and retried."""
    sqlite = url.startswith("sqlite")
    engine_kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1
                ),
            )
    except Exception as error:  # SQLAlchemy/driver errors: a bad URL, a foreign file
        raise TradeoffError(
            f"--storage: cannot open {redact_password(url)}: {error}".splitlines()[0]
        ) from None
    if sqlite:
        _begin_immediate(storage.engine)
    return storage


def _begin_immediate(engine) -> None:
    """Make each SQLite transaction hold the write lock from its first statement.

    pysqlite reads outside a transaction and begins one only at the first write, so two
    workers could both read a queued trial as WAITING and both set it RUNNING (optuna#4002):
    both trained it, and the second one's tell failed with "Cannot tell a COMPLETE trial".
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # the connections opened while creating the tables predate the listeners


def check_writable(folder: Path, flag: str) -> None:
    """Create ``folder`` if need be and fail in one line, before anything is written, if files
    cannot be made in it (a read-only mount, no permission); SQLite would fail obscurely."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise TradeoffError(f"{flag}: cannot write to {folder}: {error.strerror}") from None


def artifact_location(out: str | os.PathLike, info: dict) -> Path:
    """Where a run's model files are: ``info["artifacts"]``, relative to the run folder if not absolute."""
    return Path(out) / info.get("artifacts", ARTIFACT_DIR)


def write_run_info(out: str | os.PathLike, info: dict) -> None:
    """Write the run folder's ``run.json`` (whole or not at all)."""
    write_atomic(Path(out) / RUN_FILE, json.dumps(info, indent=2))


def load_run_info(out: str | os.PathLike) -> dict:
    """A run folder's ``run.json``, or a one-line error: missing, unreadable, or written by a
    newer tradeoff than this one (its schema version names which)."""
    path = Path(out) / RUN_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise TradeoffError(f"{out}: not a tradeoff run folder (no {RUN_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TradeoffError(f"{path}: unreadable run description ({error})") from None
    check_schema(info.get("schema_version", 0), str(out))
    return info


def check_schema(version: object, where: str) -> None:
    """Refuse, in one line, a run written in a schema this tradeoff does not know."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise TradeoffError(f"{where}: run folder schema version {version!r} is not a version")
    if version > SCHEMA_VERSION:
        raise TradeoffError(
            f"{where}: written by a newer tradeoff (run folder schema version {version}; this "
            f"tradeoff reads versions 0 to {SCHEMA_VERSION}): upgrade tradeoff to read it"
        )


def run_storage_url(out: str | os.PathLike, info: dict) -> str:
    """Where the study of run folder ``out`` (described by ``info``) lives: the folder's own
    study file when it has one, even where run.json names another path (the folder was moved
    or copied; the original's study is another run), else the storage run.json names."""
    url = info.get("storage", storage_url(Path(out)))
    if url.startswith("sqlite:///") and (Path(out) / STUDY_FILE).is_file():
        return storage_url(Path(out))
    return url


def open_study(out: str | os.PathLike) -> optuna.Study:
    """The study of run folder ``out``, wherever its storage lives."""
    info = load_run_info(out)
    url = run_storage_url(out, info)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise TradeoffError(f"{out}: the study file {url.removeprefix('sqlite:///')} is missing")
    try:
        study = optuna.load_study(
            study_name=info.get("study", STUDY_NAME), storage=make_storage(url)
        )
    except KeyError:
        raise TradeoffError(f"{out}: its storage holds no study {info.get('study')!r}") from None
    # A shared storage can be written by another machine's tradeoff: the study says its version.
    check_schema(study.user_attrs.get("schema_version", 0), f"{out} (its study)")
    return study


def redact_password(url: str) -> str:
    """A storage URL without its password."""
    head, sep, tail = url.partition("://")
    if sep and "@" in tail:
        credentials, _, host = tail.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{head}://{user}:***@{host}" if ":" in credentials else url
    return url

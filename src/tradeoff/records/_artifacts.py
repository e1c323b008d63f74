"""A run's model files: Optuna's artifact store, written atomically, and the upload/download
that every part goes through.

Artifacts are written to a temporary file and renamed, so a half-written model is never
referenced (run files go through :func:`tradeoff.records.write_atomic` the same way).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact


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
        except OSError as error:  # a failed write() names no file: name the folder
            Path(tmp).unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror, str(self._base)) from error
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def artifact_store(location: str | os.PathLike) -> AtomicArtifactStore:
    """The artifact store in folder ``location`` (created if need be)."""
    Path(location).mkdir(parents=True, exist_ok=True)
    return AtomicArtifactStore(location)


def store_artifact(
    trial: optuna.Trial | optuna.Study,
    store: FileSystemArtifactStore,
    payload: bytes,
    name: str,
) -> str:
    """Upload ``payload`` as a file called ``name``, attached to ``trial``; returns its id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as file:
            file.write(payload)
        return upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)


def fetch_artifact(store: FileSystemArtifactStore, artifact_id: str) -> bytes:
    """The bytes of artifact ``artifact_id``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "artifact")
        download_to(store, artifact_id, path)
        with open(path, "rb") as file:
            return file.read()


def download_to(store: FileSystemArtifactStore, artifact_id: str, path: str | os.PathLike) -> None:
    """Copy artifact ``artifact_id`` to ``path`` (raises Optuna's ArtifactNotFound if missing)."""
    download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)

"""The one atomic write of a run's files (run.json, the report, a predictions file).

Free of Optuna, so that writing predictions from a bundle loads nothing of the search.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | os.PathLike, content: str | bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file next to it, then a rename).

    A failed write names ``path`` (the temporary file's name would mean nothing to a user).
    """
    path = Path(path)
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
    except OSError as error:  # a failed write() names no file: name it
        if tmp.exists():  # unlinking in a read-only folder fails even for no file
            tmp.unlink()
        raise OSError(error.errno, error.strerror, str(path)) from error
    os.replace(tmp, path)

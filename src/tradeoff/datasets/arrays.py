"""NumPy arrays: an ``.npz`` holding ``X`` and ``y``, or an ``.npy`` of inputs plus an ``.npy`` of labels.

The shape tells the modality: ``[N, F]`` tabular, ``[N, T, C]`` sequence,
``[N, C, H, W]`` image. ``--modality`` disambiguates: ``[N, T]`` read as a
one-channel sequence, ``[N, H, W]`` as one-channel images. Files are opened
with ``allow_pickle=False``: an object array is refused, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.datasets._base import Dataset, register_format
from tradeoff.datasets._target import encode_target
from tradeoff.errors import TradeoffError

#: Array rank -> the modality it means when --modality is not given.
_DEFAULT_MODALITY = {2: "tabular", 3: "sequence", 4: "image"}


def _check_arrays(X: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    if X.ndim < 2 or len(X) == 0:
        raise TradeoffError(
            f"{x_name}: X must hold at least one example, shaped [N, ...]; got shape {X.shape}"
        )
    if y.ndim != 1:
        raise TradeoffError(f"{y_name}: labels must be one-dimensional [N], got shape {y.shape}")
    if len(X) != len(y):
        raise TradeoffError(f"{x_name}: X has {len(X)} rows but y has {len(y)}; they must match")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TradeoffError(f"{x_name}: X holds non-numeric values (dtype {X.dtype})")
    if np.issubdtype(X.dtype, np.floating) and np.isinf(X).any():
        raise TradeoffError(f"{x_name}: X holds infinite values")


@register_format(".npz", ".npy")
def load_arrays(
    path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Load ``X``/``y`` from an ``.npz``, or ``X`` from ``path`` and ``y`` from ``target`` (``.npy``)."""
    if image_size is not None:
        raise TradeoffError(f"--image-size: applies to image folders, not to {path.name}")
    if path.suffix.lower() == ".npz":
        if target is not None:
            raise TradeoffError(f"--target: {path.name} holds its own y; drop --target")
        X, y = _read_npz(path)
        y_name = f"{path.name}: y"
    else:
        if target is None:
            raise TradeoffError(
                f"--target: give the .npy file of labels for {path.name} (e.g. --target y.npy)"
            )
        labels = Path(target).expanduser()
        if not labels.exists():
            raise TradeoffError(f"--target: {target}: no such file")
        if labels.is_dir():
            raise TradeoffError(f"--target: {target}: is a folder, but an .npy file is expected")
        X, y = _read_npy(path, "X"), _read_npy(labels, "y")
        y_name = f"{labels.name}"
        target = str(labels.resolve())
    _check_arrays(X, y, path.name, y_name)
    X, modality = _shape_for(X, modality, path.name)

    labels_series = pd.Series(y)
    missing = labels_series.isna().to_numpy()
    if missing.any():
        X, labels_series = X[~missing], labels_series[~missing].reset_index(drop=True)
    encoded = encode_target(labels_series, culprit=y_name, task=task)
    return Dataset(
        name=path.name,
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=encoded.y,
        task=encoded.task,
        modality=modality,
        classes=encoded.classes,
        description=f"{path.name}: {len(X)} examples shaped {tuple(X.shape[1:])} ({modality})",
        source={"name": str(path), "target": target, "task": task, "modality": modality},
        target="y",
        n_missing_target_dropped=int(missing.sum()),
    )


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = {k.lower(): k for k in archive.files}
            if "x" not in keys or "y" not in keys:
                found = ", ".join(archive.files) or "nothing"
                raise TradeoffError(f"{path.name}: expected arrays named X and y, found {found}")
            return _get(archive, keys["x"], path), _get(archive, keys["y"], path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise TradeoffError(f"{path.name}: cannot read it as .npz ({error})") from None


def _get(archive, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError:
        raise TradeoffError(
            f"{path.name}: array {key!r} holds non-numeric (object) values; save a numeric array"
        ) from None


def _read_npy(path: Path, role: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise TradeoffError(
                f"{path.name}: {role} holds non-numeric (object) values; save a numeric array"
            ) from None
        raise TradeoffError(f"{path.name}: cannot read it as .npy ({error})") from None
    except (OSError, EOFError) as error:
        raise TradeoffError(f"{path.name}: cannot read it as .npy ({error})") from None


def _shape_for(X: np.ndarray, modality: str | None, name: str) -> tuple[np.ndarray, str]:
    """Give X the layout of its modality, adding a channel axis where one is implied."""
    modality = modality or _DEFAULT_MODALITY.get(X.ndim)
    if modality == "tabular" and X.ndim == 2:
        return X, modality
    if modality == "sequence" and X.ndim in (2, 3):
        return (X[:, :, None] if X.ndim == 2 else X), modality
    if modality == "image" and X.ndim in (3, 4):
        return (X[:, None] if X.ndim == 3 else X), modality
    expected = {
        "tabular": "[N, F]",
        "sequence": "[N, T] or [N, T, C]",
        "image": "[N, H, W] or [N, C, H, W]",
    }
    if modality is None:
        raise TradeoffError(f"{name}: X has shape {X.shape}; expected 2 to 4 dimensions")
    raise TradeoffError(
        f"{name}: X has shape {X.shape}, which is not {modality} data {expected[modality]}"
    )

"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package: idx files read with NumPy.

The package installs the four gzipped idx files of Zalando's release under
``/usr/share/datasets/fashion-mnist``: 60,000 training and 10,000 test images
of 28x28 grey pixels, 10 classes of clothing. Nothing is downloaded;
``TRADEOFF_FASHION_MNIST_DIR`` points at another folder holding the same files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from tradeoff.datasets._base import Dataset, register_dataset
from tradeoff.errors import TradeoffError

#: Where Debian's package puts the files.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FILES = {
    "X": "train-images-idx3-ubyte",
    "y": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
#: The idx type codes (the third byte of the magic number) NumPy reads as they are.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An idx file (LeCun's MNIST format, gzipped or not) as a NumPy array.

    >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
    (10000,)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise TradeoffError(f"{path}: cannot read it as an idx file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise TradeoffError(f"{path}: not an idx file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise TradeoffError(f"{path}: idx header cut short")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise TradeoffError(
            f"{path}: idx header says {shape} ({expected} bytes) but {len(raw) - header} follow"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def fashion_mnist_from(folder: str | os.PathLike) -> Dataset:
    """Fashion-MNIST read from ``folder`` holding the four idx files (``.gz`` or not)."""
    folder = Path(folder)
    arrays = {}
    for key, stem in FILES.items():
        found = [folder / f"{stem}.gz", folder / stem]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            raise TradeoffError(
                f"fashion_mnist: {found[0]} not found; the data set comes from the Debian "
                f"package {DEBIAN_PACKAGE}: install it with `sudo apt-get install -y "
                f"{DEBIAN_PACKAGE}` (or set TRADEOFF_FASHION_MNIST_DIR to a folder of its idx files)"
            )
        arrays[key] = read_idx(path)
    for images, labels in (("X", "y"), ("X_test", "y_test")):
        x, y = arrays[images], arrays[labels]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise TradeoffError(
                f"fashion_mnist: {FILES[images]} {x.shape} and {FILES[labels]} {y.shape} "
                "are not images [N, H, W] with N labels"
            )
        if len(y) and int(y.max()) >= len(CLASSES):
            raise TradeoffError(f"fashion_mnist: {FILES[labels]} holds label {int(y.max())} > 9")
    return Dataset(
        name="fashion_mnist",
        # Pixels 0..255 to 0..1, one channel: [N, 1, 28, 28].
        X=(arrays["X"].astype(np.float32) / 255.0)[:, None],
        y=arrays["y"].astype(np.int64),
        X_test=(arrays["X_test"].astype(np.float32) / 255.0)[:, None],
        y_test=arrays["y_test"].astype(np.int64),
        task="multiclass",
        modality="image",
        classes=CLASSES,
        description="Fashion-MNIST: clothing, 28x28 grey images (image, 10 classes)",
    )


@register_dataset("fashion_mnist", origin=f"Debian package {DEBIAN_PACKAGE} ({DEBIAN_DIR})")
def fashion_mnist(seed: int = 0) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 images, 10 classes."""
    return fashion_mnist_from(os.environ.get("TRADEOFF_FASHION_MNIST_DIR") or DEBIAN_DIR)

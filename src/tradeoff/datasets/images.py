"""Image folders: one sub-folder per class, PNG/JPEG/BMP/GIF files read with Pillow.

Every image is resized to ``image_size`` x ``image_size`` (default 32) and
scaled to [0, 1]; the result is ``[N, C, H, W]`` float32. All images must
have the same channel count (1 for grey, 3 for colour, 4 with alpha): a
folder that mixes them is refused rather than silently converted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeoff.datasets._base import FOLDER, Dataset, register_format
from tradeoff.datasets._target import encode_target
from tradeoff.errors import TradeoffError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DEFAULT_IMAGE_SIZE = 32


@register_format(FOLDER)
def load_image_folder(
    path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Load ``path/<class>/<image>`` files as a classification data set."""

    if target is not None:
        raise TradeoffError(
            f"--target: {path.name} is an image folder; its sub-folders are the classes"
        )
    if modality not in (None, "image"):
        raise TradeoffError(f"--modality: {path.name} is a folder of images, not {modality} data")
    if task == "regression":
        raise TradeoffError(
            "--task: an image folder's sub-folders are classes; regression is not possible"
        )
    size = image_size or DEFAULT_IMAGE_SIZE
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise TradeoffError(
            f"{path}: a folder of images needs one sub-folder per class; found none"
        )

    images: list[np.ndarray] = []
    labels: list[str] = []
    first_of: dict[int, Path] = {}  # channel count -> the first file that had it
    for class_dir in class_dirs:
        for file in sorted(class_dir.iterdir()):
            if file.name.startswith(".") or file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            pixels = read_image(file, size, size)
            first_of.setdefault(pixels.shape[0], file)
            if len(first_of) > 1:
                (a, fa), (b, fb) = list(first_of.items())[:2]
                raise TradeoffError(
                    f"{path}: images of mixed channel counts: {fa.relative_to(path)} has {a}, "
                    f"{fb.relative_to(path)} has {b}; convert them to one mode"
                )
            images.append(pixels)
            labels.append(class_dir.name)
    if not images:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise TradeoffError(f"{path}: no image files ({suffixes}) in its class sub-folders")
    encoded = encode_target(pd.Series(labels), culprit=f"{path}: classes", task=task)
    X = np.stack(images).astype(np.float32)
    return Dataset(
        name=path.name,
        X=X,
        y=encoded.y,
        task=encoded.task,
        modality="image",
        classes=encoded.classes,
        description=f"{path.name}: {len(X)} images, {len(encoded.classes)} classes, {X.shape[1:]}",
        source={"name": str(path), "task": task, "image_size": image_size},
        target="class folder",
    )


def read_image(file: Path, height: int, width: int) -> np.ndarray:
    """One image file as float32 ``[channels, height, width]`` in 0..1, resized bilinearly.

    The convention every image-folder model is trained with, and that ``tradeoff predict``
    applies to new images.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            image.load()
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode in ("I", "I;16", "F", "1"):
                image = image.convert("L")
            pixels = np.asarray(image.resize((width, height), Image.BILINEAR), np.float32)
    except (UnidentifiedImageError, OSError) as error:
        raise TradeoffError(f"{file}: cannot read it as an image ({error})") from None
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return pixels / 255.0

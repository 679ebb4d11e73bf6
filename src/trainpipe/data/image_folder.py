"""Images kept as files, a folder per class, read into the table every later stage trains on.

``data.source: photos/`` (or ``s3://bucket/photos/``) with ``photos/cat/*.png`` and
``photos/dog/*.jpg`` is detected as an image folder without further keys: the label is the
subfolder's name
(:mod:`trainpipe.data.class_folders` lists and validates the folders). Each file is decoded with
Pillow, converted to the channels of ``model.image_shape`` (1: grayscale, 3: RGB), centre-cropped
to its aspect ratio and resized to its height and width (``ImageOps.fit``), and becomes one row
of ``pixel_<c>_<y>_<x>`` values in [0, 1]. The statistics list the files per class, the decoded
sizes and modes, the skipped files, and the files whose bytes repeat another file's.
"""

from __future__ import annotations

import io
from collections import Counter
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.data.class_folders import (
    FolderReport,
    has_class_folders,
    read_class_folders,
    spread,
)
from trainpipe.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "check_image_shape",
    "decode_image",
    "image_statistics",
    "is_image_folder",
    "pixel_columns",
    "read_image_folder",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
"""The files an image folder's class folders hold (compared in lower case)."""


def is_image_folder(source: str) -> bool:
    """True for a local folder or object-store prefix whose visible subfolders hold PNG or JPEG
    files."""
    return has_class_folders(source, IMAGE_SUFFIXES)


def pixel_columns(image_shape: list[int]) -> list[str]:
    """``pixel_<c>_<y>_<x>`` for every value of a ``[channels, height, width]`` image."""
    channels, height, width = image_shape
    return [f"pixel_{c}_{y}_{x}" for c in range(channels) for y in range(height)
            for x in range(width)]  # fmt: skip


def decode_image(
    data: bytes, path: str, image_shape: list[int]
) -> tuple[np.ndarray, dict[str, Any]]:
    """One file's bytes as ``image_shape`` uint8 pixels, channel-major and flattened, and its
    size and mode before conversion (the table scales them to [0, 1]: a quarter of the bytes to
    move between decoding processes).

    Raises:
        DataError: the file does not decode (naming ``path`` and the decoder's error).
    """
    from PIL import Image, ImageOps

    channels, height, width = image_shape
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            info = {"width": image.width, "height": image.height, "mode": image.mode}
            converted = image.convert("L" if channels == 1 else "RGB")
            fitted = ImageOps.fit(converted, (width, height))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path} does not decode as an image ({exc})") from exc
    pixels = np.asarray(fitted, dtype=np.uint8)
    return pixels.reshape(height, width, channels).transpose(2, 0, 1).ravel(), info


def read_image_folder(
    source: str,
    *,
    image_shape: list[int],
    label: str,
    bad_files: str = "fail",
    decode_workers: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Decode every image of ``source``'s class folders into one row of pixels; return the
    table and the statistics' ``images`` entry. ``decode_workers``: ``data.decode_workers``
    (:func:`~trainpipe.data.class_folders.decode_workers`).

    Raises:
        DataError: ``image_shape`` is not ``[1 or 3, height, width]``, a class folder has no
            images, or (``bad_files: fail``) a file does not decode; the message names it.
    """
    check_image_shape(source, image_shape)
    frame, report = read_class_folders(
        source,
        suffixes=IMAGE_SUFFIXES,
        kind="image",
        decode=partial(decode_image, image_shape=image_shape),
        columns=pixel_columns(image_shape),
        label=label,
        bad_files=bad_files,
        workers=decode_workers,
    )
    return frame, image_statistics(report, image_shape)


def check_image_shape(source: str, image_shape: list[int]) -> None:
    """Refuse an ``image_shape`` that is not ``[1 or 3, height, width]``, naming the setting."""
    if len(image_shape) != 3 or image_shape[0] not in (1, 3) or min(image_shape) < 1:
        raise DataError(
            f"data.source {source} is an image folder: set model.image_shape to [channels, "
            f"height, width] with 1 (grayscale) or 3 (RGB) channels, the size every image is "
            f"resized to (got {image_shape or 'nothing'})"
        )


def image_statistics(report: FolderReport, image_shape: list[int]) -> dict[str, Any]:
    """The statistics' ``image`` entry: the folder's counts, the decoded sizes and modes."""
    found = report.decoded
    return {
        **report.to_dict(),
        "resized_to": list(image_shape),
        "width": spread([info["width"] for info in found]),
        "height": spread([info["height"] for info in found]),
        "modes": dict(Counter(info["mode"] for info in found)),
    }

"""Images kept as files, a folder per class, read into the table every later stage trains on.

``data.source: photos/`` with ``photos/cat/*.png`` and ``photos/dog/*.jpg`` is detected as an
image folder without further keys: the label is the subfolder's name. Each file is decoded with
Pillow, converted to the channels of ``model.image_shape`` (1: grayscale, 3: RGB), centre-cropped
to its aspect ratio and resized to its height and width (``ImageOps.fit``), and becomes one row
of ``pixel_<c>_<y>_<x>`` values in [0, 1]. The folder is validated as ingest validates tables:

- a class folder without PNG or JPEG files, a file that does not decode (corrupt or truncated),
  and a folder without class folders are refused with the path named; with
  ``data.bad_files: skip`` an undecodable file is skipped instead, and counted;
- the statistics list the files per class, the decoded sizes and modes, the skipped files, and
  the files whose bytes repeat another file's (by SHA-256).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolderReport",
    "decode_image",
    "image_files",
    "is_image_folder",
    "pixel_columns",
    "read_image_files",
    "read_image_folder",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
"""The files an image folder's class folders hold (compared in lower case)."""
SKIPPED_SHOWN = 5


@dataclass
class ImageFolderReport:
    """What reading the folder found, for the statistics (``stats["images"]``)."""

    classes: dict[str, int] = field(default_factory=dict)
    """Files read per class."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files that did not decode (``data.bad_files: skip``), each with the decoder's error."""
    duplicate_files: int = 0
    """Files whose bytes repeat an earlier file's (the table's duplicate rules see them too)."""
    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    modes: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``stats.json``: counts, size ranges, modes and the skipped files."""

        def spread(values: list[int]) -> dict[str, float]:
            return {"min": min(values), "median": float(np.median(values)), "max": max(values)}

        return {
            "layout": "class folders",
            "files_per_class": dict(self.classes),
            "files": sum(self.classes.values()),
            "skipped_files": len(self.skipped),
            "skipped": self.skipped[:SKIPPED_SHOWN],
            "duplicate_files": self.duplicate_files,
            "width": spread(self.widths) if self.widths else {},
            "height": spread(self.heights) if self.heights else {},
            "modes": dict(self.modes),
        }


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "_"))


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and _visible(p)
        and p.suffix.lower() in IMAGE_SUFFIXES
    )  # fmt: skip


def is_image_folder(source: str) -> bool:
    """True for a local folder whose visible subfolders hold PNG or JPEG files."""
    root = Path(source).expanduser()
    if not root.is_dir():
        return False
    return any(
        sub.is_dir() and _visible(sub) and _images(sub) for sub in root.iterdir()
    )  # fmt: skip


def read_image_folder(
    source: str, *, image_shape: list[int], label: str, bad_files: str = "fail"
) -> tuple[pd.DataFrame, ImageFolderReport]:
    """Decode every image of ``source``'s class folders into one row of pixels.

    Raises:
        DataError: ``image_shape`` is not ``[1 or 3, height, width]``, a class folder has no
            images, or (``bad_files: fail``) a file does not decode; the message names it.
    """
    root = Path(source).expanduser()
    if len(image_shape) != 3 or image_shape[0] not in (1, 3) or min(image_shape) < 1:
        raise DataError(
            f"data.source {source} is an image folder: set model.image_shape to [channels, "
            f"height, width] with 1 (grayscale) or 3 (RGB) channels, the size every image is "
            f"resized to (got {image_shape or 'nothing'})"
        )
    classes = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not classes:
        raise DataError(
            f"data.source {source}: no class folders; put each class's images in a subfolder "
            "named after the class"
        )
    report = ImageFolderReport()
    seen: set[str] = set()
    rows: list[np.ndarray] = []
    labels: list[str] = []
    for folder in classes:
        files = _images(folder)
        if not files:
            raise DataError(
                f"data.source {source}: class folder {folder} has no PNG or JPEG files; add "
                "its images or remove the folder"
            )
        read = 0
        for path in files:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            report.duplicate_files += digest in seen
            seen.add(digest)
            try:
                pixels, image_info = decode_image(path, image_shape)
            except DataError as exc:
                if bad_files != "skip":
                    raise DataError(
                        f"data.source {source}: {exc}; replace or remove it, or set "
                        "data.bad_files: skip to skip such files (counted in the statistics)"
                    ) from exc
                report.skipped.append({"file": str(path), "error": str(exc.__cause__)})
                continue
            report.widths.append(image_info.width)
            report.heights.append(image_info.height)
            report.modes[image_info.mode] += 1
            rows.append(pixels)
            labels.append(folder.name)
            read += 1
        report.classes[folder.name] = read
    if not rows:
        raise DataError(f"data.source {source}: none of its images decode")
    frame = pd.DataFrame(np.stack(rows), columns=pixel_columns(image_shape))
    frame[label] = labels
    return frame, report


@dataclass(frozen=True)
class ImageInfo:
    """What a file held before it was converted and resized."""

    width: int
    height: int
    mode: str


def pixel_columns(image_shape: list[int]) -> list[str]:
    """``pixel_<c>_<y>_<x>`` for every value of a ``[channels, height, width]`` image."""
    channels, height, width = image_shape
    return [f"pixel_{c}_{y}_{x}" for c in range(channels) for y in range(height)
            for x in range(width)]  # fmt: skip


def decode_image(path: Path, image_shape: list[int]) -> tuple[np.ndarray, ImageInfo]:
    """One file as ``image_shape`` float32 pixels in [0, 1], channel-major and flattened.

    Raises:
        DataError: the file does not decode (naming it, with the decoder's error as cause).
    """
    from PIL import Image, ImageOps

    channels, height, width = image_shape
    try:
        with Image.open(path) as image:
            image.load()
            info = ImageInfo(width=image.width, height=image.height, mode=image.mode)
            converted = image.convert("L" if channels == 1 else "RGB")
            fitted = ImageOps.fit(converted, (width, height))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path} does not decode as an image ({exc})") from exc
    pixels = np.asarray(fitted, dtype=np.float32) / 255.0
    return pixels.reshape(height, width, channels).transpose(2, 0, 1).ravel(), info


def image_files(folder: Path) -> list[Path]:
    """Every PNG or JPEG file below ``folder`` (class folders or not), in path order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )  # fmt: skip


def read_image_files(paths: list[Path], image_shape: list[int]) -> pd.DataFrame:
    """The pixel rows of ``paths`` (the way ingest decodes them), for scoring.

    Raises:
        DataError: a file does not decode (naming it).
    """
    rows = [decode_image(path, image_shape)[0] for path in paths]
    return pd.DataFrame(np.stack(rows), columns=pixel_columns(image_shape))

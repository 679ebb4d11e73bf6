"""A dataset kept as files, a folder per class: listing, validation and decoding, for every kind.

``root/<class>/<file>``: the label is the subfolder's name. :func:`read_class_folders` walks the
class folders in name order and decodes each file with the kind's decoder (images:
:mod:`trainpipe.data.image_folder`, audio: :mod:`trainpipe.data.audio_folder`) into one row. It
refuses, naming the path: a folder without class folders, a class folder without files of the
kind, and (``data.bad_files: fail``) a file that does not decode; with ``skip`` such a file is
left out and counted. Names starting with ``.`` or ``_`` are skipped, as for table folders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.errors import DataError

__all__ = [
    "FolderReport",
    "files_below",
    "has_class_folders",
    "read_class_folders",
    "spread",
]

SKIPPED_SHOWN = 5
Decoder = Callable[[Path], tuple[np.ndarray, dict[str, Any]]]
"""One file to its row of values and what the file held (size, rate, ...); raises DataError."""


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "_"))


def _files(folder: Path, suffixes: Collection[str]) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and _visible(p) and p.suffix.lower() in suffixes
    )  # fmt: skip


def has_class_folders(source: str, suffixes: Collection[str]) -> bool:
    """True for a local folder with a visible subfolder that holds files of ``suffixes``."""
    root = Path(source).expanduser()
    if not root.is_dir():
        return False
    return any(sub.is_dir() and _visible(sub) and _files(sub, suffixes) for sub in root.iterdir())


def files_below(folder: Path, suffixes: Collection[str]) -> list[Path]:
    """Every file of ``suffixes`` below ``folder`` (class folders or not), in path order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )  # fmt: skip


def spread(values: Sequence[float]) -> dict[str, float]:
    """``{"min", "median", "max"}`` of ``values`` (empty for none)."""
    if not values:
        return {}
    return {"min": min(values), "median": float(np.median(values)), "max": max(values)}


@dataclass
class FolderReport:
    """What reading the class folders found, for the statistics."""

    kind: str
    classes: dict[str, int] = field(default_factory=dict)
    """Files read per class."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files that did not decode (``data.bad_files: skip``), each with the decoder's error."""
    duplicate_files: int = 0
    """Files whose bytes repeat an earlier file's (the table's duplicate rules see them too)."""
    decoded: list[dict[str, Any]] = field(default_factory=list)
    """What each decoded file held, as its decoder described it."""

    def to_dict(self) -> dict[str, Any]:
        """Counts, the files skipped (the first few) and the duplicates."""
        return {
            "layout": "class folders",
            "files_per_class": dict(self.classes),
            "files": sum(self.classes.values()),
            "skipped_files": len(self.skipped),
            "skipped": self.skipped[:SKIPPED_SHOWN],
            "duplicate_files": self.duplicate_files,
        }


def read_class_folders(
    source: str,
    *,
    suffixes: Collection[str],
    kind: str,
    decode: Decoder,
    columns: list[str],
    label: str,
    bad_files: str = "fail",
) -> tuple[pd.DataFrame, FolderReport]:
    """Decode every file of ``source``'s class folders into a row of ``columns``, labelled by
    the folder's name in ``label``.

    Raises:
        DataError: no class folders, a class folder without ``kind`` files, or (``bad_files:
            fail``) a file that does not decode; the message names the folder or file.
    """
    root = Path(source).expanduser()
    classes = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not classes:
        raise DataError(
            f"data.source {source}: no class folders; put each class's {kind} files in a "
            "subfolder named after the class"
        )
    shown = "/".join(sorted(s.lstrip(".").upper() for s in suffixes))
    report = FolderReport(kind=kind)
    seen: set[str] = set()
    rows: list[np.ndarray] = []
    labels: list[str] = []
    for folder in classes:
        files = _files(folder, suffixes)
        if not files:
            raise DataError(
                f"data.source {source}: class folder {folder} has no {shown} files; add its "
                f"{kind} files or remove the folder"
            )
        read = 0
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            report.duplicate_files += digest in seen
            seen.add(digest)
            try:
                row, info = decode(path)
            except DataError as exc:
                if bad_files != "skip":
                    raise DataError(
                        f"data.source {source}: {exc}; replace or remove it, or set "
                        "data.bad_files: skip to skip such files (counted in the statistics)"
                    ) from exc
                report.skipped.append({"file": str(path), "error": str(exc)})
                continue
            report.decoded.append(info)
            rows.append(row)
            labels.append(folder.name)
            read += 1
        report.classes[folder.name] = read
    if not rows:
        raise DataError(f"data.source {source}: none of its {kind} files decode")
    frame = pd.DataFrame(np.stack(rows), columns=columns)
    frame[label] = labels
    return frame, report

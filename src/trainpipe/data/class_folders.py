"""A dataset kept as files, a folder per class: listing, validation and decoding, for every kind.

``root/<class>/<file>``, where the root is a local folder or an ``s3://``/``minio://`` prefix
(read through the same :class:`~trainpipe.storage.base.ObjectStore` as every artifact): the
label is the subfolder's name. :func:`read_class_folders` walks the class folders in name order
and decodes each file's bytes with the kind's decoder (images: :mod:`trainpipe.data.image_folder`,
audio: :mod:`trainpipe.data.audio_folder`) into one row. It refuses, naming the path: a prefix
that cannot be listed, a folder without class folders, a class folder without files of the kind,
and (``data.bad_files: fail``) a file that does not decode; with ``skip`` such a file is left out
and counted. Names starting with ``.`` or ``_`` are skipped, as for table folders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.data.sources import BUILTIN_PREFIX, is_glob
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "FolderReport",
    "files_below",
    "has_class_folders",
    "is_folder_source",
    "read_class_folders",
    "spread",
]

SKIPPED_SHOWN = 5
Decoder = Callable[[bytes, str], tuple[Any, dict[str, Any]]]
"""One file's bytes (and its path, for messages) to its row (an array of values, or a text) and
what the file held (size, rate, ...); raises DataError."""


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def _root(source: str) -> ObjectStore | None:
    """The store of a folder source: a local directory or an object-store prefix without a
    file suffix; None for anything else (a file, a glob, a builtin)."""
    if source.startswith(BUILTIN_PREFIX) or is_glob(source):
        return None
    if is_remote_uri(source):
        if PurePosixPath(parse_uri(source).prefix).suffix:
            return None
        return open_store(source)
    root = Path(source).expanduser()
    return open_store(str(root)) if root.is_dir() else None


def _class_files(
    store: ObjectStore, source: str, suffixes: Collection[str]
) -> dict[str, list[str]]:
    """Keys of the files of ``suffixes`` per class folder (``class/file``), in name order; a
    class folder holding none of them maps to an empty list."""
    try:
        keys = store.list()
    except StorageError as exc:
        raise DataError(
            f"data.source {source}: cannot list it ({exc}); check the bucket, the prefix and "
            "the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        ) from exc
    classes: dict[str, list[str]] = {}
    if not is_remote_uri(source):  # empty local folders are folders too; a bucket has none
        for sub in sorted(Path(source).expanduser().iterdir()):
            if sub.is_dir() and _visible(sub.name):
                classes.setdefault(sub.name, [])
    for key in keys:
        parts = key.split("/")
        if len(parts) != 2 or not all(_visible(part) for part in parts):
            continue
        files = classes.setdefault(parts[0], [])
        if PurePosixPath(key).suffix.lower() in suffixes:
            files.append(key)
    return {name: sorted(files) for name, files in sorted(classes.items())}


def is_folder_source(source: str) -> bool:
    """Whether ``source`` names a local folder or an object-store prefix (no file suffix)."""
    return _root(source) is not None


def has_class_folders(source: str, suffixes: Collection[str]) -> bool:
    """True for a local folder or object-store prefix with a visible subfolder that holds files
    of ``suffixes``."""
    store = _root(source)
    if store is None:
        return False
    try:
        return any(_class_files(store, source, suffixes).values())
    except DataError:
        return is_remote_uri(source)  # a prefix that cannot be listed: say so when reading it


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
    """Decode every file of ``source``'s class folders into a row of ``columns`` (or, for a
    decoder of texts, the one column ``columns[0]``), labelled by the folder's name in
    ``label``.

    Raises:
        DataError: no class folders, a class folder without ``kind`` files, or (``bad_files:
            fail``) a file that does not decode; the message names the folder or file.
    """
    store = _root(source)
    if store is None:
        raise DataError(f"data.source {source}: not a folder or an object-store prefix")
    classes = _class_files(store, source, suffixes)
    if not classes:
        raise DataError(
            f"data.source {source}: no class folders; put each class's {kind} files in a "
            "subfolder named after the class"
        )
    shown = "/".join(sorted(s.lstrip(".").upper() for s in suffixes))
    files: list[tuple[str, ObjectStore, str]] = []
    for name, keys in classes.items():
        if not keys:
            raise DataError(
                f"data.source {source}: class folder {store.uri_for(name)} has no {shown} "
                f"files; add its {kind} files or remove the folder"
            )
        files += [(name, store, key) for key in keys]
    report = FolderReport(kind=kind)
    return decode_files(
        files, source=source, decode=decode, columns=columns, label=label,
        bad_files=bad_files, report=report,
    )  # fmt: skip


def decode_files(
    files: Sequence[tuple[str, ObjectStore, str]],
    *,
    source: str,
    decode: Decoder,
    columns: list[str],
    label: str,
    bad_files: str,
    report: FolderReport,
) -> tuple[pd.DataFrame, FolderReport]:
    """Decode ``(label, store, key)`` files in order into a table of ``columns`` and ``label``,
    counting what ``report`` shows; see :func:`read_class_folders` for what is refused."""
    seen: set[str] = set()
    rows: list[Any] = []
    labels: list[str] = []
    for name, store, key in files:
        path = store.uri_for(key)
        report.classes.setdefault(name, 0)
        try:
            data = store.read_bytes(key)
        except StorageError as exc:
            exc_text = f"cannot read {path} ({exc})"
            if bad_files != "skip":
                raise DataError(f"data.source {source}: {exc_text}") from exc
            report.skipped.append({"file": path, "error": exc_text})
            continue
        digest = hashlib.sha256(data).hexdigest()
        report.duplicate_files += digest in seen
        seen.add(digest)
        try:
            row, info = decode(data, path)
        except DataError as exc:
            if bad_files != "skip":
                raise DataError(
                    f"data.source {source}: {exc}; replace or remove it, or set "
                    "data.bad_files: skip to skip such files (counted in the statistics)"
                ) from exc
            report.skipped.append({"file": path, "error": str(exc)})
            continue
        report.decoded.append(info)
        rows.append(row)
        labels.append(name)
        report.classes[name] += 1
    if not rows:
        raise DataError(f"data.source {source}: none of its {report.kind} files decode")
    if isinstance(rows[0], str):  # a text per file
        frame = pd.DataFrame({columns[0]: rows})
    else:
        frame = pd.DataFrame(np.stack(rows), columns=columns)
    frame[label] = labels
    return frame, report

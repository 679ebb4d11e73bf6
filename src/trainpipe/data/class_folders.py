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
from concurrent.futures import ThreadPoolExecutor
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
    "decode_files",
    "files_below",
    "has_class_folders",
    "is_folder_source",
    "read_class_folders",
    "rows_table",
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


FETCH_THREADS = 16
"""Threads that fetch files (from a disk or an object store) ahead of decoding."""


@dataclass
class _Fetched:
    """One file's bytes and content hash, or why it could not be read."""

    path: str
    data: bytes | None = None
    digest: str = ""
    error: str = ""


def _fetch(store: ObjectStore, key: str) -> _Fetched:
    path = store.uri_for(key)
    try:
        data = store.read_bytes(key)
    except StorageError as exc:
        return _Fetched(path, error=f"cannot read {path} ({exc})")
    return _Fetched(path, data, hashlib.sha256(data).hexdigest())


def _decode_one(job: tuple[Decoder, bytes, str]) -> tuple[Any, dict[str, Any], str]:
    """``(row, info, "")`` for a file that decodes, ``(None, {}, why)`` for one that does not."""
    decode, data, path = job
    try:
        row, info = decode(data, path)
    except DataError as exc:
        return None, {}, str(exc)
    return row, info, ""


def rows_table(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """Decoded rows as a table: texts in the one column ``columns[0]``, arrays as ``columns``
    (uint8 arrays are pixels, scaled to float32 values in [0, 1])."""
    if isinstance(rows[0], str):
        return pd.DataFrame({columns[0]: list(rows)})
    block = np.stack(rows)
    if block.dtype == np.uint8:
        block = block.astype(np.float32) / 255.0
    return pd.DataFrame(block, columns=columns, copy=False)


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
    """Decode ``(label, store, key)`` files into a table of ``columns`` and ``label``, in the
    order given, counting what ``report`` shows; see :func:`read_class_folders` for what is
    refused. Threads fetch the files (an object store's round trips overlap); decoding holds
    Python's lock, so it runs here, in order, and the first bad file decides what is raised."""
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        fetched = list(pool.map(lambda item: _fetch(item[1], item[2]), files))
    jobs = [(decode, f.data, f.path) for f in fetched if f.data is not None]
    results = iter([_decode_one(job) for job in jobs])
    seen: set[str] = set()
    rows: list[Any] = []
    labels: list[str] = []
    for (name, _, _), got in zip(files, fetched, strict=True):
        report.classes.setdefault(name, 0)
        row, info, error = next(results) if got.data is not None else (None, {}, got.error)
        if error:
            if bad_files != "skip":
                advice = "" if got.data is None else (
                    "; replace or remove it, or set data.bad_files: skip to skip such files "
                    "(counted in the statistics)"
                )  # fmt: skip
                raise DataError(f"data.source {source}: {error}{advice}")
            report.skipped.append({"file": got.path, "error": error})
            continue
        report.duplicate_files += got.digest in seen
        seen.add(got.digest)
        report.decoded.append(info)
        rows.append(row)
        labels.append(name)
        report.classes[name] += 1
    if not rows:
        raise DataError(f"data.source {source}: none of its {report.kind} files decode")
    frame = rows_table(rows, columns)
    frame[label] = labels
    return frame, report

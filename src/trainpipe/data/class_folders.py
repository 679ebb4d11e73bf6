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
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.data.sources import BUILTIN_PREFIX, is_glob
from trainpipe.data.worker_processes import exit_with, worker_context
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "FolderReport",
    "RowBlock",
    "class_folder_files",
    "decode_files",
    "decode_workers",
    "decoded_rows",
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
    workers: int = 0
    """Processes that decoded the files (0: the reading process itself)."""

    def to_dict(self) -> dict[str, Any]:
        """Counts, the files skipped (the first few) and the duplicates."""
        return {
            "layout": "class folders",
            "files_per_class": dict(self.classes),
            "files": sum(self.classes.values()),
            "skipped_files": len(self.skipped),
            "skipped": self.skipped[:SKIPPED_SHOWN],
            "duplicate_files": self.duplicate_files,
            "decode_workers": self.workers,
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
    workers: int = 0,
) -> tuple[pd.DataFrame, FolderReport]:
    """Decode every file of ``source``'s class folders into a row of ``columns`` (or, for a
    decoder of texts, the one column ``columns[0]``), labelled by the folder's name in
    ``label``; ``workers``: ``data.decode_workers`` (:func:`decode_files`).

    Raises:
        DataError: no class folders, a class folder without ``kind`` files, or (``bad_files:
            fail``) a file that does not decode; the message names the folder or file.
    """
    files = class_folder_files(source, suffixes=suffixes, kind=kind)
    report = FolderReport(kind=kind)
    return decode_files(
        files, source=source, decode=decode, columns=columns, label=label,
        bad_files=bad_files, report=report, workers=workers,
    )  # fmt: skip


def class_folder_files(
    source: str, *, suffixes: Collection[str], kind: str
) -> list[tuple[str, ObjectStore, str]]:
    """``(class, store, key)`` of every file of ``suffixes`` in ``source``'s class folders, in
    name order.

    Raises:
        DataError: no class folders, or a class folder without ``kind`` files (naming it).
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
    return files


FETCH_THREADS = 16
"""Threads that fetch files (from a disk or an object store) ahead of decoding."""
CHUNK_FILES = 512
"""Files fetched, then decoded, at a time: the next chunk is fetched while one decodes, so the
bytes held are about two chunks', not the folder's."""
PARALLEL_MIN_FILES = 256
"""Fewer files than this decode in the reading process: starting processes would cost more."""


def decode_workers(setting: int, files: int) -> int:
    """Processes to decode ``files`` files with under ``data.decode_workers`` = ``setting``
    (-1: one per CPU this process may use; 0: none, decode in this process)."""
    if files < PARALLEL_MIN_FILES or setting == 0:
        return 0
    if setting > 0:
        return setting
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Decoded:
    """One file's row and what it held, or why it could not be read (``read`` false) or
    decoded."""

    path: str
    read: bool
    digest: str = ""
    row: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _fetch(store: ObjectStore, key: str) -> tuple[str, bytes | None, str]:
    """A file's path (for messages) and bytes, or None and why it cannot be read."""
    path = store.uri_for(key)
    try:
        return path, store.read_bytes(key), ""
    except StorageError as exc:
        return path, None, f"cannot read {path} ({exc})"


def _decode_bytes(job: tuple[Decoder, str, bytes | None, str]) -> _Decoded:
    """Decode fetched bytes (or pass on why they could not be fetched)."""
    decode, path, data, why = job
    if data is None:
        return _Decoded(path, read=False, error=why)
    digest = hashlib.sha256(data).hexdigest()
    try:
        row, info = decode(data, path)
    except DataError as exc:
        return _Decoded(path, read=True, digest=digest, error=str(exc))
    return _Decoded(path, read=True, digest=digest, row=row, info=info)


def _read_and_decode(job: tuple[Decoder, ObjectStore, str]) -> _Decoded:
    """Read a local file and decode it: what a decoding process does with a local folder."""
    decode, store, key = job
    path, data, why = _fetch(store, key)
    return _decode_bytes((decode, path, data, why))


class RowBlock:
    """Decoded rows gathered into one block as they arrive: texts in a list, arrays into one
    preallocated 2-D array (uint8 pixels scaled to float32 values in [0, 1] on the way), so the
    table costs no second copy and the scaling overlaps the decoding."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self.texts: list[str] = []
        self.block: np.ndarray | None = None

    def add(self, row: Any) -> None:
        """Append one decoded row (a text, or an array of values)."""
        if isinstance(row, str):
            self.texts.append(row)
            self.count += 1
            return
        values = np.asarray(row).reshape(-1)
        if self.block is None:
            dtype = np.float32 if values.dtype == np.uint8 else values.dtype
            self.block = np.empty((self.capacity, values.size), dtype=dtype)
        if values.dtype == np.uint8:
            np.divide(values, np.float32(255.0), out=self.block[self.count], dtype=np.float32)
        else:
            self.block[self.count] = values
        self.count += 1

    def table(self, columns: list[str]) -> pd.DataFrame:
        """The rows as a table: texts in the one column ``columns[0]``, arrays as ``columns``."""
        if self.block is None:
            return pd.DataFrame({columns[0]: self.texts})
        return pd.DataFrame(self.block[: self.count], columns=columns, copy=False)


def rows_table(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """Decoded rows as a table: texts in the one column ``columns[0]``, arrays as ``columns``
    (uint8 arrays are pixels, scaled to float32 values in [0, 1])."""
    block = RowBlock(len(rows))
    for row in rows:
        block.add(row)
    return block.table(columns)


def decode_files(
    files: Sequence[tuple[str, ObjectStore, str]],
    *,
    source: str,
    decode: Decoder,
    columns: list[str],
    label: str,
    bad_files: str,
    report: FolderReport,
    workers: int = 0,
) -> tuple[pd.DataFrame, FolderReport]:
    """Decode ``(label, store, key)`` files into a table of ``columns`` and ``label``, in the
    order given, counting what ``report`` shows (:func:`decoded_rows`)."""
    rows = RowBlock(len(files))
    labels: list[str] = []
    for name, row in decoded_rows(
        files, source=source, decode=decode, bad_files=bad_files, report=report, workers=workers
    ):
        rows.add(row)
        labels.append(name)
    frame = rows.table(columns)
    frame[label] = labels
    return frame, report


def decoded_rows(
    files: Sequence[tuple[str, ObjectStore, str]],
    *,
    source: str,
    decode: Decoder,
    bad_files: str,
    report: FolderReport,
    workers: int = 0,
) -> Iterator[tuple[str, Any]]:
    """Each file's class and decoded row, in the order given, counting in ``report`` what it
    shows; see :func:`read_class_folders` for what is refused. ``workers``:
    ``data.decode_workers`` (:func:`decode_workers`).

    Decoding holds Python's lock, so where ``workers`` gives processes for these files, a pool
    of them decodes: local files are read by the processes themselves (as a DataLoader's
    workers read theirs), a bucket's are fetched here by threads, :data:`CHUNK_FILES` at a
    time, and decoded there while the next chunk is fetched. Without processes threads fetch
    and this process decodes. Results come in file order either way, and the first bad file
    decides what is raised.

    Raises:
        DataError: a file does not decode (``bad_files: fail``) or none does.
    """
    report.workers = decode_workers(workers, len(files))
    pool = _decoder_pool(report.workers, decode)
    seen: set[str] = set()
    kept = 0
    try:
        for (name, _, _), got in zip(files, _decoded(files, decode, pool), strict=True):
            report.classes.setdefault(name, 0)
            if got.error:
                if bad_files != "skip":
                    advice = "" if not got.read else (
                        "; replace or remove it, or set data.bad_files: skip to skip such files "
                        "(counted in the statistics)"
                    )  # fmt: skip
                    raise DataError(f"data.source {source}: {got.error}{advice}")
                report.skipped.append({"file": got.path, "error": got.error})
                continue
            report.duplicate_files += got.digest in seen
            seen.add(got.digest)
            report.decoded.append(got.info)
            report.classes[name] += 1
            kept += 1
            yield name, got.row
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not kept:
        raise DataError(f"data.source {source}: none of its {report.kind} files decode")


def _decoded(
    files: Sequence[tuple[str, ObjectStore, str]], decode: Decoder, pool: Executor | None
) -> Iterator[_Decoded]:
    """Each file decoded, in order (see :func:`decode_files` for who reads and who decodes)."""
    local = all(store.local_path(key) is not None for _, store, key in files)
    if pool is not None and local:
        reads = ((decode, store, key) for _, store, key in files)
        yield from pool.map(_read_and_decode, reads, chunksize=32)
        return
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as fetchers:
        for fetched in _fetched_chunks(files, fetchers):
            jobs = [(decode, path, data, why) for path, data, why in fetched]
            if pool is not None:
                yield from pool.map(_decode_bytes, jobs, chunksize=8)
            else:
                yield from map(_decode_bytes, jobs)


def _decoder_pool(workers: int, decode: Decoder) -> Executor | None:
    """A pool of ``workers`` processes that run ``decode``, or None for none.

    They start from the data workers' fork server (:mod:`trainpipe.data.worker_processes`),
    which imports the decoder's module once, so starting one while the fetch threads run is
    safe.
    """
    if workers <= 0:
        return None
    function = decode.func if isinstance(decode, partial) else decode
    context = worker_context(__name__, function.__module__)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
    )


def _fetched_chunks(
    files: Sequence[tuple[str, ObjectStore, str]], fetchers: ThreadPoolExecutor
) -> Iterator[list[tuple[str, bytes | None, str]]]:
    """Each chunk of ``files`` fetched, the next chunk's fetch already started."""

    def start(chunk: Sequence[tuple[str, ObjectStore, str]]) -> list[Any]:
        return [fetchers.submit(_fetch, store, key) for _, store, key in chunk]

    chunks = [files[i : i + CHUNK_FILES] for i in range(0, len(files), CHUNK_FILES)]
    pending = start(chunks[0]) if chunks else []
    for following in [*chunks[1:], None]:
        current, pending = pending, (start(following) if following is not None else [])
        yield [future.result() for future in current]

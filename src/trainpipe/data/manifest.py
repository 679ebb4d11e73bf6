"""A manifest table of files and labels: ``path,label`` rows naming images, WAV clips or texts.

A CSV/Parquet/JSON Lines source with a ``path`` (or ``file``, ``file_name``) column whose every
value ends in the suffix of one file kind (PNG/JPEG, WAV or .txt) is read as a manifest: each
row's file is fetched, relative to the manifest's own folder or prefix unless it is an absolute
path or an ``s3://``/``minio://`` URI, and decoded as an image, audio or text folder's files are
(:mod:`trainpipe.data.class_folders`), labelled by the row's ``data.label``. A row without a
label or with a file that cannot be read or decoded is refused, naming the row and the file, or
skipped and counted with ``data.bad_files: skip``; the manifest's other columns are listed as
unused in the statistics and on the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.data.class_folders import Decoder, FolderReport, decode_files
from trainpipe.data.file_rows import SUFFIXES, decoder_for, files_descriptor
from trainpipe.data.text_folder import TEXT_COLUMN
from trainpipe.errors import DataError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "PATH_COLUMNS",
    "Manifest",
    "decode_manifest",
    "manifest_column",
    "manifest_files",
    "read_manifest",
    "resolve_paths",
]

PATH_COLUMNS = ("path", "file", "file_name")
"""Column names a manifest's file column may have, looked for in this order."""


def _kind(path: str) -> str | None:
    suffix = PurePosixPath(path).suffix.lower()
    return next((kind for kind, suffixes in SUFFIXES.items() if suffix in suffixes), None)


def manifest_column(frame: pd.DataFrame) -> str | None:
    """The file column of a manifest table, or None when ``frame`` is an ordinary table."""
    for column in PATH_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column].dropna()
        if len(values) and all(isinstance(v, str) and _kind(v) for v in values):
            return column
    return None


def _decoder(kind: str, config: RunConfig) -> tuple[Decoder, list[str]]:
    if kind == "image":
        shape = list(config.model.image_shape)
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise DataError(
                f"data.source {config.data.source} is a manifest of images: set "
                "model.image_shape to [channels, height, width] with 1 or 3 channels, the size "
                f"every image is resized to (got {shape or 'nothing'})"
            )
    if kind == "text" and config.data.text != TEXT_COLUMN:
        raise DataError(
            f"data.source {config.data.source} is a manifest of text files: set data.text: "
            f"{TEXT_COLUMN} (the column each file becomes) and model.kind: transformer"
        )
    return decoder_for(files_descriptor(kind, config))


def _locate(
    path: str, base: ObjectStore, stores: dict[str, ObjectStore]
) -> tuple[ObjectStore, str]:
    """The store and key of a manifest path: relative to ``base``, or its own parent's."""
    if is_remote_uri(path):
        uri = parse_uri(path)
        parent, _, name = uri.prefix.rpartition("/")
        root = f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}"
    elif Path(path).expanduser().is_absolute():
        local = Path(path).expanduser()
        root, name = str(local.parent), local.name
    else:
        return base, PurePosixPath(path).as_posix()
    if root not in stores:
        stores[root] = open_store(root)
    return stores[root], name


def resolve_paths(paths: Sequence[str], source: str) -> list[tuple[ObjectStore, str]]:
    """The store and key of each manifest path: relative ones from the folder or prefix that
    holds the manifest ``source``, absolute paths and URIs from their own parent."""
    if is_remote_uri(source):
        uri = parse_uri(source)
        parent = uri.prefix.rpartition("/")[0]
        base = open_store(f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}")
    else:
        base = open_store(str(Path(source).expanduser().resolve().parent))
    stores: dict[str, ObjectStore] = {}
    return [_locate(path, base, stores) for path in paths]


@dataclass(frozen=True)
class Manifest:
    """A manifest's files, in row order, and how to decode them."""

    files: list[tuple[str, ObjectStore, str]]
    """``(label, store, key)`` per row."""
    kind: str
    decode: Decoder
    columns: list[str]
    """The columns each file becomes."""
    path_column: str
    unused_columns: list[str]

    def statistics(self, report: FolderReport) -> dict[str, Any]:
        """The statistics' entry: what decoding found, and the manifest's columns."""
        return {
            **report.to_dict(),
            "layout": "manifest",
            "path_column": self.path_column,
            "unused_columns": list(self.unused_columns),
        }


def manifest_files(frame: pd.DataFrame, config: RunConfig, column: str) -> Manifest:
    """The files ``frame[column]`` names, their labels and decoder.

    Raises:
        DataError: the label column is missing, a row has no label or no path, or the paths
            name files of different kinds.
    """
    data = config.data
    source, label = data.source, data.label
    if label not in frame.columns:
        raise DataError(
            f"data.source {source}: the manifest has no label column {label!r} (it has "
            f"{list(frame.columns)}); set data.label"
        )
    kinds = {_kind(str(p)) or "?" for p in frame[column].dropna()}
    if len(kinds) != 1 or "?" in kinds:
        raise DataError(
            f"data.source {source}: the manifest's {column!r} column names files of several "
            f"kinds ({', '.join(sorted(kinds))}); keep one kind per manifest"
        )
    (kind,) = kinds
    decode, columns = _decoder(kind, config)
    missing = frame.index[frame[column].isna() | frame[label].isna()]
    if len(missing):
        raise DataError(
            f"data.source {source}: row {int(missing[0])} of the manifest has no "
            f"{column if pd.isna(frame[column][missing[0]]) else label}; fill it or remove the row"
        )
    located = resolve_paths([str(path) for path in frame[column]], source)
    files = [
        (str(name), store, key) for name, (store, key) in zip(frame[label], located, strict=True)
    ]
    unused = [str(c) for c in frame.columns if c not in (column, label)]
    return Manifest(files, kind, decode, columns, column, unused)


def read_manifest(
    frame: pd.DataFrame, config: RunConfig, column: str
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Decode the files ``frame[column]`` names; return the table, the kind of file and what
    reading them found (the statistics' entry).

    Raises:
        DataError: as :func:`manifest_files`, or (``bad_files: fail``) a file cannot be read
            or decoded.
    """
    return decode_manifest(manifest_files(frame, config, column), config)


def decode_manifest(
    manifest: Manifest, config: RunConfig
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Decode a manifest's files into memory: the table, the kind and the statistics' entry.

    Raises:
        DataError: (``bad_files: fail``) a file cannot be read or decoded, naming it.
    """
    data = config.data
    table, report = decode_files(
        manifest.files, source=data.source, decode=manifest.decode, columns=manifest.columns,
        label=data.label, bad_files=data.bad_files, report=FolderReport(kind=manifest.kind),
        workers=data.decode_workers if manifest.kind != "text" else 0,
    )  # fmt: skip
    return table, manifest.kind, manifest.statistics(report)

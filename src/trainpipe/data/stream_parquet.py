"""The Parquet side of the streaming ingest: record batches a row group at a time, from one file
or a glob's shards, local or in a bucket (ranged reads: only the footers and row groups travel).

:class:`ParquetSource` gives the streaming ingest (:mod:`trainpipe.data.stream`) what
:class:`~trainpipe.data.stream_csv.CsvFile` gives it for a CSV file: the column names and the
record batches in file order, with the label as text, written as pandas writes it (``1``,
``1.5``, ``True``), so a class is named as the in-memory ingest names it.
:func:`parquet_obstacles` says which columns keep a file from streaming: like a streamed CSV
file's, a streamed Parquet file's features are read as numbers.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trainpipe.data.parquet_blocks import StoreFile
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = ["ParquetSource", "parquet_obstacles"]

BATCH_ROWS = 65_536
"""Rows per record batch read (a row group may hold more; pyarrow cuts it)."""


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _open(file: str | Path) -> pq.ParquetFile:
    """A local Parquet file, or one in a bucket read with ranged requests (only its footer and
    the row groups asked for travel)."""
    try:
        if is_remote_uri(str(file)):
            uri = parse_uri(str(file))
            parent, _, key = uri.prefix.rpartition("/")
            store = open_store(f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}")
            return pq.ParquetFile(pa.PythonFile(StoreFile(store, key), mode="r"))
        return pq.ParquetFile(file)
    except StorageError as exc:
        raise DataError(f"data.source {file}: cannot read it: {exc}") from exc
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{file} is not a readable Parquet file ({exc})") from exc


def parquet_obstacles(
    files: Sequence[str | Path], label: str, drop: Sequence[str] = ()
) -> list[str]:
    """Why the Parquet ``files`` cannot be streamed: each feature column (not the label, not
    in ``drop``) that is not a number or a boolean (strings, dates, lists), which the in-memory
    ingest plans by role. Each file's footer is read (for a bucket's, a ranged request)."""
    others: list[str] = []
    for file in files:
        schema = _open(file).schema_arrow
        for f in schema:
            shown = f"{f.name!r} ({f.type})"
            if f.name in (label, *drop) or _numeric(f.type) or shown in others:
                continue
            others.append(shown)
    if not others:
        return []
    shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
    return [
        f"the columns {shown} are not numbers (streaming reads every feature as a number; the "
        "in-memory ingest plans such columns as categories, dates or ids; to stream the file, "
        "list such columns in data.drop)"
    ]


@dataclass(frozen=True)
class ParquetSource:
    """Parquet files to stream as one table, in order (one file, or a glob's shards): local
    paths or ``s3://`` URIs; ``display`` names the source in messages."""

    files: tuple[str, ...]
    display: str

    @property
    def kind(self) -> str:
        """What the statistics call the source's columns."""
        return "Parquet"

    def columns(self) -> list[str]:
        """The column names, in file order; every file must have the same.

        Raises:
            DataError: a file has other columns (naming it and both lists).
        """
        first = list(_open(self.files[0]).schema_arrow.names)
        for file in self.files[1:]:
            names = list(_open(file).schema_arrow.names)
            if names != first:
                raise DataError(
                    f"data.source {self.display!r}: {file} has columns {names[:10]} but "
                    f"{self.files[0]} has {first[:10]}; every matched file needs the same header"
                )
        return first

    def batches(
        self, columns: list[str], *, label: str, numeric: Sequence[str]
    ) -> Generator[pa.RecordBatch, None, None]:
        """The file's record batches, in file order, ``columns`` only; the label as text unless
        it is in ``numeric`` (a regression label).

        Raises:
            DataError: the file cannot be read (naming it and the row group).
        """
        text_label = label not in numeric
        for name in self.files:
            file = _open(name)
            for group in range(file.metadata.num_row_groups):
                try:
                    table = file.read_row_group(group, columns=columns)
                except (pa.ArrowInvalid, OSError, StorageError) as exc:
                    raise DataError(
                        f"{name}: row group {group} cannot be read ({exc}); the file is damaged "
                        "or was cut short: write it again"
                    ) from exc
                if text_label:
                    index = table.schema.get_field_index(label)
                    table = table.set_column(index, label, _as_text(table.column(label)))
                yield from table.to_batches(max_chunksize=BATCH_ROWS)


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """A label column as text: strings as they are, integers as their digits (``1``, as the
    streamed CSV ingest reads them, also where pandas would read a column with missing labels
    as floats), other values as Python writes them (``1.5``, ``True``); null and NaN stay
    missing."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.combine_chunks()
    if pa.types.is_integer(column.type):
        return column.combine_chunks().cast(pa.string())
    values = column.to_pylist()
    return pa.array([None if v is None or v != v else str(v) for v in values], type=pa.string())

"""The Parquet side of the streaming ingest: a file's record batches, a row group at a time.

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

from trainpipe.errors import DataError

__all__ = ["ParquetSource", "parquet_obstacles"]

BATCH_ROWS = 65_536
"""Rows per record batch read (a row group may hold more; pyarrow cuts it)."""


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _open(path: Path, display: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{display} is not a readable Parquet file ({exc})") from exc


def parquet_obstacles(path: Path, label: str, display: str) -> list[str]:
    """Why the Parquet file at ``path`` cannot be streamed: each feature column that is not a
    number or a boolean (strings, dates, lists), which the in-memory ingest plans by role."""
    schema = _open(path, display).schema_arrow
    others = [f"{f.name!r} ({f.type})" for f in schema if f.name != label and not _numeric(f.type)]
    if not others:
        return []
    shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
    return [
        f"the columns {shown} are not numbers (streaming reads every feature as a number; the "
        "in-memory ingest plans such columns as categories, dates or ids)"
    ]


@dataclass(frozen=True)
class ParquetSource:
    """A Parquet file to stream; ``display`` names it in messages (its URI for a copy)."""

    path: Path
    display: str

    @property
    def kind(self) -> str:
        """What the statistics call the source's columns."""
        return "Parquet"

    def columns(self) -> list[str]:
        """The column names, in file order."""
        return list(_open(self.path, self.display).schema_arrow.names)

    def batches(
        self, columns: list[str], *, label: str, numeric: Sequence[str]
    ) -> Generator[pa.RecordBatch, None, None]:
        """The file's record batches, in file order, ``columns`` only; the label as text unless
        it is in ``numeric`` (a regression label).

        Raises:
            DataError: the file cannot be read (naming it and the row group).
        """
        file = _open(self.path, self.display)
        text_label = label not in numeric
        for group in range(file.metadata.num_row_groups):
            try:
                table = file.read_row_group(group, columns=columns)
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataError(
                    f"{self.display}: row group {group} cannot be read ({exc}); the file is "
                    "damaged or was cut short: write it again"
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

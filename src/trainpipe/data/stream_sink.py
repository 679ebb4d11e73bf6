"""The Parquet side of the streaming ingest: cleaned batches written to a file that appears at
the output only when the whole ingest has succeeded.

:class:`ParquetSink` buffers record batches into row groups of about 64 MiB, writes them to a
temporary file, and on :meth:`~ParquetSink.commit` moves it into place as ``data.parquet`` (a
rename on a local store, an upload otherwise); :meth:`~ParquetSink.discard` removes every trace.
:func:`writer_schema` is the Arrow schema pandas writes for the in-memory ingest's frame, so both
paths write the same file layout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainpipe.data.dataset import DATA_KEY
from trainpipe.data.parquet_encoding import dictionary_columns
from trainpipe.errors import DataError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.local import TEMP_PREFIX

__all__ = ["ParquetSink", "writer_schema"]

_ROW_GROUP_BYTES = 64 << 20
"""Cleaned batches are buffered up to about this many bytes, then written as one row group."""


def writer_schema(columns: list[str], label: str, task: str) -> pa.Schema:
    """The Arrow schema pandas writes for the in-memory ingest's frame (with pandas metadata)."""
    empty = pd.DataFrame(
        {
            c: pd.Series([], dtype="str" if c == label and task == "classification" else "float64")
            for c in columns
        }
    )
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    if task == "classification":
        index = schema.get_field_index(label)
        schema = schema.set(index, pa.field(label, pa.large_string()))
    return schema


class ParquetSink:
    """Parquet written batch by batch to a temp file that becomes ``data.parquet`` on commit.

    For a local store the temp file lies beside the target (a hidden name the store never lists)
    and is renamed into place; for a remote store it lies in a local temp directory and is
    uploaded. :meth:`discard` removes it and any directory created for it.
    """

    def __init__(
        self, store: ObjectStore, schema: pa.Schema, *, row_group_bytes: int = _ROW_GROUP_BYTES
    ) -> None:
        self.store = store
        self.row_group_bytes = row_group_bytes
        self.schema = schema
        self.target = store.local_path(DATA_KEY)
        self.path: Path | None = None
        self._created: list[Path] = []
        self._tempdir: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_bytes = 0

    def _open(self, first: pa.Table) -> pq.ParquetWriter:
        if self.target is not None:
            parent = self.target.parent
            while not parent.exists():
                self._created.append(parent)
                parent = parent.parent
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = self.target.with_name(f"{TEMP_PREFIX}{self.target.name}.{uuid.uuid4().hex}")
        else:
            self._tempdir = Path(tempfile.mkdtemp(prefix="trainpipe-stream-"))
            self.path = self._tempdir / DATA_KEY
        return pq.ParquetWriter(
            str(self.path), self.schema, use_dictionary=dictionary_columns(first)
        )

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch``; write the buffer as one row group once it is large enough."""
        self._pending.append(batch)
        self._pending_bytes += batch.nbytes
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        if self._writer is None:
            self._writer = self._open(table)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """Write what is buffered and close the file (still under its temp name)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> None:
        """Move the finished file into place as ``data.parquet``."""
        if self.path is None:
            raise DataError("internal error: no Parquet data was written")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.target is not None:
            os.replace(self.path, self.target)
        else:
            self.store.upload_file(self.path, DATA_KEY)
            self._remove_tempdir()
        self.path = None

    def discard(self) -> None:
        """Remove the temp file and the directories made for it; the output is left untouched."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._pending = []
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None
        for directory in self._created:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()
        self._remove_tempdir()

    def _remove_tempdir(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

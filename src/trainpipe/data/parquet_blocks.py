"""A dataset's Parquet table read one block (row group) at a time, locally or from a bucket.

A local file is opened by path. An object in a bucket is opened through :class:`StoreFile`, a
seekable file whose reads are ranged requests (:meth:`ObjectStore.read_range`): pyarrow reads the
footer and then only the column chunks of the row groups asked for, so a block costs its own
bytes, never the whole object.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainpipe.data.dataset import DATA_KEY
from trainpipe.errors import DataError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store

__all__ = ["ParquetBlocks", "StoreFile"]


class StoreFile(io.RawIOBase):
    """A read-only, seekable view of one object; every read is one ranged request."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self.store, self.key = store, key
        self.length = store.size(key)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.store.read_range(self.key, self.position, len(view))
        view[: len(data)] = data
        self.position += len(data)
        return len(data)

    def readall(self) -> bytes:
        data = self.store.read_range(self.key, self.position, max(0, self.length - self.position))
        self.position += len(data)
        return data


@dataclass
class ParquetBlocks:
    """The row groups of the dataset at ``location`` (its ``data.parquet``)."""

    location: str
    block_rows: list[int]
    columns: list[str]
    _file: pq.ParquetFile | None = None

    @classmethod
    def open(cls, location: str) -> ParquetBlocks:
        """Read the footer only: the row groups' sizes and the column names.

        Raises:
            DataError: the location holds no ``data.parquet``, or it is not a Parquet file.
        """
        file = _open_parquet(location)
        meta = file.metadata
        rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        return cls(location, rows, list(file.schema_arrow.names), file)

    @property
    def rows(self) -> int:
        """Rows in the table."""
        return sum(self.block_rows)

    def __getstate__(self) -> dict[str, object]:
        # A loader worker opens its own file (an open file does not travel between processes).
        return {**self.__dict__, "_file": None}

    def read(
        self, blocks: Sequence[int], columns: Sequence[str], *, use_threads: bool = True
    ) -> pd.DataFrame:
        """The rows of ``blocks`` (in that order), only ``columns``, as a pandas frame;
        ``use_threads=False`` decodes on this thread only (a loader worker among several)."""
        return self.read_arrow(blocks, columns, use_threads=use_threads).to_pandas()

    def read_arrow(
        self,
        blocks: Sequence[int],
        columns: Sequence[str] | None = None,
        *,
        use_threads: bool = True,
    ) -> pa.Table:
        """The rows of ``blocks`` as an Arrow table (``columns``: all of them when None)."""
        if self._file is None:
            self._file = _open_parquet(self.location)
        return self._file.read_row_groups(
            list(blocks),
            columns=None if columns is None else list(columns),
            use_threads=use_threads,
        )

    @property
    def arrow_schema(self) -> pa.Schema:
        """The table's Arrow schema (with pandas' metadata where pandas wrote it)."""
        if self._file is None:
            self._file = _open_parquet(self.location)
        return self._file.schema_arrow


def _open_parquet(location: str) -> pq.ParquetFile:
    store = open_store(location)
    shown = store.uri_for(DATA_KEY)
    path = store.local_path(DATA_KEY)
    try:
        if path is not None:
            if not path.is_file():
                raise DataError(f"dataset {location} has no {DATA_KEY} ({shown} does not exist)")
            return pq.ParquetFile(path)
        if not store.exists(DATA_KEY):
            raise DataError(f"dataset {location} has no {DATA_KEY} ({shown} does not exist)")
        return pq.ParquetFile(pa.PythonFile(StoreFile(store, DATA_KEY), mode="r"))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{shown} is not a readable Parquet file: {exc}") from exc

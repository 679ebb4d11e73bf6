"""The dataset artifact: a Parquet table and its schema under one storage location.

A dataset location (a directory or an object-store prefix) holds ``data.parquet`` and
``schema.json``. Every stage after ingest reads datasets through :func:`read_dataset`, so a local
path and a ``minio://`` URI behave the same.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

DATA_KEY = "data.parquet"
SCHEMA_KEY = "schema.json"
STATS_KEY = "stats.json"


@dataclass(kw_only=True)
class Schema:
    """What the columns of a dataset mean."""

    label: str
    task: str
    features: list[str]
    classes: list[str] = field(default_factory=list)
    """Class names in index order (classification only); labels are stored as these strings."""
    categorical: list[str] = field(default_factory=list)
    """Features holding categories (stored as strings); the rest are numbers."""
    text: list[str] = field(default_factory=list)
    """Features holding free text (stored as strings, missing text as "")."""
    column_roles: dict[str, Any] = field(default_factory=dict)
    """Ingest's decision about every column (:meth:`~trainpipe.data.columns.ColumnPlan.to_dict`),
    so that a model can convert raw rows the same way; empty for a streamed dataset."""
    group: str = ""
    """A column whose rows stay in one split (kept in the table; a feature only if listed in
    ``features``); empty: none."""
    order: str = ""
    """The ``split.order_by`` column, holding each row's time as a number (seconds since the
    Unix epoch for dates): the split places rows by it; empty: none."""
    files: dict[str, Any] = field(default_factory=dict)
    """How the rows were decoded from files (an image, audio or text folder or manifest):
    ``{"kind": "image", "image_shape": [...]}``, ``{"kind": "audio", "audio": {...}}`` or
    ``{"kind": "text", "column": "text"}``, so a model can decode new files the same way;
    empty for a table."""
    data_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a table: column names, dtypes and every value, independent of the index."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


BLOCK_BYTES = 32 * 2**20
"""About this many bytes of rows (in memory) go into one Parquet row group: the block a streamed
split is read and shuffled by (:mod:`trainpipe.train.stream_order`)."""
MAX_BLOCK_ROWS = 65_536


def block_rows(frame: pd.DataFrame) -> int:
    """Rows per row group for ``frame``: :data:`BLOCK_BYTES` of rows, within [1024, 65536]."""
    if len(frame) == 0:
        return MAX_BLOCK_ROWS
    per_row = max(1, int(frame.memory_usage(index=False, deep=False).sum()) // len(frame))
    return int(min(MAX_BLOCK_ROWS, max(1024, BLOCK_BYTES // per_row)))


def write_dataset(location: str, frame: pd.DataFrame, schema: Schema) -> None:
    """Write ``frame`` and ``schema`` to ``location``; the schema last, so it marks completion.

    The table is written in row groups of :func:`block_rows` rows, so that training can stream
    it a few row groups at a time, with a dictionary only where values repeat
    (:func:`~trainpipe.data.parquet_encoding.dictionary_columns`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trainpipe.data.parquet_encoding import dictionary_columns

    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(
        table, buffer, row_group_size=block_rows(frame), use_dictionary=dictionary_columns(table)
    )
    store = open_store(location)
    store.write_bytes(DATA_KEY, buffer.getvalue())
    store.write_json(SCHEMA_KEY, schema.to_dict())


def read_dataset(location: str) -> tuple[pd.DataFrame, Schema]:
    """Read the table and schema written by :func:`write_dataset`."""
    store = open_store(location)
    if not store.exists(SCHEMA_KEY):
        raise DataError(
            f"dataset {location} has no {SCHEMA_KEY}: it was not written by trainpipe ingest/split "
            "or its stage did not finish"
        )
    schema = Schema.from_dict(store.read_json(SCHEMA_KEY))
    frame = pd.read_parquet(io.BytesIO(store.read_bytes(DATA_KEY)))
    return frame, schema

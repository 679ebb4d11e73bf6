"""Dataset inputs from any pipeline: trainpipe's own datasets, or plain table files.

A trainpipe dataset (the output of ingest or split) is a location holding ``data.parquet`` and
``schema.json`` (:mod:`trainpipe.data.dataset`). A ``Dataset`` artifact that another component
wrote is read here too, when it is

- one table file: CSV, TSV, JSON Lines or Parquet, with or without a suffix (a suffix-less file is
  Parquet when it starts with Parquet's magic bytes, else CSV), as ``df.to_csv(dataset.path)`` or
  ``df.to_parquet(dataset.path)`` writes it; or
- a folder of such files, read in name order as one table (names starting with ``.`` or ``_``,
  such as ``_SUCCESS``, are skipped).

A CSV file is read as ``data.csv`` says (delimiter, decimal mark, comment lines, encoding, ...),
as ingest reads its source. Its columns are decided by the run config's data settings as ingest
decides them (``data.label``, ``data.features``, ``data.drop``, ``data.roles``,
``data.missing``, ...). A table read with a ``reference`` schema (the training data's, for
validation and test data) is converted by the reference's column plan instead, so that every
split has the same features and classes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from trainpipe.config import CsvConfig, RunConfig
from trainpipe.data.columns import ColumnPlan
from trainpipe.data.dataset import SCHEMA_KEY, Schema, frame_hash, read_dataset
from trainpipe.data.file_formats import FileFormat, file_format
from trainpipe.data.ingest import clean, infer_schema
from trainpipe.data.sources import local_copy, read_file
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import parse_uri

__all__ = ["read_input_dataset", "table_files"]

PARQUET_MAGIC = b"PAR1"


def table_files(location: str) -> list[str]:
    """The URIs of the table files at ``location``: itself when it is a file, else the files in
    the folder it names, in name order (none when it is a trainpipe dataset or holds nothing)."""
    if _is_file(location):
        return [location]
    store = open_store(location)
    if store.exists(SCHEMA_KEY):
        return []
    keys = [k for k in store.list() if not _ignored(k)]
    return [store.uri_for(k) for k in sorted(keys)]


def _is_file(location: str) -> bool:
    """Whether ``location`` names one file (a local file, or an object under a bucket's key)."""
    uri = parse_uri(location)
    if uri.scheme == "file":
        return Path(uri.path).is_file()
    if not uri.prefix:
        return False  # a whole bucket
    parent, _, name = uri.prefix.rpartition("/")
    bucket = f"s3://{uri.bucket}"
    return open_store(f"{bucket}/{parent}" if parent else bucket).exists(name)


def _ignored(key: str) -> bool:
    """Hidden files and markers such as Spark's ``_SUCCESS``."""
    return key.rsplit("/", 1)[-1].startswith((".", "_"))


def read_input_dataset(
    location: str, config: RunConfig, *, reference: Schema | None = None
) -> tuple[pd.DataFrame, Schema]:
    """The table and schema of the dataset at ``location``: a trainpipe dataset as written, or a
    plain table (see the module docstring) cleaned as ingest cleans its source.

    Raises:
        DataError: ``location`` holds no table file; a file cannot be parsed; the table lacks
            the label or a column the reference reads; its label holds a class the reference
            does not know; or any check ingest makes on a source fails. The message names the
            location.
    """
    if open_store(location).exists(SCHEMA_KEY):
        return read_dataset(location)
    raw = _read_tables(location, config.data.format, config.data.csv)
    if reference is None:
        frame, _, plan = clean(raw, config, display=location)
        schema = infer_schema(frame, config, plan, display=location)
    else:
        plan = _reference_plan(reference)
        frame, _, _ = clean(raw, config, display=location, plan=plan)
        schema = dataclasses.replace(reference)
        _check_classes(frame, schema, location)
    if schema.classes:
        frame[schema.label] = frame[schema.label].astype(str)
    schema.data_hash = frame_hash(frame)
    return frame, schema


def _reference_plan(reference: Schema) -> ColumnPlan:
    if reference.column_roles.get("columns"):
        return ColumnPlan.from_dict(reference.column_roles)
    return ColumnPlan.numeric(reference.features, "a feature of the training data")


def _check_classes(frame: pd.DataFrame, schema: Schema, display: str) -> None:
    if not schema.classes:
        return
    unknown = sorted(set(frame[schema.label].astype(str)) - set(schema.classes))
    if unknown:
        raise DataError(
            f"{display}: label column {schema.label!r} holds classes {unknown[:10]} that the "
            f"training data does not have (it has {schema.classes[:20]}); give every split the "
            "same classes"
        )


def _read_tables(location: str, fmt: str, csv: CsvConfig) -> pd.DataFrame:
    files = table_files(location)
    if not files:
        raise DataError(
            f"dataset {location} holds no table file and is no trainpipe dataset (no "
            f"{SCHEMA_KEY}): write the table to the Dataset artifact's path as CSV or Parquet"
        )
    frames = [_read_one(uri, fmt, csv) for uri in files]
    columns = list(frames[0].columns)
    for uri, frame in zip(files[1:], frames[1:], strict=True):
        if list(frame.columns) != columns:
            raise DataError(
                f"dataset {location}: {uri} has the columns {list(frame.columns)[:20]}, but "
                f"{files[0]} has {columns[:20]}; every file of a dataset needs the same columns"
            )
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _read_one(uri: str, fmt: str, csv: CsvConfig) -> pd.DataFrame:
    with local_copy(uri) as path:
        return read_file(path, _format(path, fmt, csv), display=uri)


def _format(path: Path, fmt: str, csv: CsvConfig) -> FileFormat:
    name = path.name
    if fmt == "auto" and "." not in name:
        with path.open("rb") as handle:
            if handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC:
                return FileFormat(kind="parquet")
    return file_format(name, fmt, csv)

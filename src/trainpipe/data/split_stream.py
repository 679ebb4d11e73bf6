"""The split of a dataset too large for memory, one row group at a time.

The in-memory split (:func:`trainpipe.data.split.split_frame`) draws a stratified sample of the
whole table. A stream cannot, so each row's split is decided by its own key: a 64-bit hash of
its feature values (or of its ``split.group_by`` value), mixed with the run's seed and read as a
number ``u`` in [0, 1): ``u < split.test`` is test, below ``split.test + split.validation``
validation, the rest train. Hence:

* rows with identical features, and the rows of a group, always share a split (by construction:
  the same key gives the same ``u``), as in memory;
* the same seed gives the same split, whatever the row group size or the order of the rows;
* the splits' sizes and class proportions match the fractions in expectation, not exactly (each
  row is a Bernoulli draw): the findings list each split's rows and class counts.

A time split (the schema's ``order`` column, from ``split.order_by``) reads the time column
first and cuts it as the in-memory split does (:mod:`trainpipe.data.split_time`), so both put
every row in the same split.

The three splits are written to temporary Parquet files (:class:`~trainpipe.data.stream_sink.
ParquetSink`, row groups of about 32 MiB, the block training streams by) and moved into place,
each with the dataset's schema and data hash (as in memory: lineage names the dataset), only
when the whole table has been read and every split has rows; on any error nothing is left at
the outputs. Exact leaks by row content are impossible here by construction (a time split's
later rows repeating earlier ones are counted by their hashes and warned of, as in memory);
near-duplicates are searched for a seeded sample of the validation and test rows against every
train row (:mod:`trainpipe.data.stream_near_duplicates`), before anything is moved into place.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from trainpipe.config import RunConfig
from trainpipe.data.dataset import SCHEMA_KEY, Schema
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.data.quality import Finding, missing_classes, row_hashes
from trainpipe.data.split_time import (
    TimeCuts,
    TimeSpan,
    repeat_finding,
    time_cuts,
    time_split_finding,
)
from trainpipe.data.stream_dedupe import mix64
from trainpipe.data.stream_near_duplicates import StreamedNearDuplicates
from trainpipe.data.stream_sink import ParquetSink
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

__all__ = ["SPLIT_NAMES", "split_assignment", "split_streamed"]

SPLIT_NAMES = ("train", "validation", "test")
BLOCK_BYTES = 32 << 20


def split_assignment(keys: np.ndarray, *, seed: int, validation: float, test: float) -> np.ndarray:
    """0 (train), 1 (validation) or 2 (test) for each ``uint64`` row key, from the seed."""
    salt = mix64(np.array([seed], dtype=np.uint64))
    mixed = mix64(keys.astype(np.uint64, copy=True) ^ salt)
    u = (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.where(u < test, 2, np.where(u < test + validation, 1, 0)).astype(np.int8)


@dataclasses.dataclass
class _Part:
    """One output split: its sink, rows and class counts."""

    sink: ParquetSink
    rows: int = 0
    classes: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, table: pa.Table, label: str, classification: bool) -> None:
        """Write ``table``'s rows to this split and count them."""
        if table.num_rows == 0:
            return
        for batch in table.to_batches():
            self.sink.write(batch)
        self.rows += table.num_rows
        if classification:
            self.classes.update(str(v) for v in table.column(label).to_pylist())


def split_streamed(
    config: RunConfig, dataset: str, outputs: tuple[str, str, str]
) -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
    """Split the dataset at ``dataset`` block by block into ``outputs`` (train, validation,
    test); return the rows of each and the findings.

    Raises:
        DataError: a split would be empty (naming it, the rows and the fractions), or the
            dataset is unreadable; nothing is written then.
    """
    store = open_store(dataset)
    schema = Schema.from_dict(store.read_json(SCHEMA_KEY))
    blocks = ParquetBlocks.open(dataset)
    split = config.split
    key_columns = [schema.group] if schema.group else list(schema.features)
    cuts = _time_cuts(blocks, schema, config) if schema.order else None
    spans = [TimeSpan() for _ in SPLIT_NAMES]
    hashes: list[list[np.ndarray]] = [[] for _ in SPLIT_NAMES]  # a time split's row hashes
    classification = schema.task == "classification"
    parts = [
        _Part(ParquetSink(open_store(o), blocks.arrow_schema, row_group_bytes=BLOCK_BYTES))
        for o in outputs
    ]
    near = (
        StreamedNearDuplicates(
            schema,
            seed=config.seed,
            sample_rows=split.near_duplicate_sample_rows,
            image_shape=schema.files.get("image_shape") or (),
        )
        if split.near_duplicates != "off"
        else None
    )
    findings: list[dict[str, Any]] = []
    try:
        for block in range(len(blocks.block_rows)):
            table = blocks.read_arrow([block])
            if cuts is not None:
                times = table.column(schema.order).to_numpy().astype(np.float64)
                where = cuts.assign(times)
                for index, span in enumerate(spans):
                    span.add(times[where == index])
                features = list(schema.features)
                keys = row_hashes(table.select(features).to_pandas(), features)
                for index, held in enumerate(hashes):
                    held.append(keys[where == index])
            else:
                keys = row_hashes(table.select(key_columns).to_pandas(), key_columns)
                where = split_assignment(
                    keys, seed=config.seed, validation=split.validation, test=split.test
                )
            if near is not None:
                starts = {"validation": parts[1].rows, "test": parts[2].rows}
                near.observe(table, where, starts)
            for index, part in enumerate(parts):
                part.add(table.filter(pa.array(where == index)), schema.label, classification)
        for name, part, fraction in zip(
            SPLIT_NAMES, parts, (1 - split.validation - split.test, split.validation, split.test),
            strict=True,
        ):  # fmt: skip
            if part.rows == 0:
                raise DataError(
                    f"cannot split {blocks.rows} rows of {dataset} into validation="
                    f"{split.validation} and test={split.test}: the {name} split ({fraction:g}) "
                    "got no row (rows are assigned one by one by a hash of their "
                    f"{'split.group_by value' if schema.group else 'features'}); add data or "
                    "raise the fraction"
                )
        for part in parts:
            part.sink.close()
        if near is not None:
            found = _near_duplicates(near, parts[0], config)
            if found is not None:
                findings.append(found)
        for part, location in zip(parts, outputs, strict=True):
            part.sink.commit()
            # the dataset's schema and hash, as the in-memory split writes: lineage names the
            # dataset the splits came from
            open_store(location).write_json(SCHEMA_KEY, schema.to_dict())
    except BaseException:
        for part in parts:
            part.sink.discard()
        raise
    if cuts is not None:
        findings[:0] = [f.to_dict() for f in _repeats(hashes, schema)]
        findings.insert(0, time_split_finding(spans, schema).to_dict())
    else:
        findings.insert(0, _finding(blocks.rows, parts, schema).to_dict())
    if classification:
        everywhere = sum((part.classes for part in parts), Counter[str]())
        absent = missing_classes(everywhere, [p.classes for p in parts], fix="add rows of it")
        findings[1:1] = [finding.to_dict() for finding in absent]
    rows = (parts[0].rows, parts[1].rows, parts[2].rows)
    return rows, findings


def _time_cuts(blocks: ParquetBlocks, schema: Schema, config: RunConfig) -> TimeCuts:
    """The cuts of a time split, from the time column alone (8 bytes a row): the cuts the
    in-memory split makes of the same rows."""
    every = range(len(blocks.block_rows))
    times = blocks.read_arrow(every, [schema.order]).column(0).to_numpy().astype(np.float64)
    split = config.split
    return time_cuts(times, validation=split.validation, test=split.test, column=schema.order)


def _repeats(hashes: list[list[np.ndarray]], schema: Schema) -> list[Finding]:
    """A time split's validation and test rows repeating a train row's features (hashed
    8 bytes a row, as the in-memory split compares them)."""
    seen = np.unique(np.concatenate(hashes[0])) if hashes[0] else np.zeros(0, np.uint64)
    found = []
    for name, keys in zip(SPLIT_NAMES[1:], hashes[1:], strict=True):
        held = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        count = int(np.isin(held, seen).sum())
        if count:
            found.append(repeat_finding(name, count, len(held), list(schema.features)))
    return found


def _near_duplicates(
    near: StreamedNearDuplicates, train: _Part, config: RunConfig
) -> dict[str, Any] | None:
    """The near-duplicate finding, searched in the train split's finished temp file.

    Raises:
        DataError: near-copies were found and ``split.near_duplicates`` is ``fail`` (the
            caller discards every output then).
    """
    mode = config.split.near_duplicates
    assert mode != "off" and train.sink.path is not None
    finding = near.search(
        str(train.sink.path), threshold=config.split.near_duplicate_distance, severity=mode
    )
    if finding is None:
        return None
    if finding.severity == "fail":
        raise DataError(finding.message)
    return finding.to_dict()


def _finding(total: int, parts: list[_Part], schema: Schema) -> Finding:
    """What the streamed split did, with each split's rows and class counts."""
    by = f"its split.group_by value {schema.group!r}" if schema.group else "its feature values"
    counts = ", ".join(
        f"{name} {part.rows:,}"
        + (f" ({dict(sorted(part.classes.items()))})" if part.classes else "")
        for name, part in zip(SPLIT_NAMES, parts, strict=True)
    )
    return Finding(
        check="streamed_split",
        severity="info",
        message=(
            f"{total:,} rows split as a stream, each by a seeded hash of {by}, so identical "
            f"rows{' and groups' if schema.group else ''} share a split and the fractions hold "
            f"in expectation (no exact stratification): {counts}"
        ),
        rows=total,
    )

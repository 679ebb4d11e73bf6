"""Near-duplicates across the splits of a dataset split as a stream.

The in-memory check (:mod:`trainpipe.data.near_duplicates`) indexes the whole train split. A
streamed split never holds it, so the check turns around: it keeps a seeded sample of at most
``split.near_duplicate_sample_rows`` validation and as many test rows, then reads the train
split back one row group at a time, indexes it and searches it for every sampled row, keeping
each one's nearest train row over all groups. Memory holds the sample and one row group; the
share of near-copies in the sample estimates the share in the split. A row group of at least
:data:`IVF_MIN_ROWS` rows is indexed as an inverted file (faiss ``IndexIVFFlat``, which finds
near-copies at about a tenth of the brute-force cost), a smaller one exactly.

The sample is bottom-k by a seeded hash of each row's feature values: the rows whose mixed hash
is smallest, which depends neither on the row group size nor on the order of the rows. Tables
embed as in memory, with the train split's means, deviations (from running moments) and
categories gathered while splitting; image rows as thumbnails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainpipe.data.dataset import Schema
from trainpipe.data.near_duplicates import (
    ADVICE,
    THUMBNAIL,
    Method,
    TableEmbedding,
    embed_images,
    nearest_train_rows,
)
from trainpipe.data.quality import Finding, row_hashes
from trainpipe.data.stream_dedupe import mix64
from trainpipe.data.stream_moments import Moments

__all__ = ["QUERY_SPLITS", "StreamedNearDuplicates"]

QUERY_SPLITS = ("validation", "test")
SAMPLE_SALT = 0x6E656172  # the sample's hash differs from the split's, so it is not skewed
IVF_MIN_ROWS = 20_000
"""Train row groups from this size on are searched through an inverted file
(:data:`~trainpipe.data.near_duplicates.IVF_PROBES`), smaller ones exactly."""


@dataclass
class _BottomK:
    """The ``size`` rows of smallest priority seen so far, with their positions in the split."""

    size: int
    priority: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    position: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    rows: pa.Table | None = None
    seen: int = 0

    def offer(self, table: pa.Table, priority: np.ndarray, first: int) -> None:
        """Rows of one block of this split; ``first``: the split position of the first."""
        self.seen += table.num_rows
        position = first + np.arange(table.num_rows, dtype=np.int64)
        if len(self.priority) >= self.size:
            wanted = priority < self.priority.max()
            table, priority, position = (
                table.filter(pa.array(wanted)),
                priority[wanted],
                position[wanted],
            )
        if table.num_rows == 0:
            return
        rows = table if self.rows is None else pa.concat_tables([self.rows, table])
        priorities = np.concatenate([self.priority, priority])
        positions = np.concatenate([self.position, position])
        keep = np.sort(np.argsort(priorities, kind="stable")[: self.size])
        self.rows = rows.take(pa.array(keep))
        self.priority, self.position = priorities[keep], positions[keep]


class StreamedNearDuplicates:
    """The streamed near-duplicate check: fed every block while splitting
    (:meth:`observe`), then run over the finished train split (:meth:`search`)."""

    def __init__(
        self, schema: Schema, *, seed: int, sample_rows: int, image_shape: Sequence[int] = ()
    ) -> None:
        self.schema = schema
        self.image_shape = list(image_shape)
        self.salt = mix64(np.array([seed ^ SAMPLE_SALT], dtype=np.uint64))
        self.numeric, categorical = TableEmbedding.columns(schema)
        self.moments = Moments(len(self.numeric))
        self.categories: dict[str, set[str]] = {c: set() for c in categorical}
        self.samples = {name: _BottomK(sample_rows) for name in QUERY_SPLITS}

    def observe(self, table: pa.Table, where: np.ndarray, starts: Mapping[str, int]) -> None:
        """One block as split: ``where`` is each row's split (0 train, 1 validation, 2 test),
        ``starts`` each split's rows before this block."""
        train = table.filter(pa.array(where == 0))
        if not self.image_shape and train.num_rows:
            frame = train.select([*self.numeric, *self.categories]).to_pandas()
            values = frame[self.numeric].to_numpy(dtype=np.float64).T
            gaps = np.isnan(values)
            self.moments.update(values, gaps if gaps.any() else None)
            for column, seen in self.categories.items():
                seen.update(frame[column].dropna().astype(str).unique().tolist())
        features = list(self.schema.features)
        for index, name in enumerate(QUERY_SPLITS, start=1):
            part = table.filter(pa.array(where == index)).select(features)
            if part.num_rows == 0:
                continue
            keys = row_hashes(part.to_pandas(), features)
            priority = mix64(keys.astype(np.uint64, copy=True) ^ self.salt)
            self.samples[name].offer(part, priority, starts[name])

    def _embedding(self) -> Callable[[pd.DataFrame], np.ndarray]:
        if self.image_shape:
            return lambda frame: embed_images([frame[self.schema.features]], self.image_shape)[0]
        moments = self.moments
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(moments.count > 0, moments.mean, np.nan)
            std = np.sqrt(np.where(moments.count > 0, moments.m2 / moments.count, np.nan))
        categories = {c: sorted(values) for c, values in self.categories.items()}
        return TableEmbedding.scaled(self.numeric, mean, std, categories).embed

    def search(
        self,
        train_file: str,
        *,
        threshold: float,
        severity: Literal["fail", "warn"],
    ) -> Finding | None:
        """Search the train split's Parquet file at ``train_file`` for each sampled row's
        nearest train row; a finding when some lie within ``threshold`` (not identical)."""
        embed = self._embedding()
        names = [name for name in QUERY_SPLITS if self.samples[name].rows is not None]
        queries = {name: embed(self._rows(name)) for name in names}
        best = {name: np.full(len(queries[name]), np.inf) for name in names}
        partner = {name: np.full(len(queries[name]), -1, dtype=np.int64) for name in names}
        file = pq.ParquetFile(train_file)
        offset = 0
        for group in range(file.metadata.num_row_groups):
            frame = file.read_row_group(group, columns=list(self.schema.features)).to_pandas()
            rows = embed(frame)
            method: Method = "ivf" if len(rows) >= IVF_MIN_ROWS else "exact"
            for name in names:
                nearest = nearest_train_rows(rows, queries[name], method=method)
                closer = nearest.distance < best[name]
                best[name][closer] = nearest.distance[closer]
                partner[name][closer] = offset + nearest.train_row[closer]
            offset += len(frame)
        return self._finding(best, partner, threshold=threshold, severity=severity)

    def _rows(self, name: str) -> pd.DataFrame:
        rows = self.samples[name].rows
        assert rows is not None
        return rows.to_pandas()

    def _finding(
        self,
        best: dict[str, np.ndarray],
        partner: dict[str, np.ndarray],
        *,
        threshold: float,
        severity: Literal["fail", "warn"],
    ) -> Finding | None:
        shown: list[str] = []
        closest: tuple[float, str, int, int] | None = None
        found = 0
        for name, distance in best.items():
            near = (distance > 0) & (distance <= threshold)
            if not near.any():
                continue
            sample = self.samples[name]
            count = int(near.sum())
            share = count / len(distance)
            found += count
            shown.append(
                f"{count} of {len(distance):,} sampled {name} rows ({share:.1%}; about "
                f"{round(share * sample.seen):,} of its {sample.seen:,})"
            )
            i = int(np.flatnonzero(near)[np.argmin(distance[near])])
            pair = (float(distance[i]), name, int(sample.position[i]), int(partner[name][i]))
            if closest is None or pair[0] < closest[0]:
                closest = pair
        if closest is None:
            return None
        if self.image_shape:
            compared = f"{THUMBNAIL}x{THUMBNAIL} normalized gray thumbnails"
        else:
            text = set(self.schema.text)
            compared = f"{sum(c not in text for c in self.schema.features)} standardized features"
        nearest, name, row, train_row = closest
        columns = [c for c in self.schema.features if c not in set(self.schema.text)]
        return Finding(
            check="near_duplicates",
            severity=severity,
            message=(
                f"{', '.join(shown)} lie within {threshold:g} (RMS over {compared}) of a train "
                f"row without being identical to it; the dataset was split as a stream, so a "
                f"seeded sample of the validation and test rows was compared with every train "
                f"row (split.near_duplicate_sample_rows). E.g. {name} row {row} and train row "
                f"{train_row} (row numbers within each split) at {nearest:.3g}: near-copies "
                f"leak into the scores; {ADVICE[severity]}"
            ),
            columns=tuple(columns),
            rows=found,
        )

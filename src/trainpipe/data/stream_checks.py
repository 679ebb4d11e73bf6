"""Schema validation, drift and histograms for the streaming ingest, one record batch at a time.

The in-memory ingest validates whole columns (:mod:`trainpipe.data.validation`). A stream never
holds a whole column, so :class:`StreamChecks` keeps what the same checks need, in memory that
does not grow with the file:

* a :class:`~trainpipe.data.validation.ColumnProfile` per column of the expected schema (nulls,
  out-of-range values, fractions in an integer column), merged batch by batch;
* per feature, the counts over the baseline histogram's bins and the missing values, from which
  the population stability index is computed exactly as for a whole column;
* a seeded uniform sample of at most ``sample_rows`` cleaned rows, whose quantiles give the
  histograms saved for the next run's drift check. Up to ``sample_rows`` rows they are exact;
  beyond, they are the sample's quantile bins (with 50,000 rows, a bin's share is off by about
  0.2 percentage points at most, far below what the PSI thresholds react to). A table wider
  than 100 features keeps fewer rows, :data:`SAMPLE_CELLS` values in all (at least 1,000 rows):
  an image folder's 3,072 pixel columns keep 1,627.

The findings are the in-memory ingest's :class:`~trainpipe.data.validation.Anomaly` objects, and
``fail`` anomalies stop the ingest before its output is committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainpipe.data.validation import (
    Anomaly,
    ColumnProfile,
    ColumnSchema,
    DataSchema,
    bin_counts,
    column_anomalies,
    column_drift,
    histogram,
    missing_columns,
    missing_ratio_before,
    profile_numbers,
)

__all__ = ["StreamChecks"]

SAMPLE_CELLS = 5_000_000
"""Values (rows x features) the histogram sample holds at most: 40 MB of float64."""

_WHOLE = ColumnSchema(kind="int")
"""Profiling against an unbounded integer column tells whether a column holds fractions."""


class StreamChecks:
    """Accumulates the cleaned batches of a streaming ingest for validation, drift and statistics.

    Args:
        features: The feature columns, in the order of the rows of ``values`` in :meth:`update`.
        label: The label column.
        classification: Whether the label holds classes (else numbers).
        expected: The schema the data must satisfy (declared or the baseline's), or None.
        baseline_stats: The baseline's ``stats.json`` for drift, or None.
        sample_rows: The most rows kept for histograms.
        seed: Seeds the sample, so an ingest is reproducible.
    """

    def __init__(
        self,
        features: Sequence[str],
        label: str,
        *,
        classification: bool,
        expected: DataSchema | None,
        baseline_stats: Mapping[str, Any] | None,
        sample_rows: int = 50_000,
        seed: int = 0,
    ) -> None:
        self.features = list(features)
        self.label = label
        self.classification = classification
        self.expected = expected
        self.baseline_stats = baseline_stats
        # a wide table (an image folder's pixels) keeps fewer rows: the sample is cells in memory
        self.sample_rows = min(sample_rows, max(1_000, SAMPLE_CELLS // max(1, len(self.features))))
        self.rng = np.random.default_rng(seed)
        self.rows = 0
        self.shape = [ColumnProfile() for _ in self.features]
        self.label_shape = ColumnProfile()
        self.target_range = (np.inf, -np.inf)
        self.profiles: dict[str, ColumnProfile] = {}
        self.previous: dict[str, Any] = dict((baseline_stats or {}).get("features", {}))
        self.drift_counts: dict[str, np.ndarray] = {}
        self.missing = np.zeros(len(self.features), dtype=np.int64)
        self.sample = np.empty((len(self.features), 0))
        self.sample_keys = np.empty(0)

    def update(self, values: np.ndarray, target: np.ndarray | None = None) -> None:
        """Add a batch of cleaned rows: ``values`` is features x rows (NaN: missing),
        ``target`` the regression labels (None for classification)."""
        n = values.shape[1]
        if n == 0:
            return
        self.rows += n
        self.missing += np.isnan(values).sum(axis=1)
        for j, name in enumerate(self.features):
            self.shape[j].merge(profile_numbers(values[j], _WHOLE))
            self._profile(name, values[j])
            hist = (self.previous.get(name) or {}).get("histogram")
            if hist:
                counts = bin_counts(hist, values[j])
                if name in self.drift_counts:
                    counts = counts + self.drift_counts[name]
                self.drift_counts[name] = counts
        if target is not None:
            self.label_shape.merge(profile_numbers(target, _WHOLE))
            self._profile(self.label, target)
            present = target[~np.isnan(target)]
            if len(present):
                self.target_range = (
                    min(self.target_range[0], float(present.min())),
                    max(self.target_range[1], float(present.max())),
                )
        self._sample(values)

    def _profile(self, name: str, values: np.ndarray) -> None:
        col = self.expected.columns.get(name) if self.expected is not None else None
        if col is not None:
            self.profiles.setdefault(name, ColumnProfile()).merge(profile_numbers(values, col))

    def _sample(self, values: np.ndarray) -> None:
        """Keep the rows with the ``sample_rows`` smallest random keys: a uniform sample."""
        keys = np.concatenate([self.sample_keys, self.rng.random(values.shape[1])])
        sample = np.concatenate([self.sample, values], axis=1)
        if len(keys) > self.sample_rows:
            keep = np.zeros(len(keys), dtype=bool)
            keep[np.argpartition(keys, self.sample_rows)[: self.sample_rows]] = True
            keys, sample = keys[keep], sample.compress(keep, axis=1)
        self.sample_keys, self.sample = keys, sample

    def anomalies(self, classes: Sequence[str]) -> list[Anomaly]:
        """Every anomaly against the expected schema and the baseline, given the final classes."""
        found: list[Anomaly] = []
        if self.expected is not None:
            found += missing_columns([*self.features, self.label], self.expected)
            if self.classification and self.label in self.expected.columns:
                self.profiles[self.label] = ColumnProfile(values=set(classes))
            for name, col in self.expected.columns.items():
                if name in self.profiles:
                    found += column_anomalies(name, col, self.profiles[name])
        if self.baseline_stats is not None:
            for j, name in enumerate(self.features):
                if name not in self.previous:
                    continue
                found += column_drift(
                    name,
                    self.previous[name],
                    before=missing_ratio_before(self.baseline_stats, name),
                    now=float(self.missing[j]) / max(1, self.rows),
                    counts=self.drift_counts.get(name, np.zeros(0)),
                )
        return found

    def histograms(self) -> dict[str, dict[str, list[float]]]:
        """The histogram of every feature, from the sample."""
        return {name: histogram(self.sample[j]) for j, name in enumerate(self.features)}

    def inferred_schema(
        self, classes: Sequence[str], bounds: Mapping[str, Mapping[str, float]]
    ) -> DataSchema:
        """The schema the cleaned data satisfies, for the next run; ``bounds`` holds each
        feature's observed ``min`` and ``max`` (the statistics' feature summaries)."""
        columns: dict[str, ColumnSchema] = {}
        for j, name in enumerate(self.features):
            columns[name] = self._numeric_schema(self.shape[j], bounds.get(name, {}))
        if self.classification:
            columns[self.label] = ColumnSchema(
                kind="category", values=sorted(classes), nullable=False
            )
        else:
            low, high = self.target_range
            seen = {"min": low, "max": high} if low <= high else {}
            columns[self.label] = self._numeric_schema(self.label_shape, seen)
        return DataSchema(columns=columns)

    @staticmethod
    def _numeric_schema(shape: ColumnProfile, bounds: Mapping[str, float]) -> ColumnSchema:
        low, high = bounds.get("min"), bounds.get("max")
        return ColumnSchema(
            kind="float" if shape.fractions else "int",
            min=None if low is None or np.isnan(low) else float(low),
            max=None if high is None or np.isnan(high) else float(high),
            nullable=shape.nulls > 0,
        )

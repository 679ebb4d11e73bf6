"""Schema validation and drift: what TFX's SchemaGen and ExampleValidator do, for a table.

A :class:`DataSchema` describes each column (kind, range, allowed values, nullability). It is
inferred on a first run and saved with the dataset (``data_schema.json``), or declared in the
config (``data.schema``). Later runs are validated against it, and their feature distributions
are compared with the previous run's statistics (population stability index over the baseline's
quantile bins). Every finding is an :class:`Anomaly` with a severity: ``warn`` is recorded,
``fail`` stops ingest before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["warn", "fail"]

PSI_WARN = 0.1
PSI_FAIL = 0.25
MISSING_JUMP = 0.1
BINS = 10


@dataclass(kw_only=True)
class ColumnSchema:
    """What one column may hold."""

    kind: Literal["float", "int", "bool", "category", "text"]
    min: float | None = None
    max: float | None = None
    values: list[str] = field(default_factory=list)
    """Allowed values of a category column (the label of a classification task)."""
    nullable: bool = True


@dataclass(kw_only=True)
class DataSchema:
    """Column schemas by name."""

    columns: dict[str, ColumnSchema]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``data_schema.json``."""
        return {"columns": {name: asdict(col) for name, col in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSchema:
        """Inverse of :meth:`to_dict`; also reads a config's ``data.schema`` mapping."""
        columns = data.get("columns", data)
        return cls(columns={str(n): ColumnSchema(**dict(c)) for n, c in columns.items()})


@dataclass(frozen=True)
class Anomaly:
    """One way the data departs from its schema or from the previous run."""

    column: str
    kind: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for the statistics report."""
        return asdict(self)


def infer_schema(
    frame: pd.DataFrame, *, categorical: Sequence[str] = (), text: Sequence[str] = ()
) -> DataSchema:
    """A schema that the given table satisfies (ranges are the observed ones); ``text`` columns
    hold free text (only their nullability is checked)."""
    columns: dict[str, ColumnSchema] = {}
    for name in frame.columns:
        series = frame[name]
        nullable = bool(series.isna().any())
        if name in text:
            columns[str(name)] = ColumnSchema(kind="text", nullable=nullable)
            continue
        if name in categorical or not pd.api.types.is_numeric_dtype(series):
            values = sorted({str(v) for v in series.dropna().unique()})
            columns[str(name)] = ColumnSchema(kind="category", values=values, nullable=nullable)
            continue
        kind: Literal["float", "int", "bool"] = (
            "bool"
            if pd.api.types.is_bool_dtype(series)
            else "int"
            if _is_whole(series)
            else "float"
        )
        finite = series.dropna()
        columns[str(name)] = ColumnSchema(
            kind=kind,
            min=float(finite.min()) if len(finite) else None,
            max=float(finite.max()) if len(finite) else None,
            nullable=nullable,
        )
    return DataSchema(columns=columns)


def _is_whole(series: pd.Series) -> bool:
    values = series.dropna().to_numpy(dtype=np.float64)
    return bool(len(values)) and bool(np.all(np.equal(np.floor(values), values)))


@dataclass
class ColumnProfile:
    """What validation needs to know about one column's values, mergeable across batches.

    ``below``/``above`` count values outside the schema's range, ``values`` holds the distinct
    values of a category column, ``not_numeric`` the first value of a numeric column that is not a
    number. A streaming ingest profiles each batch and merges the profiles.
    """

    nulls: int = 0
    below: int = 0
    above: int = 0
    fractions: bool = False
    values: set[str] = field(default_factory=set)
    not_numeric: str | None = None

    def merge(self, other: ColumnProfile) -> None:
        """Add ``other`` (a later batch of the same column) to this profile."""
        self.nulls += other.nulls
        self.below += other.below
        self.above += other.above
        self.fractions = self.fractions or other.fractions
        self.values |= other.values
        if self.not_numeric is None:
            self.not_numeric = other.not_numeric


def profile_numbers(values: np.ndarray, col: ColumnSchema) -> ColumnProfile:
    """Profile float values (NaN: missing) against ``col``."""
    present = values[~np.isnan(values)]
    prof = ColumnProfile(nulls=len(values) - len(present))
    if col.kind == "category":
        prof.values = {str(v) for v in np.unique(present)}
        return prof
    if col.kind in ("int", "bool"):
        prof.fractions = bool(np.any(np.floor(present) != present))
    prof.below = int((present < col.min).sum()) if col.min is not None else 0
    prof.above = int((present > col.max).sum()) if col.max is not None else 0
    return prof


def profile_series(series: pd.Series, col: ColumnSchema) -> ColumnProfile:
    """Profile a table column against ``col``."""
    present = series.dropna()
    if col.kind == "text":
        return ColumnProfile(nulls=len(series) - len(present))
    if col.kind == "category":
        return ColumnProfile(
            nulls=len(series) - len(present), values={str(v) for v in present.unique()}
        )
    numeric = pd.to_numeric(present, errors="coerce")
    if numeric.isna().any():
        return ColumnProfile(
            nulls=len(series) - len(present), not_numeric=repr(present[numeric.isna()].iloc[0])
        )
    values = np.concatenate(
        [numeric.to_numpy(dtype=np.float64), np.full(len(series) - len(present), np.nan)]
    )
    return profile_numbers(values, col)


def column_anomalies(
    name: str, col: ColumnSchema, prof: ColumnProfile, *, strict_ranges: bool = False
) -> list[Anomaly]:
    """Anomalies of one column's profile against its schema: unexpected nulls, new values,
    type changes, out-of-range values (``warn``, or ``fail`` with ``strict_ranges``)."""
    anomalies: list[Anomaly] = []
    if prof.nulls and not col.nullable:
        anomalies.append(
            Anomaly(
                name,
                "unexpected_nulls",
                "fail",
                f"column {name!r} has {prof.nulls} missing values; the schema says it is never "
                "missing",
            )
        )
    if col.kind == "text":
        return anomalies
    if col.kind == "category":
        new = sorted(prof.values - set(col.values))
        if new:
            anomalies.append(
                Anomaly(
                    name,
                    "new_values",
                    "fail",
                    f"column {name!r} has values {new[:5]} not in the schema's {col.values[:10]}",
                )
            )
        return anomalies
    if prof.not_numeric is not None:
        anomalies.append(
            Anomaly(
                name,
                "type_change",
                "fail",
                f"column {name!r} should be {col.kind} but holds {prof.not_numeric}",
            )
        )
        return anomalies
    if prof.fractions:
        anomalies.append(
            Anomaly(
                name,
                "type_change",
                "fail",
                f"column {name!r} should be {col.kind} but holds fractions",
            )
        )
    if prof.below or prof.above:
        anomalies.append(
            Anomaly(
                name,
                "out_of_range",
                "fail" if strict_ranges else "warn",
                f"column {name!r}: {prof.below} value(s) below {col.min} and {prof.above} above "
                f"{col.max}",
            )
        )
    return anomalies


def missing_columns(present: Sequence[str], schema: DataSchema) -> list[Anomaly]:
    """A ``fail`` anomaly for every schema column absent from ``present``."""
    return [
        Anomaly(
            name, "missing_column", "fail", f"column {name!r} is in the schema but not in the data"
        )
        for name in schema.columns
        if name not in present
    ]


def validate(
    frame: pd.DataFrame, schema: DataSchema, *, strict_ranges: bool = False
) -> list[Anomaly]:
    """Anomalies of ``frame`` against ``schema``: missing columns, type changes, new values,
    out-of-range values (``warn``, or ``fail`` with ``strict_ranges``), unexpected nulls."""
    anomalies = missing_columns([str(c) for c in frame.columns], schema)
    for name, col in schema.columns.items():
        if name in frame.columns:
            prof = profile_series(frame[name], col)
            anomalies += column_anomalies(name, col, prof, strict_ranges=strict_ranges)
    return anomalies


def histogram(values: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Quantile bin edges and the share of values in each bin, for drift checks later."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return {"edges": [], "shares": []}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return {"edges": [float(edges[0]), float(edges[0])], "shares": [1.0]}
    counts = _bin_counts(finite, edges)
    return {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    inner = edges[1:-1]
    index = np.searchsorted(inner, values, side="right")
    return np.bincount(index, minlength=len(edges) - 1).astype(np.float64)


def bin_counts(baseline: Mapping[str, Sequence[float]], values: np.ndarray) -> np.ndarray:
    """How many finite ``values`` fall in each of the baseline histogram's bins."""
    edges = np.asarray(baseline["edges"], dtype=np.float64)
    if len(edges) < 2:
        return np.zeros(0)
    return _bin_counts(values[np.isfinite(values)], edges)


def psi_of_counts(baseline: Mapping[str, Sequence[float]], counts: np.ndarray) -> float:
    """Population stability index of the bin ``counts`` against the baseline's bin shares."""
    if len(counts) == 0 or counts.sum() == 0:
        return 0.0
    expected = np.asarray(baseline["shares"], dtype=np.float64)
    actual = counts / counts.sum()
    eps = 1e-4
    expected, actual = np.clip(expected, eps, None), np.clip(actual, eps, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(baseline: Mapping[str, Sequence[float]], values: np.ndarray) -> float:
    """Population stability index of ``values`` over the baseline's bins (0: identical)."""
    return psi_of_counts(baseline, bin_counts(baseline, values))


def missing_ratio_before(baseline_stats: Mapping[str, Any], name: str) -> float:
    """The share of ``name``'s values that were missing in the previous run."""
    rows_before = max(1, int(baseline_stats.get("rows_in", baseline_stats.get("rows", 1))))
    return float(baseline_stats.get("missing_values", {}).get(name, 0)) / rows_before


def column_drift(
    name: str, previous: Mapping[str, Any], *, before: float, now: float, counts: np.ndarray
) -> list[Anomaly]:
    """Missing-ratio jump (``before`` to ``now``) and distribution drift (``counts`` over the
    bins of the previous run's histogram in ``previous``) of one feature."""
    anomalies: list[Anomaly] = []
    if now - before > MISSING_JUMP:
        anomalies.append(
            Anomaly(
                name,
                "missing_jump",
                "warn",
                f"column {name!r}: missing values rose from {before:.1%} to {now:.1%}",
            )
        )
    hist = previous.get("histogram")
    if not hist:
        return anomalies
    score = psi_of_counts(hist, counts)
    if score > PSI_WARN and math.isfinite(score):
        severity: Severity = "fail" if score > PSI_FAIL else "warn"
        anomalies.append(
            Anomaly(
                name,
                "drift",
                severity,
                f"column {name!r} drifted from the previous run "
                f"(PSI {score:.3f}; warn > {PSI_WARN}, fail > {PSI_FAIL})",
            )
        )
    return anomalies


def drift(
    frame: pd.DataFrame, baseline_stats: Mapping[str, Any], features: Sequence[str]
) -> list[Anomaly]:
    """Distribution drift and missing-ratio jumps against the previous run's statistics."""
    anomalies: list[Anomaly] = []
    previous = baseline_stats.get("features", {})
    for name in features:
        if name not in previous or name not in frame.columns:
            continue
        values = frame[name].to_numpy(dtype=np.float64)
        now = float(np.mean(~np.isfinite(values))) if len(values) else 0.0
        hist = previous[name].get("histogram")
        anomalies += column_drift(
            name,
            previous[name],
            before=missing_ratio_before(baseline_stats, name),
            now=now,
            counts=bin_counts(hist, values) if hist else np.zeros(0),
        )
    return anomalies

"""A time split (``split.order_by``): the earliest rows train, the next validate, the latest test.

A random split of rows that follow each other in time scores a model on days it has already
seen around; a time split scores it as it will be used, on a later period. The two cut points
are times: train holds the rows before the first, validation those from the first up to the
second, test the rest. Each cut lies where the time changes, at the change nearest to the
fraction's row count, so rows of one time share a split. The cuts depend only on the times, so
the in-memory and the streamed split place every row alike
(:func:`~trainpipe.data.split.split_frame`, :func:`~trainpipe.data.split_stream.split_streamed`).

Rows are not shuffled, stratified or grouped: a class may be missing from a later period (the
split's findings say so), and a row repeating an earlier one is the future repeating the past,
which a time split scores as it comes (its finding is a warning, not a leak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainpipe.data.dataset import Schema
from trainpipe.data.quality import Finding
from trainpipe.errors import DataError

__all__ = [
    "TimeCuts",
    "TimeSpan",
    "repeat_finding",
    "time_cuts",
    "time_folds",
    "time_split_finding",
]


@dataclass(frozen=True)
class TimeCuts:
    """Where a time split cuts: validation starts at ``validation``, test at ``test``."""

    validation: float
    test: float

    def assign(self, times: np.ndarray) -> np.ndarray:
        """0 (train), 1 (validation) or 2 (test) for each time."""
        return np.where(times < self.validation, 0, np.where(times < self.test, 1, 2)).astype(
            np.int8
        )


@dataclass
class TimeSpan:
    """The rows of one split of a time split and the first and last of their times."""

    rows: int = 0
    first: float = np.inf
    last: float = -np.inf

    def add(self, times: np.ndarray) -> None:
        """Count ``times`` in."""
        if len(times):
            self.rows += len(times)
            self.first = min(self.first, float(times.min()))
            self.last = max(self.last, float(times.max()))


def time_cuts(times: np.ndarray, *, validation: float, test: float, column: str) -> TimeCuts:
    """The cut points that give validation and test their fractions of ``times`` as nearly as
    whole times allow, each split keeping at least one time.

    Raises:
        DataError: a time is missing, or there are fewer than three distinct times, or the
            fractions would leave a split without a time (naming the column and the counts).
    """
    values = np.sort(np.asarray(times, dtype=np.float64))
    n = len(values)
    if np.isnan(values).any():
        missing = int(np.isnan(values).sum())
        raise DataError(
            f"split.order_by column {column!r} has no value in {missing} rows; a time split "
            "places each row by its time: fill those values in or remove the rows"
        )
    changes = _changes(values)
    if len(changes) < 2:
        raise DataError(
            f"cannot split {n} rows by time: split.order_by column {column!r} holds "
            f"{len(changes) + 1} distinct value(s), and train, validation and test each need "
            "one of their own. Order by a finer column, or split at random without order_by"
        )
    first = _nearest(changes[:-1], n * (1 - validation - test))
    second = _nearest(changes[changes > first], n * (1 - test))
    return TimeCuts(validation=float(values[first]), test=float(values[second]))


def time_folds(
    times: np.ndarray, *, folds: int, column: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds that never train on a later time than they validate on, as
    scikit-learn's ``TimeSeriesSplit`` cuts them (an expanding window: fold k trains on the
    first k of ``folds + 1`` equal periods and validates on the next), each cut moved to the
    nearest change of time so that rows of one time share a side. Row indices of ``times``.

    Raises:
        DataError: fewer distinct times than the folds need (``folds + 1``).
    """
    values = np.asarray(times, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    n = len(ordered)
    changes = _changes(ordered)
    if len(changes) < folds:
        raise DataError(
            f"tune.cv.folds={folds} on a time split needs {folds + 1} distinct times in the "
            f"training split, but split.order_by column {column!r} holds {len(changes) + 1} "
            "there: lower tune.cv.folds"
        )
    size = n / (folds + 1)
    starts: list[int] = []
    for k in range(folds):
        later = changes[changes > starts[-1]] if starts else changes
        # leave a distinct change for every fold still to come
        candidates = later[: len(later) - (folds - 1 - k)]
        starts.append(_nearest(candidates, size * (k + 1)))
    ends = [*starts[1:], n]
    return [(order[:start], order[start:end]) for start, end in zip(starts, ends, strict=True)]


def _changes(ordered: np.ndarray) -> np.ndarray:
    """The positions in sorted times where a new time starts: where a cut may lie."""
    return np.flatnonzero(np.diff(ordered) > 0) + 1


def _nearest(candidates: np.ndarray, target: float) -> int:
    """The candidate row position nearest to ``target`` (the earlier one on a tie)."""
    return int(candidates[np.argmin(np.abs(candidates - target))])


def time_split_finding(spans: list[TimeSpan], schema: Schema) -> Finding:
    """The ``info`` finding of a time split: each split's rows and the times they span."""
    dated = _is_date(schema)
    parts = ", ".join(
        f"{name} {span.rows:,} rows ({_moment(span.first, dated)} to {_moment(span.last, dated)})"
        for name, span in zip(("train", "validation", "test"), spans, strict=True)
    )
    return Finding(
        check="time_split",
        severity="info",
        message=(
            f"split by time (split.order_by {schema.order!r}): {parts}; rows are not shuffled, "
            "stratified or grouped, so every score comes from a period after the training data"
        ),
        columns=(schema.order,),
        rows=sum(span.rows for span in spans),
    )


def _is_date(schema: Schema) -> bool:
    """Whether the time column was a date (its times are seconds since the epoch)."""
    for decision in schema.column_roles.get("columns", []):
        if decision.get("column") == schema.order:
            return bool(decision.get("role") == "date")
    return False


def _moment(value: float, dated: bool) -> str:
    """A time for people: a date (with its time of day unless midnight), or the number."""
    if not dated:
        return f"{value:g}"
    stamp = pd.Timestamp(value, unit="s", tz="UTC")
    if stamp == stamp.normalize():
        return stamp.date().isoformat()
    return stamp.isoformat().replace("+00:00", "Z")


def repeat_finding(name: str, repeats: int, rows: int, features: list[str]) -> Finding:
    """A ``warn`` finding for the ``repeats`` of ``rows`` validation or test rows (``name``)
    whose feature values a train row has."""
    return Finding(
        check="shared_rows",
        severity="warn",
        message=(
            f"{repeats} of {rows} {name} rows ({repeats / rows:.1%}) have the same feature values "
            "as a train row; under a time split they are later rows repeating earlier ones, as "
            "the future may, so they are scored as they come (deduplicate the data if repeats "
            "should not count)"
        ),
        columns=tuple(features),
        rows=repeats,
    )

"""What an ingest returns and writes beside the data, shared by the in-memory and streaming paths.

Both :func:`trainpipe.data.ingest.ingest` and :func:`trainpipe.data.stream.ingest_csv_stream`
return an :class:`IngestResult`, write ``data_schema.json`` (:data:`DATA_SCHEMA_KEY`) and
``statistics.html`` (:data:`STATS_HTML_KEY`) beside the dataset, and order classes the same way
(:func:`class_order`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trainpipe.data.dataset import Schema

__all__ = ["DATA_SCHEMA_KEY", "STATS_HTML_KEY", "IngestResult", "class_order"]

DATA_SCHEMA_KEY = "data_schema.json"
"""The column schema the data satisfies, saved for the next run's validation."""
STATS_HTML_KEY = "statistics.html"
"""The human-readable statistics report."""


@dataclass(kw_only=True)
class IngestResult:
    """What ingest wrote and what it found."""

    schema: Schema
    stats: dict[str, Any]


def class_order(classes: Iterable[str]) -> list[str]:
    """Class names sorted naturally: those that read as numbers by value first, then the text."""
    return sorted(classes, key=_natural_key)


def label_notes(trimmed: int, example: str, classes: Iterable[str]) -> dict[str, Any]:
    """What ingest did to class labels and found among them, for ``stats.json``'s ``labels``:
    how many were read without surrounding blanks (``trimmed``, with an ``example`` as
    written), and the classes that differ only in case (``case_variants``: kept apart, since
    the data must say whether ``Yes`` and ``yes`` are one class); empty when neither."""
    notes: dict[str, Any] = {}
    if trimmed:
        notes["trimmed"] = {"rows": trimmed, "example": example}
    folded: dict[str, list[str]] = {}
    for name in sorted(set(classes)):
        folded.setdefault(name.casefold(), []).append(name)
    variants = [group for group in folded.values() if len(group) > 1]
    if variants:
        notes["case_variants"] = variants
    return notes


def _natural_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)

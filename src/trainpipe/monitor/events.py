"""Structured training events: who saw what, when, in one JSON log line.

An anomaly event is a plain dict (it travels into ``metrics.json`` and ``summary.json``)::

    {"type": "anomaly", "kind": "divergence", "run": ..., "task": ..., "rank": 0,
     "epoch": 3, "global_step": 120, "value": 9.1, "threshold": 2.4,
     "message": "...", "time": "2026-01-01T00:00:00.000000Z"}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

ANOMALY_KINDS = ("divergence", "plateau", "stall", "non_finite", "loader_starvation")
"""Every kind of anomaly the detectors report (the ``kind`` label of the anomaly counter)."""


@dataclass(frozen=True)
class RunIds:
    """Whose events and series these are: the labels of every metric and event."""

    job: str
    """The training job's name (deterministic from run and task ids, as the launcher names it)."""
    run: str
    task: str
    rank: int


@dataclass(frozen=True)
class Finding:
    """What a detector concluded; the monitor turns it into an event, a log line and a count."""

    kind: str
    value: float
    threshold: float
    message: str


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with microseconds (``...Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def anomaly_event(
    finding: Finding, ids: RunIds, *, epoch: int, global_step: int, time: str | None = None
) -> dict[str, Any]:
    """The anomaly event dict of the monitoring contract."""
    return {
        "type": "anomaly",
        "kind": finding.kind,
        "run": ids.run,
        "task": ids.task,
        "rank": ids.rank,
        "epoch": epoch,
        "global_step": global_step,
        "value": _json_number(finding.value),
        "threshold": _json_number(finding.threshold),
        "message": finding.message,
        "time": time or rfc3339_now(),
    }


def event_log_line(event: dict[str, Any]) -> str:
    """One JSON log line for ``event``: ``{"event": "<type>", ...the event's fields}``."""
    fields = {k: v for k, v in event.items() if k != "type"}
    return json.dumps({"event": event.get("type", "event"), **fields}, sort_keys=False)


def _json_number(value: float) -> float | str:
    # JSON has no NaN/inf: a non-finite loss is recorded as its name.
    return value if math.isfinite(value) else str(value)

"""What a failed training job leaves at its output: ``failure.json``.

The model files are written only when training succeeds (``model.json`` last). A job that stops
on an error writes this record instead (on rank 0): the error, the epochs it finished and the
events it logged up to then (anomalies, rollbacks), so the run summary and ``trainpipe doctor``
can still tell what came before the failure. The attempt that later succeeds at the same output
removes it. Nothing here imports torch: the run summary reads the record in stages that never
train.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trainpipe.errors import StorageError

__all__ = ["FAILURE_KEY", "clear_failure", "failure_record", "write_failure"]

FAILURE_KEY = "failure.json"
"""The failure record's key in the training job's output location."""


def failure_record(
    exc: BaseException,
    *,
    events: Sequence[dict[str, Any]],
    history: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The record of a training job stopped by ``exc`` after ``history`` and ``events``."""
    return {
        "error": {"type": type(exc).__name__, "message": str(exc).strip() or repr(exc)},
        "history": list(history),
        "events": list(events),
    }


def write_failure(location: str, record: dict[str, Any], *, log: Callable[[str], None]) -> None:
    """Write ``record`` to ``location``; a store that cannot take it is logged, never raised
    (the job's own error is what the caller must see)."""
    from trainpipe.storage.factory import open_store

    try:
        open_store(location).write_json(FAILURE_KEY, record)
    except StorageError as exc:
        log(f"[trainpipe] warning: cannot write the failure record to {location}: {exc}")


def clear_failure(location: str) -> None:
    """Remove the failure record an earlier attempt left at ``location``, if any."""
    from trainpipe.storage.factory import open_store

    store = open_store(location)
    if store.exists(FAILURE_KEY):
        store.delete(FAILURE_KEY)

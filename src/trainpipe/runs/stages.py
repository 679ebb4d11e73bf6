"""Stage records: every pipeline stage says how it went, in a file of its own.

A KFP component wraps its work in :func:`record_stage`. The record is written when the stage
starts (``running``) and again when it ends (``succeeded`` or ``failed``, with the error's type,
message and, for a failed training job, its failure class and action). It holds the stage's wall
time from the start of its process, the seconds spent in the core function (timed with
:meth:`StageRecorder.core`), their difference (the stage's overhead: interpreter start, imports,
the orchestrator's executor, marshalling) and the stage's outputs (artifact URIs and a few
numbers).

Records go to ``{stage_records}/{stage}.json`` (``{stage}-{worker}.json`` for a tuning worker)
through the storage layer, so a run on a laptop and a run on a cluster record alike. The local
runner reads them to show progress and to build the run summary; nothing reads the orchestrator's
log wording or its folder layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from trainpipe.errors import StorageError
from trainpipe.shutdown import skip_final_collection

__all__ = [
    "STAGES",
    "StageError",
    "StageRecord",
    "StageRecorder",
    "process_started_at",
    "read_records",
    "record_key",
    "record_stage",
]

STAGES: tuple[str, ...] = (
    "ingest",
    "split",
    "tune-setup",
    "tune-worker",
    "tune-select",
    "train",
    "validate",
    "evaluate",
    "register",
)
"""The pipeline's stages in the order they run (``tune-worker`` fans out)."""

StageStatus = Literal["running", "succeeded", "failed"]


@dataclass(kw_only=True)
class StageError:
    """Why a stage failed: the exception's type and message, and a failed job's diagnosis."""

    type: str
    message: str
    failure_class: str = ""
    """For a failed training job: preempted, host_oom, cuda_oom, non_finite, ... (see
    :mod:`trainpipe.launch.diagnose`)."""
    action: str = ""
    """What fixes that failure class."""

    @classmethod
    def from_exception(cls, exc: BaseException) -> StageError:
        """The record of ``exc`` (its first line; a job's diagnosis when it carries one)."""
        message = str(exc).strip() or repr(exc)
        return cls(
            type=type(exc).__name__,
            message=message,
            failure_class=str(getattr(exc, "failure_class", "") or ""),
            action=str(getattr(exc, "action", "") or ""),
        )


@dataclass(kw_only=True)
class StageRecord:
    """How one stage (one tuning worker) went."""

    stage: str
    worker: int | None = None
    status: StageStatus = "running"
    started_at: float
    """When the stage's process started (Unix time)."""
    finished_at: float | None = None
    seconds: float = 0.0
    """Wall time from the process start to the end of the stage."""
    core_seconds: float = 0.0
    """Time inside the core function(s) the stage calls."""
    error: StageError | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    """Artifact URIs and small results (rows, data hash, blessed, version, ...)."""

    @property
    def name(self) -> str:
        """``stage``, or ``stage[worker]`` for one of a fan-out's workers."""
        return self.stage if self.worker is None else f"{self.stage}[{self.worker}]"

    @property
    def overhead_seconds(self) -> float:
        """Wall time not spent in the core: process start, imports, executor, marshalling."""
        return max(0.0, self.seconds - self.core_seconds)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, with the overhead spelled out."""
        data = dataclasses.asdict(self)
        data["overhead_seconds"] = round(self.overhead_seconds, 3)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRecord:
        """Inverse of :meth:`to_dict`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        if isinstance(values.get("error"), dict):
            values["error"] = StageError(**values["error"])
        return cls(**values)


def record_key(stage: str, worker: int | None = None) -> str:
    """The object key of a stage's record."""
    return f"{stage}.json" if worker is None else f"{stage}-{worker}.json"


def process_started_at() -> float:
    """When this process started (Unix time): the start of a stage that runs as a process."""
    import psutil

    return float(psutil.Process().create_time())


class StageRecorder:
    """What a running stage adds to its record: core time (:meth:`core`) and outputs."""

    def __init__(self, record: StageRecord) -> None:
        self.record = record
        self.outputs = record.outputs

    @contextlib.contextmanager
    def core(self) -> Iterator[None]:
        """Time the block as the stage's core work (may be used more than once)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record.core_seconds += time.perf_counter() - started


@contextlib.contextmanager
def record_stage(
    location: str,
    stage: str,
    *,
    worker: int | None = None,
    log: Any = None,
    started_at: float | None = None,
) -> Iterator[StageRecorder]:
    """Record ``stage`` under ``location`` (a directory or URI; empty: record nothing).

    The record is written as ``running`` on entry and as ``succeeded`` or ``failed`` on exit;
    an exception is recorded and re-raised. A record that cannot be written never fails the
    stage: ``log`` (default ``print``) says so and the stage goes on. ``started_at``: when the
    stage began (Unix time), for a stage that shares its process with others; default the
    process start.
    """
    skip_final_collection()  # a stage's process ends with it
    began = process_started_at() if started_at is None else started_at
    record = StageRecord(stage=stage, worker=worker, started_at=began)
    recorder = StageRecorder(record)
    say = log or print
    store = _open(location, say)
    _write(store, record, say)
    try:
        yield recorder
    except BaseException as exc:
        record.status = "failed"
        record.error = StageError.from_exception(exc)
        raise
    else:
        record.status = "succeeded"
    finally:
        record.finished_at = time.time()
        record.seconds = record.finished_at - record.started_at
        _write(store, record, say)


def read_records(location: str) -> list[StageRecord]:
    """Every stage record under ``location``, in pipeline order (workers by index)."""
    from trainpipe.storage.factory import open_store

    store = open_store(location)
    records = [
        StageRecord.from_dict(store.read_json(key))
        for key in store.list()
        if key.endswith(".json") and "/" not in key
    ]
    order = {stage: i for i, stage in enumerate(STAGES)}
    return sorted(records, key=lambda r: (order.get(r.stage, len(order)), r.worker or 0))


def _open(location: str, say: Any) -> Any:
    if not location:
        return None
    from trainpipe.storage.factory import open_store

    try:
        return open_store(location)
    except StorageError as exc:
        say(f"[trainpipe] warning: stage records at {location} cannot be opened: {exc}")
        return None


def _write(store: Any, record: StageRecord, say: Any) -> None:
    if store is None:
        return
    try:
        store.write_json(record_key(record.stage, record.worker), record.to_dict())
    except StorageError as exc:
        say(f"[trainpipe] warning: cannot write the {record.name} stage record: {exc}")

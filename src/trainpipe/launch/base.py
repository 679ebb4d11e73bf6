"""The job backend protocol: run a JobSpec to completion or raise LaunchError/TrainingError."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from trainpipe.console import print_line
from trainpipe.launch.spec import JobSpec

LogSink = Callable[[str], None]


@dataclass
class JobResult:
    """How a finished job ended."""

    name: str
    succeeded: bool
    exit_codes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    log_tail: list[str] = field(default_factory=list)
    """The last lines the workers printed, for failure diagnosis."""
    reasons: list[str] = field(default_factory=list)
    """What else the diagnosis reads: a pod's termination reason (``OOMKilled``), the
    cgroup's count of OOM kills."""
    attempts: int = 1
    """How many times the backend started the job (restarts after retryable failures)."""
    stopped: bool = False
    """The job was stopped because its caller asked (``stop``), not because it failed."""


class JobBackend(Protocol):
    """Runs a training job somewhere: local processes, a PyTorchJob, a TrainJob."""

    def run(
        self,
        spec: JobSpec,
        *,
        log: LogSink = print_line,
        stop: threading.Event | None = None,
    ) -> JobResult:
        """Run ``spec`` to completion, streaming worker logs to ``log``; once ``stop`` is set,
        stop the job (it ends ``stopped``, without a restart) instead."""
        ...

"""One contract for every job backend (local torchrun, PyTorchJob, TrainJob).

A backend runs a JobSpec to completion: on success every line the lead process prints reaches the
log sink once and in order and the result carries zero exit codes; on failure the result says so,
carries a non-zero exit code and the trainpipe error line the job printed; past its timeout the
backend raises TrainingError; once the caller sets its stop event, the job is stopped and the
result says so. Each implementation provides a :class:`Harness` that prepares a job
with a given behaviour; the test classes that inherit :class:`JobBackendContract` run the suite.
"""

import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pytest

from trainpipe.errors import TrainingError
from trainpipe.launch.base import JobBackend
from trainpipe.launch.spec import JobSpec

PREFIX = re.compile(r"^\[[^\]]+\] ")
ERROR_LINE = "trainpipe.errors.TrainingError: the contract job failed on purpose"


@dataclass
class Behaviour:
    """What the job's lead process does."""

    lines: list[str]
    exit_code: int = 0
    hang: bool = False


class Harness(ABC):
    """Prepares a backend and a spec whose job behaves as asked."""

    @abstractmethod
    def prepare(self, behaviour: Behaviour, *, timeout_seconds: int) -> tuple[JobBackend, JobSpec]:
        """A backend and the spec to run on it."""


class JobBackendContract:
    """The suite; each ``Test*`` subclass defines a ``harness`` fixture returning its Harness."""

    def test_success_streams_every_line_once_in_order(self, harness: Harness) -> None:
        lines = [f"epoch {i} loss {1 / i:.3f}" for i in range(1, 6)]
        backend, spec = harness.prepare(Behaviour(lines), timeout_seconds=120)
        seen: list[str] = []
        result = backend.run(spec, log=seen.append)
        assert result.succeeded and result.name == spec.name
        assert result.exit_codes and all(code == 0 for code in result.exit_codes)
        streamed = [PREFIX.sub("", line) for line in seen if PREFIX.match(line)]
        assert [line for line in streamed if line in lines] == lines
        assert result.seconds >= 0

    def test_failure_reports_the_error_line_and_exit_code(self, harness: Harness) -> None:
        behaviour = Behaviour(["epoch 1 loss 0.9", ERROR_LINE], exit_code=1)
        backend, spec = harness.prepare(behaviour, timeout_seconds=120)
        result = backend.run(spec, log=lambda line: None)
        assert not result.succeeded
        assert any(code != 0 for code in result.exit_codes)
        assert "the contract job failed on purpose" in result.error
        assert any("failed on purpose" in line for line in result.log_tail)

    def test_a_stop_request_stops_the_job_and_says_so(self, harness: Harness) -> None:
        backend, spec = harness.prepare(Behaviour(["started"], hang=True), timeout_seconds=60)
        stop = threading.Event()

        def log(line: str) -> None:
            if line.endswith("started"):
                stop.set()

        result = backend.run(spec, log=log, stop=stop)
        assert result.stopped and not result.succeeded
        assert result.error == "stopped on request"

    def test_timeout_raises_training_error(self, harness: Harness) -> None:
        backend, spec = harness.prepare(Behaviour(["started"], hang=True), timeout_seconds=3)
        with pytest.raises(TrainingError, match="timeout"):
            backend.run(spec, log=lambda line: None)

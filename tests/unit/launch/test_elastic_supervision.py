"""The elastic local backend's supervision of its nodes, and the replay of a membership history,
against scripted node lives (no processes)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from trainpipe.errors import LaunchError, TrainingError
from trainpipe.launch.base import JobResult, LogSink
from trainpipe.launch.elastic import (
    elastic_environment,
    elastic_succeeded,
    replay_membership,
    supervise_elastic,
)
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.spec import JobSpec
from trainpipe.train.faults import INJECT_PREEMPT_ENV
from trainpipe.train.membership import Membership

pytestmark = pytest.mark.unit


@dataclass
class Life:
    """One start of a node's agent: it exits ``code`` after ``seconds`` (None: runs on)."""

    code: int | None
    seconds: float = 0.05


@dataclass
class FakeProc:
    life: Life
    started: float = field(default_factory=time.monotonic)
    returncode: int | None = None

    def poll(self) -> int | None:
        alive = time.monotonic() - self.started
        if self.returncode is None and self.life.code is not None and alive >= self.life.seconds:
            self.returncode = self.life.code
        return self.returncode


class FakeGroup:
    """Nodes whose successive starts live the scripted lives."""

    def __init__(self, lives: dict[int, list[Life]]):
        self.lives = lives
        self.procs: dict[int, FakeProc] = {}
        self.starts: list[int] = []
        self.terminated: list[int] = []

    def start(self, node: int) -> None:
        self.starts.append(node)
        self.procs[node] = FakeProc(self.lives[node].pop(0))

    def poll(self) -> dict[int, int | None]:
        return {node: proc.poll() for node, proc in self.procs.items()}

    def terminate(self, node: int) -> None:
        proc = self.procs[node]
        if proc.poll() is None:
            self.terminated.append(node)
            proc.returncode = -15

    def stop(self) -> None:
        for node in self.procs:
            self.terminate(node)


def spec(**changes: object) -> JobSpec:
    fields: dict[str, object] = {
        "name": "elastic-job",
        "args": [],
        "nnodes": 2,
        "elastic_min_nodes": 1,
        "elastic_max_nodes": 2,
        "backoff_limit": 2,
    }
    return JobSpec(**(fields | changes))  # type: ignore[arg-type]


def supervise(
    group: FakeGroup, job: JobSpec, **kwargs: float
) -> tuple[list[int] | None, list[str]]:
    lines: list[str] = []
    settings = {"restart_delay": 0.1, "deadline": time.monotonic() + 10} | kwargs
    codes = supervise_elastic(group, job, log=lines.append, **settings)  # type: ignore[arg-type]
    return codes, lines


def test_a_lost_node_is_started_again_and_the_job_finishes() -> None:
    group = FakeGroup({0: [Life(0, 0.6)], 1: [Life(-9, 0.05), Life(0, 0.2)]})
    codes, lines = supervise(group, spec())
    assert codes == [0, 0]
    assert group.starts == [0, 1, 1]
    assert any("node 1 lost (exit -9)" in line and "restart 1 of" in line for line in lines)
    assert any("node 1 is back" in line for line in lines)
    assert elastic_succeeded(codes)


def test_losing_the_rendezvous_host_ends_the_attempt_at_once() -> None:
    group = FakeGroup({0: [Life(-9, 0.05)], 1: [Life(None)]})
    codes, lines = supervise(group, spec())
    assert codes == [-9, -15] and group.terminated == [1]
    assert any("rendezvous host" in line for line in lines)
    assert not elastic_succeeded(codes)


def test_a_failure_a_retry_repeats_is_not_restarted() -> None:
    group = FakeGroup({0: [Life(None)], 1: [Life(1, 0.05)]})
    codes, lines = supervise(group, spec())
    assert codes == [-15, 1] and group.starts == [0, 1]
    assert any("a failure a retry repeats" in line for line in lines)


def test_restarts_stop_at_the_backoff_limit() -> None:
    lost = [Life(137, 0.05) for _ in range(3)]
    group = FakeGroup({0: [Life(None)], 1: lost})
    codes, lines = supervise(group, spec(backoff_limit=2))
    assert group.starts == [0, 1, 1, 1] and codes == [-15, 137]
    assert any("job.backoff_limit=2 restarts used" in line for line in lines)


def test_a_node_still_joining_when_the_job_finished_is_stopped() -> None:
    group = FakeGroup({0: [Life(0, 0.1)], 1: [Life(None)]})
    codes, lines = supervise(group, spec(), finish_grace=0.2)
    assert codes == [0, -15] and group.terminated == [1]
    assert any("node 1 had not finished" in line for line in lines)
    assert elastic_succeeded(codes)


def test_a_lost_node_is_not_brought_back_after_the_job_finished() -> None:
    group = FakeGroup({0: [Life(0, 0.1)], 1: [Life(-9, 0.05), Life(0)]})
    codes, _ = supervise(group, spec(), restart_delay=5.0)
    assert codes == [0, -9] and group.starts == [0, 1]


def test_the_deadline_stops_every_node() -> None:
    group = FakeGroup({0: [Life(None)], 1: [Life(None)]})
    codes, _ = supervise(group, spec(), deadline=time.monotonic() + 0.2)
    assert codes is None and sorted(group.terminated) == [0, 1]


def test_elastic_agents_meet_over_min_max_nodes_without_a_shared_store() -> None:
    env = elastic_environment(spec(elastic_max_nodes=3), 0, "127.0.0.1", 29400)
    assert env["PET_NNODES"] == "1:3"
    assert env["PET_RDZV_ENDPOINT"] == "127.0.0.1:29400"
    assert env["PET_RDZV_CONF"].startswith("is_host=1,last_call_timeout=1")
    assert env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1"
    assert elastic_environment(spec(), 1, "127.0.0.1", 29400)["PET_RDZV_CONF"].startswith(
        "is_host=0,"
    )
    backend = LocalJobBackend(python="python")
    assert backend.command(spec(max_restarts=3))[3:5] == ["--max-restarts", "3"]
    assert backend.command(spec(elastic_min_nodes=0, elastic_max_nodes=0))[3:5] == [
        "--max-restarts",
        "0",
    ]


class ScriptedBackend:
    """Records the specs it runs; each stretch ends as its preemption drill says."""

    def __init__(self, *, overshoot: bool = False):
        self.specs: list[JobSpec] = []
        self.overshoot = overshoot

    def run(
        self, spec: JobSpec, *, log: LogSink = print, stop: threading.Event | None = None
    ) -> JobResult:
        self.specs.append(spec)
        preempted = INJECT_PREEMPT_ENV in spec.env and not self.overshoot
        codes = [143] * spec.nnodes if preempted else [0] * spec.nnodes
        return JobResult(name=spec.name, succeeded=not preempted, exit_codes=codes)


def test_a_replay_runs_each_stretch_on_its_nodes_and_stops_it_where_the_next_begins() -> None:
    history = [Membership(0, 2, 4), Membership(40, 1, 2), Membership(40, 2, 4),
               Membership(51, 2, 4), Membership(60, 1, 2)]  # fmt: skip
    backend = ScriptedBackend()
    lines: list[str] = []
    job = spec(env={"KEEP": "1", INJECT_PREEMPT_ENV: "7"}, max_restarts=3)
    result = replay_membership(backend, job, history, log=lines.append)
    assert result.succeeded
    shapes = [(s.nnodes, s.nproc_per_node, s.env.get(INJECT_PREEMPT_ENV)) for s in backend.specs]
    # The stretch of no step (40 to 40) is skipped; the last one runs to the end.
    assert shapes == [(2, 2, "40"), (2, 2, "51"), (2, 2, "60"), (1, 2, None)]
    assert all(not s.elastic and s.max_restarts == 0 for s in backend.specs)
    assert all(s.env["KEEP"] == "1" for s in backend.specs)
    assert "from global step 60 to the end" in lines[-1]


def test_a_replay_refuses_a_history_it_cannot_run() -> None:
    with pytest.raises(LaunchError, match="starts at global step 0"):
        replay_membership(ScriptedBackend(), spec(), [Membership(5, 2, 2)], log=print)
    with pytest.raises(LaunchError, match="3 processes do not divide among 2 nodes"):
        replay_membership(ScriptedBackend(), spec(), [Membership(0, 2, 3)], log=print)
    with pytest.raises(TrainingError, match="did not stop at global step 40"):
        history = [Membership(0, 2, 2), Membership(40, 1, 1)]
        replay_membership(ScriptedBackend(overshoot=True), spec(), history, log=print)

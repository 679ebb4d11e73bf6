"""Elastic jobs on the local backend, and the replay of an elastic job's membership history.

With ``job.elastic_min_nodes < job.elastic_max_nodes`` the agents meet in torchrun's elastic
(c10d) rendezvous over ``min:max`` nodes. When a node is lost, the agents left restart their
workers (torchrun's ``--max-restarts``), the rendezvous forms again without it, and training
resumes from the newest checkpoint on fewer nodes. The backend starts the lost node again after
``node_restart_delay`` seconds, as a kubelet restarts a pod (at most ``job.backoff_limit``
times); when it joins, the running agents stop their workers (a preemption: a checkpoint at the
current step), the rendezvous takes it in and training goes on with the grown group.

Node 0 hosts the rendezvous store, as ``worker-0`` does in an elastic PyTorchJob: losing it
loses the rendezvous, and the job is restarted whole, as a fixed-size job is.

Each worker group's start is recorded in the run's events (:mod:`trainpipe.train.membership`);
:func:`replay_membership` runs the same history again as fixed-size segments and reproduces the
weights.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

from trainpipe.console import print_line
from trainpipe.errors import LaunchError, TrainingError
from trainpipe.launch.base import JobBackend, JobResult, LogSink
from trainpipe.launch.diagnose import retryable
from trainpipe.launch.local_nodes import NodeGroup
from trainpipe.launch.spec import ELASTIC_ENV, JobSpec
from trainpipe.train.faults import INJECT_PREEMPT_ENV
from trainpipe.train.guards import RETRYABLE_EXIT_CODE
from trainpipe.train.membership import Membership

NODE_RESTART_DELAY_SECONDS = 10.0
"""How long a lost node stays away before the backend starts it again: a kubelet's first
crash-loop back-off."""
RENDEZVOUS_TIMEOUTS = "last_call_timeout=1,keep_alive_interval=1,keep_alive_max_attempt=3"
"""The local rendezvous' timing: a group forms 1 s after its last node joined, and a node whose
agent stopped beating for 3 s is dropped from it. (torch's defaults, 30 s and 15 s, suit
a cluster's pods.)"""
FINISH_GRACE_SECONDS = 30.0
"""Once a node's agent has finished the job, how long the others have to finish too (a node
that came back as training ended waits in a rendezvous that will not form again)."""


def elastic_environment(
    spec: JobSpec, node_rank: int, master_addr: str, port: int
) -> dict[str, str]:
    """The rendezvous of an elastic local job: ``min:max`` nodes over c10d, hosted by node 0."""
    host = 1 if node_rank == 0 else 0
    return {
        "PET_NNODES": f"{spec.elastic_min_nodes}:{spec.elastic_max_nodes}",
        "PET_RDZV_BACKEND": "c10d",
        "PET_RDZV_ENDPOINT": f"{master_addr}:{port}",
        "PET_RDZV_ID": spec.name,
        "PET_RDZV_CONF": f"is_host={host},{RENDEZVOUS_TIMEOUTS}",
        **ELASTIC_ENV,
    }


def supervise_elastic(
    group: NodeGroup,
    spec: JobSpec,
    *,
    deadline: float,
    restart_delay: float,
    log: LogSink,
    finish_grace: float = FINISH_GRACE_SECONDS,
    stop: threading.Event | None = None,
) -> list[int] | None:
    """Start every node of ``group``, restart lost ones, and return each node's last exit code
    once the job ended (None: ``deadline`` passed first).

    A node whose agent failed in a way a retry can fix (a signal, a lost peer's 190) is started
    again after ``restart_delay`` seconds, up to ``spec.backoff_limit`` restarts in all; the
    others train on meanwhile. The job ends when a node finished it (its agent exits 0: its
    workers trained to the end) and the others followed; or at once when node 0 (the rendezvous
    host) is lost, or a node fails in a way a retry repeats, or ``stop`` is set. A node still
    running ``finish_grace`` seconds after the job finished is stopped.
    """
    for node in range(spec.nnodes):
        group.start(node)
    codes: dict[int, int] = {}
    comeback: dict[int, float] = {}
    restarts = 0
    finished_at: float | None = None
    stopping: set[int] = set()
    while True:
        now = time.monotonic()
        if stop is not None and stop.is_set():
            return _end(group, codes)
        for node, code in group.poll().items():
            if code is None or node in codes:
                continue
            codes[node] = code
            if code == 0:
                finished_at = finished_at or now
            elif finished_at is not None:
                continue  # stopped after the job had finished
            elif node == 0 or not retryable([code]):
                why = "the rendezvous host" if node == 0 else "a failure a retry repeats"
                log(f"[trainpipe] job {spec.name}: node {node} exited {code} ({why})")
                return _end(group, codes)
            elif restarts >= spec.backoff_limit:
                log(
                    f"[trainpipe] job {spec.name}: node {node} exited {code}; "
                    f"job.backoff_limit={spec.backoff_limit} restarts used"
                )
                return _end(group, codes)
            else:
                restarts += 1
                comeback[node] = now + restart_delay
                log(
                    f"[trainpipe] job {spec.name}: node {node} lost (exit {code}); the others "
                    f"go on, and it is started again in {restart_delay:g} s (restart "
                    f"{restarts} of job.backoff_limit={spec.backoff_limit})"
                )
        if finished_at is None:
            for node, due in list(comeback.items()):
                if now >= due:
                    del comeback[node], codes[node]
                    log(f"[trainpipe] job {spec.name}: node {node} is back")
                    group.start(node)
        running = [node for node in group.procs if node not in codes]
        if finished_at is not None and now - finished_at > finish_grace:
            for node in set(running) - stopping:
                stopping.add(node)
                log(
                    f"[trainpipe] job {spec.name}: node {node} had not finished "
                    f"{finish_grace:g} s after the job did: stopped"
                )
                group.terminate(node)
        if not running and (finished_at is not None or not comeback):
            return _end(group, codes)
        if now > deadline:
            group.stop()
            return None
        time.sleep(0.1)


def _end(group: NodeGroup, codes: dict[int, int]) -> list[int]:
    group.stop()
    final = {node: proc.returncode for node, proc in group.procs.items()}
    return [final[node] if node not in codes else codes[node] for node in sorted(final)]


def elastic_succeeded(codes: Sequence[int]) -> bool:
    """Whether an elastic job with these last exit codes (node order) finished: a node trained
    to the end and none failed before it did."""
    return 0 in codes and all(code == 0 or retryable([code]) for code in codes)


def replay_membership(
    backend: JobBackend,
    spec: JobSpec,
    history: Sequence[Membership],
    *,
    log: LogSink,
    stop: threading.Event | None = None,
) -> JobResult:
    """Train ``spec`` through an elastic job's membership ``history`` again: each stretch of
    steps on the same nodes as a fixed-size job that stops at the next change (the preemption
    drill: a checkpoint there), the next resuming from it. Stretches without a step are
    skipped. Returns the last stretch's result.

    Raises:
        LaunchError: the history does not start at global step 0, or a group's processes do not
            divide among its nodes.
        TrainingError: a stretch did not stop at the step the next one starts from.
    """
    stretches = [
        member
        for member, after in zip(history, [*history[1:], None], strict=True)
        if after is None or after.global_step > member.global_step
    ]
    if not stretches or stretches[0].global_step != 0:
        raise LaunchError(
            f"job {spec.name}: a membership history starts at global step 0; got "
            f"{[dataclasses.astuple(m) for m in history]} (read it from the run's metrics.json "
            "events of type 'membership')"
        )
    result: JobResult | None = None
    for member, after in zip(stretches, [*stretches[1:], None], strict=True):
        if member.world_size % member.nodes:
            raise LaunchError(
                f"job {spec.name}: {member.world_size} processes do not divide among "
                f"{member.nodes} nodes (membership from global step {member.global_step})"
            )
        env = {k: v for k, v in spec.env.items() if k != INJECT_PREEMPT_ENV}
        if after is not None:
            env[INJECT_PREEMPT_ENV] = str(after.global_step)
        stretch = dataclasses.replace(
            spec,
            nnodes=member.nodes,
            nproc_per_node=member.world_size // member.nodes,
            elastic_min_nodes=0,
            elastic_max_nodes=0,
            max_restarts=0,
            env=env,
        )
        until = "the end" if after is None else f"global step {after.global_step}"
        log(
            f"[trainpipe] replay: {member.nodes} node(s), {member.world_size} process(es) from "
            f"global step {member.global_step} to {until}"
        )
        result = backend.run(stretch, log=log, stop=stop)
        if after is None or result.stopped:
            break
        if result.succeeded or any(code != RETRYABLE_EXIT_CODE for code in result.exit_codes):
            raise TrainingError(
                f"job {spec.name}: the replayed stretch from global step {member.global_step} "
                f"did not stop at global step {after.global_step} (exit codes "
                f"{result.exit_codes}): {result.error or 'it trained past it'}"
            )
    assert result is not None
    return result


class MembershipReplay:
    """A job backend that runs every job through ``history`` on ``backend``
    (:func:`replay_membership`): ``trainpipe train --replay-membership``."""

    def __init__(self, history: Sequence[Membership], backend: JobBackend) -> None:
        self.history = list(history)
        self.backend = backend

    def run(
        self,
        spec: JobSpec,
        *,
        log: LogSink = print_line,
        stop: threading.Event | None = None,
    ) -> JobResult:
        """Replay the history with ``spec``'s job."""
        return replay_membership(self.backend, spec, self.history, log=log, stop=stop)

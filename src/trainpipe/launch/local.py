"""The local job backend: torchrun agents on this machine with a PyTorchJob pod's environment.

Each of ``nnodes`` agents is started the way the training operator starts a PyTorchJob pod: with
``MASTER_ADDR``/``MASTER_PORT``, ``WORLD_SIZE`` (pods), ``RANK`` (pod index) and the ``PET_*``
variables that torchrun reads as its arguments, so the training entrypoint cannot tell the
difference.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

from trainpipe.console import print_line
from trainpipe.errors import TrainingError
from trainpipe.launch.base import JobResult, LogSink
from trainpipe.launch.diagnose import retryable, worker_exit_codes
from trainpipe.launch.elastic import (
    NODE_RESTART_DELAY_SECONDS,
    elastic_environment,
    elastic_succeeded,
    supervise_elastic,
)
from trainpipe.launch.local_nodes import NodeGroup
from trainpipe.launch.oom_kills import oom_kill_count, oom_kill_evidence
from trainpipe.launch.spec import JobSpec
from trainpipe.monitor.training import PORT_OFFSET_ENV


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pod_environment(spec: JobSpec, node_rank: int, master_addr: str, port: int) -> dict[str, str]:
    """The environment a PyTorchJob gives the pod of ``node_rank`` (plus the spec's own env)."""
    env = {
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(spec.nnodes),
        "RANK": str(node_rank),
        "PET_MASTER_ADDR": master_addr,
        "PET_MASTER_PORT": str(port),
        "PET_NNODES": str(spec.nnodes),
        "PET_NODE_RANK": str(node_rank),
        "PET_NPROC_PER_NODE": str(spec.nproc_per_node),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(spec.env)
    return env


def rendezvous_environment(
    spec: JobSpec, node_rank: int, master_addr: str, port: int
) -> dict[str, str]:
    """c10d rendezvous for the local agents, as an elastic PyTorchJob configures it.

    Agents that meet over c10d can restart their worker groups together after a failure; node 0
    hosts the rendezvous store.
    """
    return {
        "PET_RDZV_BACKEND": "c10d",
        "PET_RDZV_ENDPOINT": f"{master_addr}:{port}",
        "PET_RDZV_ID": spec.name,
        "PET_RDZV_CONF": f"is_host={1 if node_rank == 0 else 0}",
    }


class LocalJobBackend:
    """Runs a JobSpec as ``nnodes`` torchrun agents meeting over c10d rendezvous on loopback.

    ``node_restart_delay``: how long a lost node of an elastic job stays away before it is
    started again (:mod:`trainpipe.launch.elastic`)."""

    def __init__(
        self,
        *,
        master_addr: str = "127.0.0.1",
        python: str = sys.executable,
        node_restart_delay: float = NODE_RESTART_DELAY_SECONDS,
    ):
        self.master_addr = master_addr
        self.python = python
        self.node_restart_delay = node_restart_delay

    def command(self, spec: JobSpec) -> list[str]:
        """The agent command: torchrun, through :mod:`trainpipe.launch.torchrun_agent` (it
        exits with its workers' exit codes, as a pod does); torchrun takes its topology from
        the ``PET_*`` environment.

        A fixed-size job's torchrun restarts nothing itself (``--max-restarts 0``): it would
        retry every failure, a config error as often as a preemption. :meth:`run` restarts the
        job instead, only for failures a retry can fix. An elastic job's agents restart their
        workers up to ``spec.max_restarts`` times: that is how they take in a changed
        membership.
        """
        return [
            self.python,
            "-m",
            "trainpipe.launch.torchrun_agent",
            "--max-restarts",
            str(spec.max_restarts if spec.elastic else 0),
            "-m",
            spec.module,
            *spec.args,
        ]

    def run(
        self,
        spec: JobSpec,
        *,
        log: LogSink = print_line,
        stop: threading.Event | None = None,
    ) -> JobResult:
        """Start every agent, stream their logs, and wait up to ``spec.timeout_seconds`` in all.

        A job that failed in a way a retry can fix (:func:`retryable`: a signal, such as a
        SIGKILLed worker or agent, or a preemption's exit 143) is started again, up to
        ``spec.max_restarts`` times, and resumes from its last checkpoint; a deterministic
        failure (exit 1: the config, the data, the code) ends it at once. This is what a
        PyTorchJob's ``ExitCode`` restart policy does with a pod. An elastic job loses and
        regains nodes without a restart (:func:`~trainpipe.launch.elastic.supervise_elastic`);
        only the loss of its rendezvous host restarts it. Once ``stop`` is set, the agents are
        stopped (SIGTERM: the workers checkpoint and exit) and the result is ``stopped``.
        """
        started = time.monotonic()
        deadline = started + spec.timeout_seconds
        oom_kills = oom_kill_count()
        attempt = 1
        while True:
            result = self._attempt(spec, deadline=deadline, log=log, stop=stop)
            if result.succeeded or result.stopped:
                break
            codes = [*worker_exit_codes(result.log_tail), *result.exit_codes]
            if not retryable(codes):
                log(
                    f"[trainpipe] job {spec.name} is not restarted: exit codes {codes} are a "
                    "failure a retry repeats (config, data or code)"
                )
                break
            if attempt > spec.max_restarts:
                log(f"[trainpipe] job {spec.name}: job.max_restarts={spec.max_restarts} used")
                break
            log(
                f"[trainpipe] job {spec.name}: restarting the job after exit codes {codes} "
                f"(restart {attempt} of job.max_restarts={spec.max_restarts})"
            )
            attempt += 1
        result.seconds = time.monotonic() - started
        result.attempts = attempt
        if not result.succeeded:
            result.reasons = oom_kill_evidence(oom_kills, oom_kill_count())
        return result

    def environment(self, spec: JobSpec, node: int, port: int) -> dict[str, str]:
        """The whole environment of ``node``'s agent: this process's, a pod's, the rendezvous'."""
        rendezvous = elastic_environment if spec.elastic else rendezvous_environment
        return {
            **os.environ,
            **pod_environment(spec, node, self.master_addr, port),
            **rendezvous(spec, node, self.master_addr, port),
            # Pods each have their own ports; these "pods" share this machine's.
            PORT_OFFSET_ENV: str(node * spec.nproc_per_node),
        }

    def _attempt(
        self, spec: JobSpec, *, deadline: float, log: LogSink, stop: threading.Event | None
    ) -> JobResult:
        """One start of every agent, to their end (or ``deadline``)."""
        port = free_port(self.master_addr)
        group = NodeGroup(
            spec.name, self.command(spec), lambda node: self.environment(spec, node, port), log
        )
        try:
            if spec.elastic:
                codes = supervise_elastic(
                    group,
                    spec,
                    deadline=deadline,
                    restart_delay=self.node_restart_delay,
                    log=log,
                    stop=stop,
                )
                succeeded = codes is not None and elastic_succeeded(codes)
            else:
                for node in range(spec.nnodes):
                    group.start(node)
                codes = _wait_all(list(group.procs.values()), deadline=deadline, stop=stop)
                succeeded = codes is not None and all(c == 0 for c in codes)
        finally:
            group.stop()
        if codes is None:
            raise TrainingError(
                f"job {spec.name} did not finish within train.timeout_seconds="
                f"{spec.timeout_seconds}; raise it or train for fewer epochs"
            )
        stopped = stop is not None and stop.is_set() and not succeeded
        result = JobResult(
            name=spec.name,
            succeeded=succeeded,
            exit_codes=codes,
            log_tail=list(group.tail),
            stopped=stopped,
        )
        if stopped:
            log(f"[trainpipe] job {spec.name} stopped on request")
            result.error = "stopped on request"
        elif not result.succeeded:
            result.error = group.errors[-1] if group.errors else f"worker exit codes {codes}"
        return result


def _wait_all(
    procs: list[subprocess.Popen[str]],
    *,
    deadline: float,
    grace: float = 5.0,
    stop: threading.Event | None = None,
) -> list[int] | None:
    """Wait for every agent; once one fails, give its peers ``grace`` seconds, then stop them.
    Once ``stop`` is set, stop them all at once."""
    failed_at: float | None = None
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return [int(c) for c in codes if c is not None]
        now = time.monotonic()
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = now
        stopping = stop is not None and stop.is_set()
        if stopping or (failed_at is not None and now - failed_at > grace):
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
        if now > deadline:
            return None
        time.sleep(0.1)

"""The "pods" of a local job: one torchrun agent per node, started with a pod's environment,
their output streamed with a ``[node N]`` prefix, and stopped as a pod is stopped."""

from __future__ import annotations

import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping

from trainpipe.errors import LaunchError
from trainpipe.launch.base import LogSink

_ERROR_LINE = re.compile(r"trainpipe\.errors\.(\w+Error): (.*)")
STOP_GRACE_SECONDS = 15.0
"""How long a stopped agent has to stop its workers (SIGTERM) before it is SIGKILLed."""


class NodeGroup:
    """The agents of one start of a job, by node index; a node may be started again."""

    def __init__(
        self,
        job: str,
        command: list[str],
        environment: Callable[[int], Mapping[str, str]],
        log: LogSink,
    ):
        self.job = job
        self.command = command
        self.environment = environment
        self.log = log
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.errors: list[str] = []
        """The ``trainpipe.errors.*Error: ...`` lines the workers printed, in order."""
        self.tail: deque[str] = deque(maxlen=200)
        self._threads: list[threading.Thread] = []

    def start(self, node: int) -> None:
        """Start ``node``'s agent (again, after it ended).

        Raises:
            LaunchError: the agent cannot be started.
        """
        try:
            proc = subprocess.Popen(
                self.command,
                env=dict(self.environment(node)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise LaunchError(f"job {self.job}: cannot start torchrun: {exc}") from exc
        self.procs[node] = proc
        thread = threading.Thread(target=self._pump, args=(proc, f"[node {node}] "), daemon=True)
        thread.start()
        self._threads.append(thread)

    def poll(self) -> dict[int, int | None]:
        """Each node's agent's exit code (None: running)."""
        return {node: proc.poll() for node, proc in self.procs.items()}

    def terminate(self, node: int) -> None:
        """Ask ``node``'s agent to stop (SIGTERM: torchrun stops its workers first)."""
        proc = self.procs[node]
        if proc.poll() is None:
            proc.terminate()

    def stop(self) -> None:
        """Stop every agent still running and wait for them and their log streams.

        SIGTERM first: torchrun stops its workers (each in a session of its own, so killing the
        agent alone would orphan them); SIGKILL only agents that ignore it."""
        for node in self.procs:
            self.terminate(node)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def _pump(self, proc: subprocess.Popen[str], prefix: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            match = _ERROR_LINE.search(line)
            if match:
                self.errors.append(f"{match.group(1)}: {match.group(2)}")
            self.tail.append(line)
            self.log(prefix + line)

"""Failure diagnosis: name why a training job failed and what to do, from exit codes and logs.

The classes follow the common causes of training failures: preemption, host memory,
a SIGKILL from elsewhere, accelerator memory, rendezvous/NCCL timeouts, a non-finite loss, an
image built for the wrong architecture or accelerator, and user errors (config or data). The
first matching class wins, most specific first.

Exit 137 (SIGKILL) alone does not say why: the kernel's OOM killer sends it, and so does a lost
node, a deleted pod or ``kill -9``. It is ``host_oom`` only with evidence of memory (the pod's
``OOMKilled`` reason, the kernel's log line, the cgroup's ``oom_kill`` count), else ``killed``
with both actions. A worker's own exit code is read from torchrun's failure report
(``exitcode : -9``), since the agent itself exits 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from trainpipe.launch.base import JobResult
from trainpipe.train.lost_peer import LOST_PEER_EXIT_CODE

SIGKILL_EXIT_CODES = (137, -9)
"""A SIGKILLed process: 128 + 9 from a shell or a container, -9 from Python's subprocess."""

_WORKER_EXIT = re.compile(r"\bexitcode\s*:\s*(-?\d+) \(pid: \d+\)")
"""torchrun's report of a failed worker: ``exitcode  : -9 (pid: 4242)``."""


@dataclass(frozen=True)
class FailureDiagnosis:
    """A failure class, the action that fixes it, and the evidence it was read from."""

    kind: str
    action: str
    evidence: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain data for summary.json."""
        return asdict(self)

    def log_line(self) -> str:
        """The line the launcher prints into the step log (parsed back into summary.json)."""
        return f"[trainpipe] failure class: {self.kind}; action: {self.action}"


@dataclass(frozen=True)
class _Rule:
    kind: str
    action: str
    exit_codes: frozenset[int]
    pattern: re.Pattern[str] | None


_RULES = (
    _Rule(
        "image_mismatch",
        "the image does not fit the node: use the cuda image for GPU jobs and the cpu image "
        "otherwise, and build it for the node's architecture (amd64/arm64)",
        frozenset(),
        re.compile(
            r"exec format error|no kernel image is available|Torch not compiled with CUDA|"
            r"CUDA driver version is insufficient|ErrImagePull|ImagePullBackOff|"
            r"cannot find CUDA|libcudnn",
            re.I,
        ),
    ),
    _Rule(
        "cuda_oom",
        "the GPU ran out of memory: lower train.batch_size, use train.precision=bf16, or ask for "
        "a larger GPU",
        frozenset(),
        re.compile(r"CUDA out of memory|torch\.OutOfMemoryError|cuda.*OutOfMemory", re.I),
    ),
    _Rule(
        "host_oom",
        "a process was killed for host memory: raise job.memory or lower train.batch_size",
        frozenset(),
        re.compile(r"OOMKilled|Out of memory: Killed process|\boom_kill\b", re.I),
    ),
    _Rule(
        "killed",
        "killed by SIGKILL (out of memory or an outside kill): if memory, raise job.memory or "
        "lower train.batch_size; if it was stopped from outside (a lost node, a deleted pod), "
        "rerun the same run to resume from its last checkpoint",
        frozenset(SIGKILL_EXIT_CODES),
        None,
    ),
    _Rule(
        "non_finite",
        "the loss diverged: lower train.learning_rate, add train.warmup_epochs, keep "
        "train.grad_clip > 0",
        frozenset(),
        re.compile(r"non-finite loss", re.I),
    ),
    _Rule(
        "preempted",
        "the job was stopped by SIGTERM (preemption or eviction) after writing a checkpoint; "
        "rerun it to resume, or use a higher job.priority_class / a non-preemptible node pool",
        frozenset({143, -15}),
        re.compile(r"\bpreempted\b|Evicted|DeadlineExceeded", re.I),
    ),
    _Rule(
        "lost_peer",
        "a collective failed because another process of the job is gone (a lost node, a "
        "killed or evicted pod, a network partition): the job restarts from its newest "
        "checkpoint (job.max_restarts); if it recurs, check the nodes and the pod network",
        frozenset({LOST_PEER_EXIT_CODE}),
        re.compile(r"\[trainpipe\] lost a peer"),
    ),
    _Rule(
        "rendezvous_timeout",
        "the workers never all met: check that every pod was scheduled (quota, node selector), "
        "that NetworkPolicies allow pod-to-pod traffic on the master port, and raise "
        "train.timeout_seconds if nodes start slowly",
        frozenset(),
        re.compile(
            r"RendezvousTimeoutError|RendezvousConnectionError|DistNetworkError|"
            r"NCCL (error|WARN).*(timeout|Timeout)|Watchdog caught collective operation timeout|"
            r"Connection (refused|reset by peer).*(store|rendezvous|gloo)|Timed out initializing",
            re.I,
        ),
    ),
    _Rule(
        "user_error",
        "the job stopped on the config, the data or the code: fix what the message names",
        frozenset(),
        re.compile(
            r"trainpipe\.errors\.(Config|Data|Storage)Error|ModuleNotFoundError|ImportError|"
            r"SyntaxError|TypeError|KeyError|ValueError",
        ),
    ),
)


def diagnose_failure(
    exit_codes: Sequence[int], logs: Iterable[str], reasons: Iterable[str] = ()
) -> FailureDiagnosis:
    """Classify a failed job from its exit codes, log lines and pod/condition reasons (the
    workers' exit codes in torchrun's failure reports count with ``exit_codes``)."""
    lines = [*reasons, *logs]
    exit_codes = [*exit_codes, *worker_exit_codes(lines)]
    for rule in _RULES:
        if rule.pattern is not None:
            for line in lines:
                if rule.pattern.search(line):
                    return FailureDiagnosis(rule.kind, rule.action, line.strip()[:300])
        hit = next((c for c in exit_codes if c in rule.exit_codes), None)
        if hit is not None:
            return FailureDiagnosis(rule.kind, rule.action, f"exit code {hit}")
    codes = ", ".join(str(c) for c in exit_codes) or "none"
    return FailureDiagnosis(
        "unknown",
        "read the worker logs above for the first error",
        f"exit codes {codes}",
    )


def diagnose_result(result: JobResult) -> FailureDiagnosis:
    """Classify a failed job from everything its backend returned."""
    return diagnose_failure(result.exit_codes, result.log_tail, [result.error, *result.reasons])


def retryable(exit_codes: Iterable[int]) -> bool:
    """Whether a retry can fix a failure with these exit codes: one of them is a signal's
    (negative from Python, 128 + N from a shell or container: a kill, a preemption's SIGTERM,
    a crash). 1 to 127 are the process's own verdict (trainpipe exits 1 on a config, data or
    code error) and a retry repeats them; this is the rule of the ``ExitCode`` restart policy."""
    return any(code < 0 or code >= 128 for code in exit_codes)


def worker_exit_codes(lines: Iterable[str]) -> list[int]:
    """The exit codes of failed workers that torchrun reported in ``lines``."""
    found = (_WORKER_EXIT.search(line) for line in lines)
    return [int(match.group(1)) for match in found if match]


def diagnose_exception(exc: BaseException) -> FailureDiagnosis:
    """Classify an error raised in this process: the diagnosis it carries (a failed job's), else
    the one its ``module.Type: message`` line would get in a job's log."""
    carried = str(getattr(exc, "failure_class", "") or "")
    if carried:
        return FailureDiagnosis(carried, str(getattr(exc, "action", "") or ""))
    kind = type(exc)
    line = f"{kind.__module__}.{kind.__qualname__}: {exc}"
    return diagnose_failure([], [], [line])

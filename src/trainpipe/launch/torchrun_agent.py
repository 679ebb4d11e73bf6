"""torchrun that exits with its workers' verdict: ``python -m trainpipe.launch.torchrun_agent``
takes torchrun's arguments and runs it.

torchrun exits 1 whenever a worker failed, whatever the worker's own exit code was: a worker
SIGKILLed on a lost node, a preemption's 143 and a config error all leave the agent with 1, and
an ``ExitCode`` restart policy (PyTorchJob) reads 1 as permanent. This agent exits with the code
of a failed worker instead, a signal as ``128 + N`` as a shell reports it: a retryable one
(``>= 128``) when any worker's was, else the first worker's own (1 for trainpipe's config, data
and code errors). Pods and the local backend run it, so a cluster's restart policy and the
laptop's restart decide on the same codes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError


def shell_code(code: int) -> int:
    """An exit code as a shell or a container reports it: a signal N as ``128 + N``."""
    return 128 - code if code < 0 else code


def agent_exit_code(worker_codes: Iterable[int]) -> int:
    """The agent's exit code for its failed workers' codes: the first retryable one (a signal,
    or a code >= 128), else the first non-zero one, else 1."""
    codes = [shell_code(c) for c in worker_codes]
    retryable = [c for c in codes if c >= 128]
    failed = [c for c in codes if c != 0]
    return (retryable or failed or [1])[0]


def main(argv: list[str] | None = None) -> int:
    """Run torchrun with ``argv``; 0, or the failed workers' :func:`agent_exit_code`."""
    from torch.distributed.run import main as torchrun

    try:
        torchrun(argv)
    except ChildFailedError as exc:
        codes = [failure.exitcode for failure in exc.failures.values()]
        code = agent_exit_code(codes)
        print(
            f"[trainpipe] workers failed with exit codes {codes}: the agent exits {code}",
            file=sys.stderr,
            flush=True,
        )
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

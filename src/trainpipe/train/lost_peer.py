"""A collective that failed because another process of the job is gone.

When a node is lost (a killed pod, an evicted or crashed node, a network partition), the
processes that remain fail in their next collective: gloo reports the closed or reset
connection as a ``RuntimeError``, NCCL and the c10d store as ``torch.distributed.DistError``.
None of it is the config's, the data's or the code's fault, and the job's restart (with the lost
node back) resumes from the newest checkpoint. So the entrypoint exits with
:data:`LOST_PEER_EXIT_CODE`, which every restart policy retries, instead of the ``1`` of a
deterministic failure.
"""

from __future__ import annotations

import re

import torch.distributed as dist

LOST_PEER_EXIT_CODE = 190
"""Exit code of a process whose collective failed for a lost peer: >= 128, so the ``ExitCode``
restart policy and the local backend retry it; 190 is no signal's (128 + N for N < 62)."""

_LOST_PEER = re.compile(
    r"gloo/transport|Connection (reset|closed) by peer|Broken pipe|"
    r"NCCL (error|communicator was aborted)|ProcessGroupNCCL.*(abort|timeout)|"
    r"Watchdog caught collective operation timeout",
    re.I,
)


def lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a collective failing for a lost
    peer."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, dist.DistError):
            return True
        if isinstance(seen, RuntimeError) and _LOST_PEER.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

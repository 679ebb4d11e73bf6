"""JobSpec: what a training job needs, independent of where it runs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from trainpipe.errors import LaunchError


@dataclass(kw_only=True)
class JobSpec:
    """A distributed training job: ``nnodes`` x ``nproc_per_node`` processes of one command.

    ``command`` is the module-level entrypoint run by every process (``-m trainpipe.train`` with its
    arguments); the backend wraps it in torchrun or a PyTorchJob.
    """

    name: str
    args: list[str]
    nnodes: int = 1
    nproc_per_node: int = 1
    env: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 3600
    module: str = "trainpipe.train"

    def __post_init__(self) -> None:
        if self.nnodes < 1 or self.nproc_per_node < 1:
            raise LaunchError(
                f"job {self.name!r}: nnodes and nproc_per_node must be >= 1, "
                f"got nnodes={self.nnodes}, nproc_per_node={self.nproc_per_node}"
            )
        if self.timeout_seconds <= 0:
            raise LaunchError(f"job {self.name!r}: timeout_seconds must be > 0")

    @property
    def world_size(self) -> int:
        """Total number of training processes."""
        return self.nnodes * self.nproc_per_node


def job_name(*parts: str, prefix: str = "trainpipe") -> str:
    """A deterministic DNS-1123 job name from run/task ids: the same ids give the same name."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")[:30].strip("-")
    return f"{prefix}-{readable}-{digest}" if readable else f"{prefix}-{digest}"

"""Launch training jobs: a JobSpec and the backends that run it."""

from __future__ import annotations

from trainpipe.launch.base import JobBackend, JobResult
from trainpipe.launch.local import LocalJobBackend, pod_environment
from trainpipe.launch.spec import JobSpec, job_name

__all__ = ["JobBackend", "JobResult", "JobSpec", "LocalJobBackend", "job_name", "pod_environment"]

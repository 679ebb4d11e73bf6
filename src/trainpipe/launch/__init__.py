"""Launch training jobs: a JobSpec and the backends that run it."""

from __future__ import annotations

from trainpipe.launch.base import JobBackend, JobResult
from trainpipe.launch.kube import KubeApi, KubeApiError, KubernetesApi, kube_clients_from_env
from trainpipe.launch.local import LocalJobBackend, pod_environment
from trainpipe.launch.pytorchjob import KubeflowJobBackend
from trainpipe.launch.render import render_pytorchjob, render_trainjob, to_yaml
from trainpipe.launch.spec import JobSpec, job_name

__all__ = [
    "JobBackend",
    "JobResult",
    "JobSpec",
    "KubeApi",
    "KubeApiError",
    "KubeflowJobBackend",
    "KubernetesApi",
    "LocalJobBackend",
    "job_name",
    "kube_clients_from_env",
    "pod_environment",
    "render_pytorchjob",
    "render_trainjob",
    "to_yaml",
]

"""JobSpec: what a training job needs, independent of where it runs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.errors import LaunchError

TRAIN_MODULE = "trainpipe.train"


@dataclass(kw_only=True)
class Resources:
    """What each node (pod) of the job asks for; requests equal limits."""

    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0
    shm_size: str = "1Gi"


@dataclass(kw_only=True)
class JobSpec:
    """A distributed training job: ``nnodes`` x ``nproc_per_node`` processes of one module.

    Every process runs ``python -m <module> <args>`` under torchrun; the backend decides whether
    the nodes are local processes, PyTorchJob pods or TrainJob pods. The cluster-only fields are
    ignored by the local backend.
    """

    name: str
    args: list[str]
    module: str = TRAIN_MODULE
    nnodes: int = 1
    nproc_per_node: int = 1
    env: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 3600
    max_restarts: int = 0
    """Restarts after a failure: torchrun's ``--max-restarts`` in a pod (in place, any failure);
    the local backend's restarts of the job after a retryable failure."""
    image: str = ""
    namespace: str = "trainpipe"
    service_account: str = ""
    resources: Resources = field(default_factory=Resources)
    env_from_secrets: list[str] = field(default_factory=list)
    env_from_config_maps: list[str] = field(default_factory=list)
    restart_policy: str = "OnFailure"
    backoff_limit: int = 3
    active_deadline_seconds: int = 0
    ttl_seconds_after_finished: int = 3600
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    priority_class: str = ""
    queue_name: str = ""
    elastic_min_nodes: int = 0
    elastic_max_nodes: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cleanup: str = "on_success"
    runtime: str = "trainpipe-torch"
    metrics_port: int = 0
    """Base port of the ranks' Prometheus endpoints (+ LOCAL_RANK); 0: none declared."""

    def __post_init__(self) -> None:
        if self.nnodes < 1 or self.nproc_per_node < 1:
            raise LaunchError(
                f"job {self.name!r}: nnodes and nproc_per_node must be >= 1, "
                f"got nnodes={self.nnodes}, nproc_per_node={self.nproc_per_node}"
            )
        if self.timeout_seconds <= 0:
            raise LaunchError(f"job {self.name!r}: timeout_seconds must be > 0")
        if not _DNS_NAME.match(self.name) or len(self.name) > 63:
            raise LaunchError(
                f"job name {self.name!r} is not a DNS-1123 label (lowercase letters, digits, "
                "'-', at most 63 characters); build it with job_name()"
            )

    @property
    def world_size(self) -> int:
        """Total number of training processes."""
        return self.nnodes * self.nproc_per_node

    @property
    def elastic(self) -> bool:
        """Whether the job may run with a varying number of nodes."""
        return self.elastic_min_nodes > 0 and self.elastic_max_nodes > 0


ELASTIC_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
"""The environment of an elastic job's agents, on every backend: each rendezvous round
publishes its own master address and workers' store. With the rendezvous store shared (torch's
default), the agent of group rank 0 keeps its first round's address and publishes none in later
rounds, so a node that joins after a loss waits for it until the join timeout; and the agents'
restart counts differ once a node came back, which a store shared over restarts mixes up."""

_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def job_name(*parts: str, prefix: str = "trainpipe") -> str:
    """A deterministic DNS-1123 job name from run/task ids: the same ids give the same name."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")[:30].strip("-")
    return f"{prefix}-{readable}-{digest}" if readable else f"{prefix}-{digest}"


def label_value(text: str) -> str:
    """``text`` made into a valid Kubernetes label value (63 characters, alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


CODE_DIGEST_ANNOTATION = "trainpipe.dev/code-digest"
CODE_ARCHIVE_ANNOTATION = "trainpipe.dev/code-archive"


def code_annotations(config: RunConfig) -> dict[str, str]:
    """The user's code archive and digest on the job, for ``kubectl describe`` and audits; the
    pods fetch the archive the training spec names and check it against the same digest."""
    if not config.code_digest:
        return {}
    return {CODE_ARCHIVE_ANNOTATION: config.code, CODE_DIGEST_ANNOTATION: config.code_digest}


def job_spec_from_config(
    config: RunConfig, *, name: str, args: list[str], env: dict[str, str] | None = None
) -> JobSpec:
    """The JobSpec of the training job a run config describes (``train`` and ``job`` sections)."""
    train, job = config.train, config.job
    return JobSpec(
        name=name,
        args=args,
        nnodes=train.nnodes,
        nproc_per_node=train.nproc_per_node,
        env=dict(env or {}),
        timeout_seconds=train.timeout_seconds,
        max_restarts=job.max_restarts,
        image=job.image,
        namespace=job.namespace,
        service_account=job.service_account,
        resources=Resources(cpu=job.cpu, memory=job.memory, gpus=job.gpus, shm_size=job.shm_size),
        env_from_secrets=[job.storage_secret] if job.storage_secret else [],
        env_from_config_maps=[job.storage_config_map] if job.storage_config_map else [],
        restart_policy=job.restart_policy,
        backoff_limit=job.backoff_limit,
        active_deadline_seconds=job.active_deadline_seconds,
        ttl_seconds_after_finished=job.ttl_seconds_after_finished,
        node_selector=dict(job.node_selector),
        tolerations=[dict(t) for t in job.tolerations],
        priority_class=job.priority_class,
        queue_name=job.queue_name,
        elastic_min_nodes=job.elastic_min_nodes,
        elastic_max_nodes=job.elastic_max_nodes,
        labels={
            "app.kubernetes.io/part-of": "trainpipe",
            "trainpipe.dev/run": label_value(config.name),
        },
        annotations=code_annotations(config),
        cleanup=job.cleanup,
        runtime=job.runtime,
        metrics_port=train.metrics_port,
    )

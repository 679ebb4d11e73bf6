"""The ``job`` section: how the training job runs on a cluster (PyTorchJob or TrainJob)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from trainpipe.config.problems import Problems
from trainpipe.config.train import TrainConfig

__all__ = ["JobConfig"]

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(kw_only=True)
class JobConfig:
    """How the training job runs on a cluster (PyTorchJob or TrainJob). On a laptop only the
    restarts (``max_restarts``, ``backoff_limit``) and the elastic range apply."""

    image: str = "ghcr.io/trainpipe/trainpipe:0.1.0-cpu"
    namespace: str = "trainpipe"
    service_account: str = "trainpipe-training"
    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0
    shm_size: str = "1Gi"
    """Size of the in-memory ``/dev/shm`` volume (data-loader workers and NCCL need it)."""
    restart_policy: Literal["OnFailure", "Never", "ExitCode", "Always"] = "ExitCode"
    """The PyTorchJob replicas' restart policy. ``ExitCode`` (the default) restarts a pod whose
    exit code is retryable (128 and up: a signal such as a lost node's SIGKILL, a preemption's
    143, a lost peer's 190) and fails the job on 1 to 127 (trainpipe's 1: the config, the data,
    the code), so a config error fails once; ``OnFailure`` restarts every failure."""
    backoff_limit: int = 3
    max_restarts: int = 3
    """Restarts of a failed job before it fails for good, and only after a failure a retry can
    fix (a signal, a preemption, a lost peer; not exit 1): locally the backend restarts the
    job; on a cluster the pods' restart policy restarts them (``backoff_limit``), and an elastic
    job's torchrun restarts its workers in place up to this many times."""
    active_deadline_seconds: int = 0
    """Hard wall-clock limit of the job on the cluster; 0 means none."""
    ttl_seconds_after_finished: int = 3600
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    priority_class: str = ""
    queue_name: str = ""
    """Kueue LocalQueue; sets the ``kueue.x-k8s.io/queue-name`` label."""
    storage_secret: str = "trainpipe-s3-credentials"
    """Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, referenced by name only."""
    storage_config_map: str = "trainpipe-storage"
    elastic_min_nodes: int = 0
    elastic_max_nodes: int = 0
    """Both > 0 make the job elastic: torchrun's c10d rendezvous between min and max nodes,
    locally as on a cluster (a PyTorchJob's ``elasticPolicy``, a TrainJob's torchrun arguments).
    A lost node's peers go on without it from the newest checkpoint and take it back in when it
    returns; each change is a ``membership`` event in the run's events."""
    cleanup: Literal["always", "on_success", "never"] = "on_success"
    runtime: str = "trainpipe-torch"
    """The TrainJob's ClusterTrainingRuntime (Kubeflow Trainer v2.3). ``manifests/trainer`` holds
    trainpipe-torch, which sets what a TrainJob cannot: the metrics ports and the
    trainpipe-training priority class; the TrainJob's runtime patch adds the pod labels,
    service account, scheduling, security context and ``/dev/shm``. Another runtime must have a
    ``node`` job with a ``node`` container; with it, leave ``priority_class`` empty."""

    def check(self, problems: Problems, *, train: TrainConfig) -> None:
        """Non-negative counts, Kubernetes quantities and names, an elastic range around nnodes."""
        need = problems.need
        for key in ("gpus", "backoff_limit", "max_restarts", "ttl_seconds_after_finished"):
            value = getattr(self, key)
            need(value >= 0, f"job.{key}", ">= 0", value)
        need(
            self.active_deadline_seconds >= 0,
            "job.active_deadline_seconds",
            ">= 0 (0: none)",
            self.active_deadline_seconds,
        )
        for key in ("cpu", "memory", "shm_size"):
            quantity = getattr(self, key)
            need(
                bool(_QUANTITY.match(quantity)),
                f"job.{key}",
                "a Kubernetes quantity such as 2, 500m or 4Gi",
                quantity,
            )
        need(
            bool(_DNS_LABEL.match(self.namespace)),
            "job.namespace",
            "a DNS-1123 label",
            self.namespace,
        )
        elastic = (self.elastic_min_nodes, self.elastic_max_nodes)
        nnodes = train.nnodes
        need(
            elastic == (0, 0) or 1 <= elastic[0] <= nnodes <= elastic[1],
            "job.elastic_min_nodes/elastic_max_nodes",
            f"both 0, or min <= train.nnodes ({nnodes}) <= max",
            list(elastic),
            also=["job.elastic_min_nodes", "job.elastic_max_nodes", "train.nnodes"],
        )

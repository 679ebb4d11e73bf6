"""Render a JobSpec as a Kubeflow custom resource: a PyTorchJob or a TrainJob.

The PyTorchJob is ``kubeflow.org/v1`` (training-operator v1); the TrainJob is
``trainer.kubeflow.org/v1alpha1`` as Kubeflow Trainer v2.3 defines it (``spec.runtimePatches``).
The rendered objects are plain dicts, ready for ``CustomObjectsApi`` or :func:`to_yaml`. They
never hold secret values: credentials reach the pods by Secret name only, through ``envFrom``
in a PyTorchJob and through optional ``secretKeyRef`` variables in a TrainJob.

Both kinds run the same command in every pod::

    python -m trainpipe.launch.torchrun_agent --max-restarts 0 -m <module> <args...>

(torchrun, exiting with its workers' exit codes; an elastic job keeps ``job.max_restarts``, and
a TrainJob's asks for the elastic rendezvous in its arguments: Trainer v2.3 has no elastic policy).

torchrun takes the topology (nnodes, node rank, processes per node, master address and port)
from the ``PET_*`` variables that the training operator (v1) or the Torch runtime plugin (v2)
injects, exactly as the local backend does on a laptop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from trainpipe.errors import LaunchError
from trainpipe.launch.spec import ELASTIC_ENV, JobSpec

__all__ = [
    "METRICS_PORT_NAME",
    "PYTORCHJOB_CONTAINER",
    "PYTORCHJOB_PORT",
    "QUEUE_LABEL",
    "STORAGE_CONFIG_KEYS",
    "STORAGE_SECRET_KEYS",
    "TRAINING_POD_LABELS",
    "TRAINJOB_CONTAINER",
    "TRAINJOB_PATCH_MANAGER",
    "TRAINJOB_TARGET_JOB",
    "TRAINPIPE_RUNTIME",
    "TRAINPIPE_RUNTIME_PRIORITY_CLASS",
    "pod_command",
    "render_pytorchjob",
    "render_trainjob",
    "to_yaml",
]

#: Kueue picks up a workload by this label on the job object.
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: The training operator only injects its environment into the container with this name.
PYTORCHJOB_CONTAINER = "pytorch"
#: The operator's default rendezvous port, declared explicitly under its expected port name.
PYTORCHJOB_PORT = {"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}
#: The container port of local rank 0's Prometheus endpoint (the PodMonitor scrapes it by name);
#: local rank N > 0 serves the next ports, named ``metrics-N``.
METRICS_PORT_NAME = "metrics"
#: Labels of every training pod: the PodMonitor and the NetworkPolicies select them.
TRAINING_POD_LABELS = {"trainpipe.dev/role": "training"}
#: The replicated job and container of Trainer v2's Torch runtimes (``torch-distributed``, and
#: ``trainpipe-torch`` in manifests/trainer).
TRAINJOB_TARGET_JOB = "node"
TRAINJOB_CONTAINER = "node"
#: The ``manager`` of trainpipe's entry in a TrainJob's ``spec.runtimePatches``. Patches are a
#: list keyed by manager, so trainpipe's entry and one that Kueue adds
#: (``kueue.x-k8s.io/manager``) stand side by side; Trainer's webhook requires a domain-prefixed
#: path here.
TRAINJOB_PATCH_MANAGER = "trainpipe.dev/launcher"
#: The ClusterTrainingRuntime in manifests/trainer, and the pod priority class its template sets
#: (a TrainJob cannot set one itself).
TRAINPIPE_RUNTIME = "trainpipe-torch"
TRAINPIPE_RUNTIME_PRIORITY_CLASS = "trainpipe-training"
#: The storage settings a training pod reads (``trainpipe.storage.s3.s3_client_from_env``), by
#: where a TrainJob takes them from: endpoint, TLS and region from the ConfigMap
#: ``job.storage_config_map``, credentials from the Secret ``job.storage_secret``. A TrainJob
#: cannot import a whole ConfigMap or Secret (Trainer v2.3 has no ``envFrom`` there), so each
#: variable is an optional key reference: a key or object that is absent leaves it unset.
STORAGE_CONFIG_KEYS = (
    "TRAINPIPE_S3_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "MINIO_ENDPOINT",
    "TRAINPIPE_S3_SECURE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
STORAGE_SECRET_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MINIO_ACCESS_KEY",
    "MINIO_SECRET_KEY",
)

_SHM_VOLUME = "dshm"
# The TrainJob CRD's rule for metadata.name (a DNS-1123 label that starts with a letter).
_RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_USER_ID = 1000  # the trainpipe images run as uid/gid 1000 (docker/*.Dockerfile)


def pod_command(spec: JobSpec, rendezvous: Sequence[str] = ()) -> list[str]:
    """The command of every training pod: torchrun over ``spec.module`` with ``spec.args``,
    through :mod:`trainpipe.launch.torchrun_agent` so the pod exits with its workers' verdict.

    A fixed-size job restarts nothing in the pod (``--max-restarts 0``): torchrun would retry
    every failure, a config error as often as a lost node, while the pod's ``ExitCode`` restart
    policy retries only the retryable ones. An elastic job keeps ``job.max_restarts`` in the
    pod: torchrun's restart is how its agents take in a changed membership. ``rendezvous``:
    torchrun arguments the backend does not set through the environment."""
    restarts = spec.max_restarts if spec.elastic else 0
    return [
        "python",
        "-m",
        "trainpipe.launch.torchrun_agent",
        "--max-restarts",
        str(restarts),
        *rendezvous,
        "-m",
        spec.module,
        *spec.args,
    ]


def trainjob_rendezvous(spec: JobSpec) -> list[str]:
    """torchrun's elastic rendezvous for a TrainJob's pods: Trainer v2.3 has no elastic policy
    (its CRD has none), so the command asks for it. ``min:max`` nodes meet over c10d at node 0's
    address, which Trainer gives every node as ``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``
    (expanded by Kubernetes in the command), so node 0 hosts the rendezvous, as ``worker-0``
    does in an elastic PyTorchJob; the arguments win over the ``PET_NNODES`` Trainer sets."""
    if not spec.elastic:
        return []
    return [
        "--nnodes",
        f"{spec.elastic_min_nodes}:{spec.elastic_max_nodes}",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "$(PET_MASTER_ADDR):$(PET_MASTER_PORT)",
        "--rdzv-id",
        spec.name,
    ]


def render_pytorchjob(spec: JobSpec) -> dict[str, Any]:
    """A ``kubeflow.org/v1`` PyTorchJob running ``spec`` (training-operator v1).

    A fixed-size job has one ``Master`` and ``nnodes - 1`` ``Worker`` replicas (no Worker for
    a single node). An elastic job (``spec.elastic``) has ``nnodes`` Workers only and an
    ``elasticPolicy`` with a c10d rendezvous hosted by ``worker-0``, as the operator requires.

    Raises:
        LaunchError: the spec has no image, or an elastic range that excludes ``nnodes``.
    """
    _require_image(spec, "pytorchjob")
    template = _pod_template(spec)
    replica = {"restartPolicy": spec.restart_policy, "template": template}
    replicas: dict[str, Any]
    if spec.elastic:
        _check_elastic_range(spec)
        replicas = {"Worker": {"replicas": spec.nnodes, **replica}}
    else:
        replicas = {"Master": {"replicas": 1, **replica}}
        if spec.nnodes > 1:
            replicas["Worker"] = {"replicas": spec.nnodes - 1, **_deep_copy(replica)}

    run_policy: dict[str, Any] = {
        "backoffLimit": spec.backoff_limit,
        # Stop still-running pods when the job ends (e.g. workers of a failed master) but keep
        # finished ones, so their logs can be collected before the job is cleaned up.
        "cleanPodPolicy": "Running",
    }
    if spec.active_deadline_seconds > 0:
        run_policy["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished > 0:
        run_policy["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished

    job_spec: dict[str, Any] = {
        "runPolicy": run_policy,
        "nprocPerNode": str(spec.nproc_per_node),
        "pytorchReplicaSpecs": replicas,
    }
    if spec.elastic:
        job_spec["elasticPolicy"] = {
            "minReplicas": spec.elastic_min_nodes,
            "maxReplicas": spec.elastic_max_nodes,
            "rdzvBackend": "c10d",
            "maxRestarts": spec.max_restarts,
        }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": _metadata(spec),
        "spec": job_spec,
    }


def render_trainjob(spec: JobSpec) -> dict[str, Any]:
    """A ``trainer.kubeflow.org/v1alpha1`` TrainJob running ``spec`` (Kubeflow Trainer v2.3).

    The job references the ClusterTrainingRuntime ``spec.runtime``. Its ``trainer`` sets image,
    command, nodes, processes per node, resources and the environment: ``spec.env`` and the
    storage settings as optional key references (:data:`STORAGE_CONFIG_KEYS`,
    :data:`STORAGE_SECRET_KEYS`), because Trainer refuses patched env on the ``node`` container.
    One ``runtimePatches`` entry, managed by :data:`TRAINJOB_PATCH_MANAGER`, patches the
    runtime's ``node`` job: pod labels (:data:`TRAINING_POD_LABELS` and ``spec.labels``, so the
    NetworkPolicies and the PodMonitor select the pods), the Istio opt-out, service account, node
    selector, tolerations, pod and container security context and the ``/dev/shm`` volume; the
    JobSet gets ``spec.labels`` too. The Kueue queue label goes on the TrainJob itself. An elastic
    job (``spec.elastic``) runs torchrun's elastic rendezvous from its command
    (:func:`trainjob_rendezvous`): a lost pod's replacement (the runtime's ``backoffLimit``)
    joins the nodes that went on without it.

    Restart policy, backoff limit and TTL are not TrainJob fields; the pod priority class and the
    metrics ports come from the runtime (manifests/trainer).

    Raises:
        LaunchError: the spec has no image, a name that starts with a digit, an elastic range
            that excludes ``nnodes``, asks for a priority class the runtime does not set,
            or takes the environment from more than one ConfigMap or Secret.
    """
    _require_image(spec, "trainjob")
    if not _RFC1035_LABEL.match(spec.name):
        raise LaunchError(
            f"job name {spec.name!r} cannot name a TrainJob: Kubeflow Trainer requires an RFC "
            "1035 label (start with a letter; lowercase letters, digits and '-'; at most 63 "
            "characters); build it with job_name()"
        )
    if spec.elastic:
        _check_elastic_range(spec)
    _check_trainjob_priority(spec)
    trainer: dict[str, Any] = {
        "image": spec.image,
        "command": pod_command(spec, trainjob_rendezvous(spec)),
        "numNodes": spec.nnodes,
        "numProcPerNode": spec.nproc_per_node,
        "resourcesPerNode": _resources(spec),
    }
    env = [*_env(spec), *_storage_env(spec)]
    if env:
        trainer["env"] = env

    job_spec: dict[str, Any] = {
        "runtimeRef": {
            "apiGroup": "trainer.kubeflow.org",
            "kind": "ClusterTrainingRuntime",
            "name": spec.runtime,
        },
        "trainer": trainer,
        "runtimePatches": [_runtime_patch(spec)],
    }
    if spec.active_deadline_seconds > 0:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": _metadata(spec),
        "spec": job_spec,
    }


def to_yaml(obj: dict[str, Any] | list[dict[str, Any]]) -> str:
    """``obj`` (one object, or a list of them as a multi-document stream) as block YAML."""
    if isinstance(obj, list):
        return yaml.safe_dump_all(obj, sort_keys=False, default_flow_style=False)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


# --- pieces ----------------------------------------------------------------------------------


def _require_image(spec: JobSpec, kind: str) -> None:
    if not spec.image:
        raise LaunchError(
            f"job {spec.name} in namespace {spec.namespace}: a {kind} needs a container image; "
            "set job.image in the run config (e.g. ghcr.io/trainpipe/trainpipe:0.1.0-cpu)"
        )


def _check_elastic_range(spec: JobSpec) -> None:
    low, high = spec.elastic_min_nodes, spec.elastic_max_nodes
    if not low <= spec.nnodes <= high:
        raise LaunchError(
            f"job {spec.name} in namespace {spec.namespace}: elastic range "
            f"[{low}, {high}] (job.elastic_min_nodes, job.elastic_max_nodes) must contain "
            f"train.nnodes={spec.nnodes}; widen the range or change nnodes"
        )


def _runtime_patch(spec: JobSpec) -> dict[str, Any]:
    """trainpipe's ``runtimePatches`` entry: JobSet labels, and the ``node`` job's pods."""
    pod: dict[str, Any] = {}
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if spec.node_selector:
        pod["nodeSelector"] = dict(sorted(spec.node_selector.items()))
    if spec.tolerations:
        pod["tolerations"] = _deep_copy(spec.tolerations)
    pod["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": _USER_ID,
        "runAsGroup": _USER_ID,
        "fsGroup": _USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod["containers"] = [
        {
            "name": TRAINJOB_CONTAINER,
            "volumeMounts": [_shm_mount()],
            "securityContext": _container_security(),
        }
    ]
    pod["volumes"] = [_shm_volume(spec)]
    node_job = {
        "name": TRAINJOB_TARGET_JOB,
        "template": {"spec": {"template": {"metadata": _pod_metadata(spec), "spec": pod}}},
    }
    jobset: dict[str, Any] = {"spec": {"replicatedJobs": [node_job]}}
    if spec.labels:
        jobset = {"metadata": {"labels": dict(sorted(spec.labels.items()))}, **jobset}
    return {"manager": TRAINJOB_PATCH_MANAGER, "trainingRuntimeSpec": {"template": jobset}}


def _check_trainjob_priority(spec: JobSpec) -> None:
    ours = (TRAINPIPE_RUNTIME, TRAINPIPE_RUNTIME_PRIORITY_CLASS)
    if not spec.priority_class or (spec.runtime, spec.priority_class) == ours:
        return
    raise LaunchError(
        f"job {spec.name} in namespace {spec.namespace}: job.priority_class="
        f"{spec.priority_class!r} cannot be applied to a TrainJob (Kubeflow Trainer patches "
        f"have no priorityClassName; the pods take it from the runtime, job.runtime="
        f"{spec.runtime!r}, and {TRAINPIPE_RUNTIME} sets {TRAINPIPE_RUNTIME_PRIORITY_CLASS!r}); "
        "leave job.priority_class empty and set priorityClassName in the runtime's pod template, "
        "or use the pytorchjob backend"
    )


def _metadata(spec: JobSpec) -> dict[str, Any]:
    labels = dict(spec.labels)
    if spec.queue_name:
        labels[QUEUE_LABEL] = spec.queue_name
    metadata: dict[str, Any] = {"name": spec.name, "namespace": spec.namespace}
    if labels:
        metadata["labels"] = dict(sorted(labels.items()))
    if spec.annotations:
        metadata["annotations"] = dict(sorted(spec.annotations.items()))
    return metadata


def _env(spec: JobSpec) -> list[dict[str, str]]:
    env = {**ELASTIC_ENV, **spec.env} if spec.elastic else spec.env
    return [{"name": key, "value": value} for key, value in sorted(env.items())]


def _env_from(spec: JobSpec) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = [
        {"configMapRef": {"name": name}} for name in spec.env_from_config_maps
    ]
    refs += [{"secretRef": {"name": name}} for name in spec.env_from_secrets]
    return refs


def _storage_env(spec: JobSpec) -> list[dict[str, Any]]:
    """The storage settings as optional key references, for a TrainJob (no ``envFrom`` there).

    A name ``spec.env`` sets explicitly wins, as it does over ``envFrom`` in a pod.
    """
    sources = [
        ("configMapKeyRef", spec.env_from_config_maps, STORAGE_CONFIG_KEYS, "ConfigMap"),
        ("secretKeyRef", spec.env_from_secrets, STORAGE_SECRET_KEYS, "Secret"),
    ]
    env: list[dict[str, Any]] = []
    for ref, names, keys, kind in sources:
        if len(names) > 1:
            raise LaunchError(
                f"job {spec.name} in namespace {spec.namespace}: a TrainJob reads the storage "
                f"settings from one {kind}, got {names}; set job.storage_config_map and "
                "job.storage_secret to one name each, or use the pytorchjob backend (envFrom)"
            )
        for name in names:
            env += [
                {"name": key, "valueFrom": {ref: {"name": name, "key": key, "optional": True}}}
                for key in keys
                if key not in spec.env
            ]
    return env


def _resources(spec: JobSpec) -> dict[str, dict[str, str]]:
    amounts = {"cpu": str(spec.resources.cpu), "memory": str(spec.resources.memory)}
    if spec.resources.gpus > 0:
        amounts["nvidia.com/gpu"] = str(spec.resources.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _shm_volume(spec: JobSpec) -> dict[str, Any]:
    return {
        "name": _SHM_VOLUME,
        "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shm_size},
    }


def _shm_mount() -> dict[str, Any]:
    return {"name": _SHM_VOLUME, "mountPath": "/dev/shm"}


def _pod_template(spec: JobSpec) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": PYTORCHJOB_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": pod_command(spec),
    }
    env = _env(spec)
    if env:
        container["env"] = env
    env_from = _env_from(spec)
    if env_from:
        container["envFrom"] = env_from
    container["ports"] = [dict(PYTORCHJOB_PORT), *_metrics_ports(spec)]
    container["resources"] = _resources(spec)
    container["volumeMounts"] = [_shm_mount()]
    container["securityContext"] = _container_security()

    pod: dict[str, Any] = {}
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if spec.priority_class:
        pod["priorityClassName"] = spec.priority_class
    if spec.node_selector:
        pod["nodeSelector"] = dict(sorted(spec.node_selector.items()))
    if spec.tolerations:
        pod["tolerations"] = _deep_copy(spec.tolerations)
    pod["containers"] = [container]
    pod["volumes"] = [_shm_volume(spec)]

    return {"metadata": _pod_metadata(spec), "spec": pod}


def _pod_metadata(spec: JobSpec) -> dict[str, Any]:
    return {
        # An injected Istio sidecar would keep a finished pod running forever.
        "annotations": {"sidecar.istio.io/inject": "false"},
        "labels": dict(sorted({**spec.labels, **TRAINING_POD_LABELS}.items())),
    }


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": _USER_ID,
        "runAsGroup": _USER_ID,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _metrics_ports(spec: JobSpec) -> list[dict[str, Any]]:
    if spec.metrics_port <= 0:
        return []
    return [
        {
            "name": METRICS_PORT_NAME if rank == 0 else f"{METRICS_PORT_NAME}-{rank}",
            "containerPort": spec.metrics_port + rank,
            "protocol": "TCP",
        }
        for rank in range(spec.nproc_per_node)
    ]


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value

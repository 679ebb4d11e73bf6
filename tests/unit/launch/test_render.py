"""Rendering JobSpecs as PyTorchJob / TrainJob objects, validated against the official CRDs."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from k8s_validation import crd_path, validate_custom_resource, validate_objects
from trainpipe.config import RunConfig
from trainpipe.errors import LaunchError
from trainpipe.launch.render import (
    QUEUE_LABEL,
    STORAGE_CONFIG_KEYS,
    STORAGE_SECRET_KEYS,
    TRAINING_POD_LABELS,
    TRAINJOB_PATCH_MANAGER,
    TRAINPIPE_RUNTIME_PRIORITY_CLASS,
    pod_command,
    render_pytorchjob,
    render_trainjob,
    to_yaml,
)
from trainpipe.launch.spec import JobSpec, Resources, job_spec_from_config

pytestmark = pytest.mark.unit

PYTORCHJOB_CRD = "kubeflow.org_pytorchjobs.yaml"
TRAINJOB_CRD = "trainer.kubeflow.org_trainjobs.yaml"
IMAGE = "ghcr.io/trainpipe/trainpipe:0.1.0-cuda"
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def single_node() -> JobSpec:
    return JobSpec(
        name="trainpipe-run-1-train-0123456789",
        args=["--spec", "s3://bucket/runs/run-1/spec.json"],
        image=IMAGE,
        service_account="trainpipe-training",
        env={"TRAINPIPE_RUN": "run-1", "A_FIRST": "1"},
        env_from_secrets=["trainpipe-s3-credentials"],
        env_from_config_maps=["trainpipe-storage"],
        labels={"app.kubernetes.io/part-of": "trainpipe"},
    )


def gpu_multi_node(**overrides: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "name": "trainpipe-run-2-train-abcdef0123",
        "args": ["--spec", "s3://bucket/runs/run-2/spec.json"],
        "nnodes": 3,
        "nproc_per_node": 2,
        "max_restarts": 2,
        "image": IMAGE,
        "service_account": "trainpipe-training",
        "resources": Resources(cpu="8", memory="32Gi", gpus=2, shm_size="8Gi"),
        "env_from_secrets": ["trainpipe-s3-credentials"],
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        "tolerations": [TOLERATION],
        "priority_class": "training-high",
        "queue_name": "team-a",
        "active_deadline_seconds": 7200,
        "restart_policy": "ExitCode",
        "labels": {"app.kubernetes.io/part-of": "trainpipe", "trainpipe.dev/run": "run-2"},
    }
    fields.update(overrides)
    return JobSpec(**fields)


def elastic() -> JobSpec:
    return gpu_multi_node(nnodes=3, elastic_min_nodes=2, elastic_max_nodes=4)


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")
    else:
        yield path, node


def container_of(job: dict[str, Any], replica: str = "Master") -> dict[str, Any]:
    containers = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- PyTorchJob ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [single_node, gpu_multi_node, elastic], ids=lambda f: f.__name__)
def test_pytorchjob_validates_against_the_official_crd(make: Any) -> None:
    validate_custom_resource(render_pytorchjob(make()), crd_path(PYTORCHJOB_CRD))


def test_single_node_pytorchjob_has_a_master_and_no_worker() -> None:
    spec = single_node()
    job = render_pytorchjob(spec)
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    assert job["metadata"] == {
        "name": spec.name,
        "namespace": "trainpipe",
        "labels": {"app.kubernetes.io/part-of": "trainpipe"},
    }
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert list(replicas) == ["Master"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Master"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["nprocPerNode"] == "1"
    assert "elasticPolicy" not in job["spec"]
    run_policy = job["spec"]["runPolicy"]
    assert run_policy == {
        "backoffLimit": 3,
        "cleanPodPolicy": "Running",
        "ttlSecondsAfterFinished": 3600,
    }


def test_multi_node_gpu_pytorchjob() -> None:
    spec = gpu_multi_node()
    job = render_pytorchjob(spec)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] == 2
    assert job["spec"]["nprocPerNode"] == "2"
    assert job["metadata"]["labels"][QUEUE_LABEL] == "team-a"
    assert job["spec"]["runPolicy"]["activeDeadlineSeconds"] == 7200
    for rtype in ("Master", "Worker"):
        assert replicas[rtype]["restartPolicy"] == "ExitCode"
        pod = replicas[rtype]["template"]["spec"]
        assert pod["serviceAccountName"] == "trainpipe-training"
        assert pod["priorityClassName"] == "training-high"
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
        assert pod["tolerations"] == [TOLERATION]
        container = container_of(job, rtype)
        amounts = {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
        assert container["resources"] == {"requests": amounts, "limits": amounts}
    # The two replica templates are independent copies, not shared references.
    assert replicas["Master"]["template"] is not replicas["Worker"]["template"]
    # The queue label goes on the job (Kueue reads it there), not into the pod template.
    assert QUEUE_LABEL not in replicas["Master"]["template"]["metadata"].get("labels", {})


def test_the_container_is_named_pytorch_and_runs_torchrun_through_the_agent() -> None:
    spec = gpu_multi_node()
    container = container_of(render_pytorchjob(spec))
    assert container["name"] == "pytorch"  # the operator injects its env into this name only
    assert container["image"] == IMAGE
    # no restart in the pod: the ExitCode policy restarts the pod for retryable codes only
    assert container["command"] == [
        "python", "-m", "trainpipe.launch.torchrun_agent", "--max-restarts", "0",
        "-m", "trainpipe.train", "--spec", "s3://bucket/runs/run-2/spec.json",
    ]  # fmt: skip
    elastic = dataclasses.replace(spec, elastic_min_nodes=1, elastic_max_nodes=spec.nnodes)
    assert pod_command(elastic)[3:5] == ["--max-restarts", "2"]  # torchrun's restarts, in place
    assert container["command"] == pod_command(spec)
    # torchrun takes nnodes / node rank / nproc / master from the operator's PET_* env.
    assert not any(arg.startswith("--nnodes") for arg in container["command"])
    assert {"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"} in container[
        "ports"
    ]


def test_env_is_sorted_and_env_from_references_names_only() -> None:
    container = container_of(render_pytorchjob(single_node()))
    assert container["env"] == [
        {"name": "A_FIRST", "value": "1"},
        {"name": "TRAINPIPE_RUN", "value": "run-1"},
    ]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "trainpipe-storage"}},
        {"secretRef": {"name": "trainpipe-s3-credentials"}},
    ]


@pytest.mark.parametrize("gpus", [0, 1, 4])
def test_gpu_resource_only_when_gpus_are_requested(gpus: int) -> None:
    spec = gpu_trainjob(resources=Resources(gpus=gpus))
    pytorchjob, trainjob = render_pytorchjob(spec), render_trainjob(spec)
    blocks = [trainjob["spec"]["trainer"]["resourcesPerNode"]]
    blocks += [container_of(pytorchjob, rtype)["resources"] for rtype in ("Master", "Worker")]
    for block in blocks:
        for amounts in (block["requests"], block["limits"]):
            if gpus:
                assert amounts["nvidia.com/gpu"] == str(gpus)
            else:
                assert "nvidia.com/gpu" not in amounts


def test_shm_volume_is_memory_backed_and_mounted_at_dev_shm() -> None:
    job = render_pytorchjob(gpu_multi_node())
    pod = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    ]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def test_pods_run_as_non_root_without_privilege_escalation() -> None:
    security = container_of(render_pytorchjob(single_node()))["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 1000
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_optional_fields_are_omitted_when_unset() -> None:
    spec = JobSpec(
        name="trainpipe-bare-0123456789",
        args=[],
        image=IMAGE,
        ttl_seconds_after_finished=0,
    )
    job = render_pytorchjob(spec)
    validate_custom_resource(job, crd_path(PYTORCHJOB_CRD))
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    for key in ("serviceAccountName", "priorityClassName", "nodeSelector", "tolerations"):
        assert key not in pod
    container = pod["containers"][0]
    assert "env" not in container and "envFrom" not in container
    assert "labels" not in job["metadata"]
    assert "activeDeadlineSeconds" not in job["spec"]["runPolicy"]
    assert "ttlSecondsAfterFinished" not in job["spec"]["runPolicy"]


def test_elastic_pytorchjob_has_workers_only_and_an_elastic_policy() -> None:
    job = render_pytorchjob(elastic())
    replicas = job["spec"]["pytorchReplicaSpecs"]
    # The operator requires a Worker spec for elastic jobs and hosts the rendezvous on worker-0.
    assert list(replicas) == ["Worker"]
    assert replicas["Worker"]["replicas"] == 3
    assert job["spec"]["elasticPolicy"] == {
        "minReplicas": 2,
        "maxReplicas": 4,
        "rdzvBackend": "c10d",
        "maxRestarts": 2,
    }
    # nProcPerNode lives in spec.nprocPerNode only (the operator forbids setting both).
    assert job["spec"]["nprocPerNode"] == "2"
    # A node that comes back must find each rendezvous round's own store (launch/spec.py).
    container = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert {"name": "TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "value": "1"} in container["env"]


def test_elastic_range_must_contain_nnodes() -> None:
    with pytest.raises(LaunchError, match=r"elastic range \[4, 6\].*nnodes=3"):
        render_pytorchjob(gpu_multi_node(elastic_min_nodes=4, elastic_max_nodes=6))


def test_a_job_without_an_image_is_refused() -> None:
    spec = JobSpec(name="trainpipe-noimage-0123456789", args=[])
    for render in (render_pytorchjob, render_trainjob):
        with pytest.raises(LaunchError, match=r"trainpipe-noimage-0123456789.*job\.image"):
            render(spec)


def test_the_pod_template_is_a_valid_pod() -> None:
    """kubernetes-validate --strict on a Pod built from each replica's template."""
    pods = []
    for make in (single_node, gpu_multi_node, elastic):
        job = render_pytorchjob(make())
        for rtype, replica in job["spec"]["pytorchReplicaSpecs"].items():
            template = replica["template"]
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{job['metadata']['name']}-{rtype.lower()}-0",
                        "namespace": job["metadata"]["namespace"],
                        **template["metadata"],
                    },
                    "spec": template["spec"],
                }
            )
    validate_objects(pods)


# --- TrainJob --------------------------------------------------------------------------------


def gpu_trainjob(**overrides: Any) -> JobSpec:
    """The multi-node GPU job with the priority class the trainpipe-torch runtime sets."""
    return gpu_multi_node(**{"priority_class": TRAINPIPE_RUNTIME_PRIORITY_CLASS, **overrides})


def node_patch(job: dict[str, Any]) -> dict[str, Any]:
    """The pod template patch of trainpipe's runtime patch for the ``node`` job."""
    (patch,) = job["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    template: dict[str, Any] = node["template"]["spec"]["template"]
    return template


@pytest.mark.parametrize("make", [single_node, gpu_trainjob], ids=lambda f: f.__name__)
def test_trainjob_validates_against_the_official_crd(make: Any) -> None:
    validate_custom_resource(render_trainjob(make()), crd_path(TRAINJOB_CRD))


def test_trainjob_fields() -> None:
    spec = gpu_trainjob()
    job = render_trainjob(spec)
    assert job["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and job["kind"] == "TrainJob"
    assert job["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "trainpipe-torch",
    }
    trainer = job["spec"]["trainer"]
    assert trainer["image"] == IMAGE
    assert trainer["command"] == pod_command(spec)
    assert trainer["numNodes"] == 3
    assert trainer["numProcPerNode"] == 2  # v2.3: the TrainJob sets it, not the runtime
    amounts = {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert trainer["resourcesPerNode"] == {"requests": amounts, "limits": amounts}
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    # Trainer v2.2 removed spec.labels and spec.podSpecOverrides: nothing may use them.
    assert set(job["spec"]) == {
        "runtimeRef", "trainer", "runtimePatches", "activeDeadlineSeconds",
    }  # fmt: skip
    (patch,) = job["spec"]["runtimePatches"]
    assert patch["manager"] == TRAINJOB_PATCH_MANAGER == "trainpipe.dev/launcher"
    pod = node_patch(job)["spec"]
    assert pod["serviceAccountName"] == "trainpipe-training"
    assert pod["nodeSelector"] == spec.node_selector
    assert pod["tolerations"] == [TOLERATION]
    assert pod["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["name"] == "node"
    assert container["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    # The same container security context as a PyTorchJob pod's.
    assert container["securityContext"] == container_of(render_pytorchjob(spec))["securityContext"]
    assert "env" not in container  # Trainer refuses patched env on the node container


def test_trainjob_labels_reach_the_pods_and_the_queue_label_stays_on_the_job() -> None:
    spec = gpu_trainjob()
    job = render_trainjob(spec)
    assert job["metadata"]["labels"][QUEUE_LABEL] == "team-a"  # Kueue reads it there
    template = node_patch(job)
    pod_labels = template["metadata"]["labels"]
    # What PyTorchJob pods carry: the NetworkPolicies and the PodMonitor select on them.
    assert pod_labels == container_pod_labels(render_pytorchjob(spec))
    assert TRAINING_POD_LABELS.items() <= pod_labels.items()
    assert spec.labels.items() <= pod_labels.items()
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    # What spec.labels used to label: the JobSet.
    jobset = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]
    assert jobset["metadata"] == {"labels": spec.labels}
    assert QUEUE_LABEL not in pod_labels and QUEUE_LABEL not in jobset["metadata"]["labels"]


def container_pod_labels(pytorchjob: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = pytorchjob["spec"]["pytorchReplicaSpecs"]["Master"]["template"][
        "metadata"
    ]["labels"]
    return labels


def test_trainjob_env_is_sorted_then_the_optional_storage_references() -> None:
    trainer = render_trainjob(single_node())["spec"]["trainer"]
    env = trainer["env"]
    assert env[:2] == [
        {"name": "A_FIRST", "value": "1"},
        {"name": "TRAINPIPE_RUN", "value": "run-1"},
    ]
    config_refs = [e for e in env if "configMapKeyRef" in e.get("valueFrom", {})]
    secret_refs = [e for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    assert len(env) == 2 + len(config_refs) + len(secret_refs)
    assert [e["name"] for e in config_refs] == list(STORAGE_CONFIG_KEYS)
    assert [e["name"] for e in secret_refs] == list(STORAGE_SECRET_KEYS)
    for entry in config_refs:
        ref = entry["valueFrom"]["configMapKeyRef"]
        assert ref == {"name": "trainpipe-storage", "key": entry["name"], "optional": True}
    for entry in secret_refs:
        ref = entry["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "trainpipe-s3-credentials", "key": entry["name"], "optional": True}
    assert "envFrom" not in to_yaml(render_trainjob(single_node()))


def test_the_storage_references_cover_every_variable_the_s3_client_reads() -> None:
    from trainpipe.storage.s3 import s3_client_from_env

    read: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
            read.add(key)
            return super().get(key, default)

    # No endpoint (every endpoint variable is tried), then AWS and MinIO credentials.
    with pytest.raises(Exception, match="no S3 endpoint"):
        s3_client_from_env(Recording())
    s3_client_from_env(Recording(TRAINPIPE_S3_ENDPOINT="minio:9000"))
    s3_client_from_env(
        Recording(AWS_ENDPOINT_URL="minio:9000", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b")
    )
    assert read == {*STORAGE_CONFIG_KEYS, *STORAGE_SECRET_KEYS}


def test_an_explicit_env_variable_wins_over_the_storage_reference() -> None:
    spec = single_node()
    spec.env["TRAINPIPE_S3_ENDPOINT"] = "http://minio.other:9000"
    job = render_trainjob(spec)
    named = [e for e in job["spec"]["trainer"]["env"] if e["name"] == "TRAINPIPE_S3_ENDPOINT"]
    assert named == [{"name": "TRAINPIPE_S3_ENDPOINT", "value": "http://minio.other:9000"}]
    validate_custom_resource(job, crd_path(TRAINJOB_CRD))  # env is a list keyed by name


def test_trainjob_reads_the_storage_settings_from_one_config_map_and_one_secret() -> None:
    spec = single_node()
    spec.env_from_secrets = ["trainpipe-s3-credentials", "hf-token"]
    with pytest.raises(
        LaunchError, match=r"one Secret, got \['trainpipe-s3-credentials', 'hf-token'\]"
    ):
        render_trainjob(spec)
    bare = JobSpec(name="trainpipe-bare-0123456789", args=[], image=IMAGE)
    job = render_trainjob(bare)
    assert "env" not in job["spec"]["trainer"]
    assert "serviceAccountName" not in node_patch(job)["spec"]
    validate_custom_resource(job, crd_path(TRAINJOB_CRD))


def test_trainjob_takes_its_priority_class_from_the_runtime() -> None:
    render_trainjob(gpu_trainjob())  # the priority trainpipe-torch sets
    render_trainjob(gpu_trainjob(priority_class=""))  # whatever the runtime sets
    for overrides in ({"priority_class": "training-high"}, {"runtime": "torch-distributed"}):
        with pytest.raises(LaunchError, match=r"job.priority_class=.*cannot be applied"):
            render_trainjob(gpu_trainjob(**overrides))
    assert "priorityClassName" not in to_yaml(render_trainjob(gpu_trainjob()))


def test_trainjob_names_are_rfc_1035_labels() -> None:
    # The TrainJob CRD's CEL rule: the name starts with a letter (a JobSpec's may not).
    spec = JobSpec(name="0-run-0123456789", args=[], image=IMAGE)
    render_pytorchjob(spec)
    with pytest.raises(LaunchError, match=r"'0-run-0123456789'.*start with a letter"):
        render_trainjob(spec)


def test_elastic_trainjob_asks_torchrun_for_the_elastic_rendezvous() -> None:
    spec = dataclasses.replace(elastic(), name="trainpipe-elastic-0123456789", priority_class="")
    job = render_trainjob(spec)
    validate_custom_resource(job, crd_path(TRAINJOB_CRD))
    trainer = job["spec"]["trainer"]
    command = trainer["command"]
    assert command[3:5] == ["--max-restarts", "2"]
    # Trainer v2.3 has no elastic policy: the rendezvous is torchrun's, hosted by node 0.
    rendezvous = command[5 : command.index("-m", 5)]
    assert rendezvous == [
        "--nnodes",
        "2:4",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "$(PET_MASTER_ADDR):$(PET_MASTER_PORT)",
        "--rdzv-id",
        "trainpipe-elastic-0123456789",
    ]
    assert trainer["numNodes"] == 3
    assert {"name": "TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "value": "1"} in trainer["env"]
    with pytest.raises(LaunchError, match=r"elastic range \[4, 6\].*nnodes=3"):
        render_trainjob(dataclasses.replace(spec, elastic_min_nodes=4, elastic_max_nodes=6))


def test_a_fixed_size_trainjob_has_no_rendezvous_arguments() -> None:
    command = render_trainjob(gpu_trainjob())["spec"]["trainer"]["command"]
    assert "--rdzv-backend" not in command and "--nnodes" not in command
    env = render_trainjob(gpu_trainjob())["spec"]["trainer"].get("env", [])
    assert all(e["name"] != "TORCH_DISABLE_SHARE_RDZV_TCP_STORE" for e in env)


# --- both kinds ------------------------------------------------------------------------------

SECRETISH = ("password", "secretkey", "secret_key", "secretaccesskey", "token", "apikey")


@pytest.mark.parametrize(
    ("render", "secrets"),
    [
        (render_pytorchjob, ["trainpipe-s3-credentials", "hf-token"]),
        (render_trainjob, ["trainpipe-s3-credentials"]),
    ],
)
def test_no_secret_values_anywhere(render: Any, secrets: list[str]) -> None:
    spec = single_node()
    spec.env_from_secrets = secrets
    job = render(spec)
    for path, value in walk(job):
        key = path.rsplit(".", 1)[-1].lower().replace("-", "").replace("_", "")
        assert not any(word.replace("_", "") in key for word in SECRETISH), (path, value)
    # Every reference to a Secret is by name (and key) only.
    refs = [(path, value) for path, value in walk(job) if ".secretRef." in f".{path}."]
    key_refs = [(path, value) for path, value in walk(job) if ".secretKeyRef." in f".{path}."]
    assert refs or key_refs
    assert all(path.endswith("secretRef.name") for path, _ in refs)
    fields = {path.rsplit(".", 1)[-1] for path, _ in key_refs}
    assert fields <= {"name", "key", "optional"}
    names = {v for p, v in [*refs, *key_refs] if p.endswith((".secretRef.name", "KeyRef.name"))}
    assert names - {"trainpipe-storage"} == set(secrets)
    # A variable named like a credential never has a literal value.
    for variable in [*job["spec"].get("trainer", {}).get("env", []), *spec_env(job)]:
        if any(word in variable["name"] for word in ("SECRET", "ACCESS_KEY", "TOKEN")):
            assert "value" not in variable, variable
            assert variable["valueFrom"]["secretKeyRef"]["name"] in secrets


def spec_env(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The env of every PyTorchJob container ([] for a TrainJob)."""
    replicas = job["spec"].get("pytorchReplicaSpecs", {}).values()
    containers = [c for r in replicas for c in r["template"]["spec"]["containers"]]
    return [variable for c in containers for variable in c.get("env", [])]


def test_spec_from_config_renders_valid_jobs() -> None:
    config = RunConfig.from_dict(
        {"name": "iris run", "data": {"source": "builtin:iris"}, "train": {"nnodes": 2}}
    )
    spec = job_spec_from_config(config, name="trainpipe-iris-run-train-0123456789", args=["-h"])
    validate_custom_resource(render_pytorchjob(spec), crd_path(PYTORCHJOB_CRD))
    validate_custom_resource(render_trainjob(spec), crd_path(TRAINJOB_CRD))


def test_to_yaml_round_trips() -> None:
    jobs = [render_pytorchjob(gpu_multi_node()), render_trainjob(gpu_trainjob())]
    assert yaml.safe_load(to_yaml(jobs[0])) == jobs[0]
    assert list(yaml.safe_load_all(to_yaml(jobs))) == jobs
    assert to_yaml(jobs[0]).startswith("apiVersion: kubeflow.org/v1\nkind: PyTorchJob\n")

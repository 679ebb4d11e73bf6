"""The kustomize base in manifests/base, and the offline validators in tests/k8s_validation.py."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_validation import (
    REPO_ROOT,
    ManifestValidationError,
    crd_path,
    kustomize_build,
    validate_custom_resource,
    validate_objects,
)

pytestmark = pytest.mark.unit

BASE = REPO_ROOT / "manifests" / "base"
NAMESPACE = "trainpipe"
PART_OF = ("app.kubernetes.io/part-of", "trainpipe")

JOB_VERBS = {"create", "get", "list", "watch", "delete", "patch"}
READ_VERBS = {"get", "list", "watch"}
# (apiGroup, resource) -> verbs: exactly what the launcher may do, nothing more.
LAUNCHER_GRANTS = {
    ("kubeflow.org", "pytorchjobs"): JOB_VERBS,
    ("trainer.kubeflow.org", "trainjobs"): JOB_VERBS,
    ("kubeflow.org", "experiments"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): READ_VERBS,
    ("", "pods/log"): READ_VERBS,
    ("", "events"): READ_VERBS,
}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return kustomize_build(BASE)


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


# --- the base -------------------------------------------------------------------------------


def test_base_builds_the_expected_objects(objects: list[dict[str, Any]]) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        [
            ("Namespace", "trainpipe"),
            ("ServiceAccount", "trainpipe-launcher"),
            ("ServiceAccount", "trainpipe-training"),
            ("Role", "trainpipe-launcher"),
            ("RoleBinding", "trainpipe-launcher"),
            ("ConfigMap", "trainpipe-storage"),
            ("PersistentVolumeClaim", "optuna-storage"),
            ("Deployment", "optuna-storage"),
            ("Service", "optuna-storage"),
        ]
    )


def test_optuna_storage_serves_the_study_over_grpc(objects: list[dict[str, Any]]) -> None:
    by_kind = {o["kind"]: o for o in objects if o["metadata"]["name"] == "optuna-storage"}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "trainpipe.tune.storage_server"]
    assert container["ports"][0]["containerPort"] == 13000
    assert by_kind["Service"]["spec"]["ports"][0]["port"] == 13000
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_every_object_passes_strict_schema_validation(objects: list[dict[str, Any]]) -> None:
    validate_objects(objects)


def test_every_object_carries_the_part_of_label(objects: list[dict[str, Any]]) -> None:
    key, value = PART_OF
    unlabelled = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["metadata"].get("labels", {}).get(key) != value
    ]
    assert not unlabelled, f"missing {key}={value}: {unlabelled}"


def test_namespaced_objects_live_in_the_trainpipe_namespace(
    objects: list[dict[str, Any]],
) -> None:
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]


def test_role_grants_exactly_the_launcher_verbs(objects: list[dict[str, Any]]) -> None:
    role = _by_kind(objects, "Role")["trainpipe-launcher"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        # Namespaced resource rules only: no URLs, no wildcards, no name restrictions.
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource, *rule["verbs"]), rule
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == LAUNCHER_GRANTS


def test_rbac_is_namespaced_only(objects: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    binding = _by_kind(objects, "RoleBinding")["trainpipe-launcher"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "trainpipe-launcher",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "trainpipe-launcher", "namespace": NAMESPACE}
    ]


def test_training_pods_get_no_api_token(objects: list[dict[str, Any]]) -> None:
    accounts = _by_kind(objects, "ServiceAccount")
    assert accounts["trainpipe-training"]["automountServiceAccountToken"] is False
    # The launcher talks to the API server, so it keeps its token.
    assert accounts["trainpipe-launcher"].get("automountServiceAccountToken", True) is True


def test_no_secret_is_committed(objects: list[dict[str, Any]]) -> None:
    assert not [o for o in objects if o["kind"] == "Secret"]
    storage = _by_kind(objects, "ConfigMap")["trainpipe-storage"]
    assert storage["data"] == {
        "TRAINPIPE_S3_ENDPOINT": "http://minio.trainpipe.svc:9000",
        "TRAINPIPE_S3_SECURE": "false",
    }
    for source in BASE.glob("*.yaml"):
        text = source.read_text()
        assert "kind: Secret" not in text, source
        assert "AWS_SECRET_ACCESS_KEY:" not in text, source


# --- the validators can fail ----------------------------------------------------------------


def test_validate_objects_rejects_an_unknown_field() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {"a": "b"},
        "dta": {"typo": "field"},
    }
    with pytest.raises(ManifestValidationError, match="dta"):
        validate_objects([bad])


def test_validate_objects_refuses_custom_resources() -> None:
    # kubernetes-validate only warns, with exit 0, when it has no schema for a kind.
    job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "j"}}
    with pytest.raises(ValueError, match="validate_custom_resource"):
        validate_objects([job])


# --- custom resources against the official CRDs ---------------------------------------------


def _pytorchjob() -> dict[str, Any]:
    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/part-of": "trainpipe"}},
                "spec": {
                    "serviceAccountName": "trainpipe-training",
                    "containers": [
                        {
                            "name": "pytorch",
                            "image": "trainpipe:cpu",
                            "command": ["python", "-m", "trainpipe.train"],
                            "envFrom": [
                                {"configMapRef": {"name": "trainpipe-storage"}},
                                {"secretRef": {"name": "trainpipe-s3-credentials"}},
                            ],
                            "resources": {
                                "requests": {"cpu": 2, "memory": "4Gi"},
                                "limits": {"cpu": "2500m", "memory": "4Gi"},
                            },
                        }
                    ],
                },
            },
        }

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "trainpipe-run-1", "namespace": NAMESPACE},
        "spec": {
            "nprocPerNode": "1",
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 2},
            "pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(2)},
        },
    }


def _master_container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_a_valid_pytorchjob_passes() -> None:
    validate_custom_resource(_pytorchjob(), crd_path("kubeflow.org_pytorchjobs.yaml"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda j: j["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas="two"),
            "'two' is not of type 'integer'",
            id="replicas-not-an-integer",
        ),
        pytest.param(
            lambda j: j["spec"]["pytorchReplicaSpecs"]["Worker"].update(replica=2),
            "'replica' was unexpected",
            id="unknown-field",
        ),
        pytest.param(
            lambda j: j["spec"].pop("pytorchReplicaSpecs"),
            "'pytorchReplicaSpecs' is a required property",
            id="missing-required",
        ),
        pytest.param(
            lambda j: _master_container(j)["resources"]["requests"].update(cpu=[2]),
            "spec.pytorchReplicaSpecs.Master.template.spec.containers.0.resources.requests.cpu",
            id="quantity-neither-int-nor-string",
        ),
        pytest.param(
            lambda j: j.update(apiVersion="kubeflow.org/v2"),
            "not a served version",
            id="unserved-version",
        ),
        pytest.param(
            lambda j: j["metadata"].update(name="Bad_Name"),
            "not a DNS-1123 subdomain",
            id="bad-name",
        ),
    ],
)
def test_an_invalid_pytorchjob_is_rejected(mutate: Any, message: str) -> None:
    job = copy.deepcopy(_pytorchjob())
    mutate(job)
    with pytest.raises(ManifestValidationError) as excinfo:
        validate_custom_resource(job, crd_path("kubeflow.org_pytorchjobs.yaml"))
    assert message in str(excinfo.value)


def test_unknown_fields_pass_when_not_strict() -> None:
    job = _pytorchjob()
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["replica"] = 2
    validate_custom_resource(job, crd_path("kubeflow.org_pytorchjobs.yaml"), strict=False)


def test_trainjob_requires_a_runtime_ref() -> None:
    path = crd_path("trainer.kubeflow.org_trainjobs.yaml")
    job: dict[str, Any] = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "trainpipe-run-1"},
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {"numNodes": 2, "resourcesPerNode": {"requests": {"cpu": "1"}}},
        },
    }
    validate_custom_resource(job, path)
    del job["spec"]["runtimeRef"]["name"]
    with pytest.raises(ManifestValidationError, match="'name' is a required property"):
        validate_custom_resource(job, path)


def test_experiment_crd_preserves_unknown_fields() -> None:
    # The Katib CRD in shared/ has an open schema (x-kubernetes-preserve-unknown-fields).
    experiment: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "trainpipe-tune"},
        "spec": {"objective": {"type": "minimize", "objectiveMetricName": "val_loss"}},
    }
    validate_custom_resource(experiment, crd_path("kubeflow.org_experiments.yaml"))
    with pytest.raises(ManifestValidationError, match="no CRD for PyTorchJob"):
        validate_custom_resource(_pytorchjob(), crd_path("kubeflow.org_experiments.yaml"))

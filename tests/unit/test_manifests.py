"""The kustomize base in manifests/base, and the offline validators in tests/k8s_validation.py."""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_validation import (
    OPERATOR_SCHEMAS,
    REPO_ROOT,
    VENDORED_CRDS,
    ManifestValidationError,
    _object_name,
    compile_crd,
    crd_path,
    has_builtin_schema,
    kustomize_build,
    load_yaml_documents,
    runtime_job_templates,
    shared_crd_path,
    validate_custom_resource,
    validate_objects,
    validate_operator_resource,
)
from kubeflow_trainer import is_domain_prefixed_path, pod_template, webhook_problems

pytestmark = pytest.mark.unit

BASE = REPO_ROOT / "manifests" / "base"
NAMESPACE = "trainpipe"
PART_OF = ("app.kubernetes.io/part-of", "trainpipe")
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "ClusterTrainingRuntime"}

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
    ("argoproj.io", "workflowtaskresults"): {"create", "patch"},
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
            ("NetworkPolicy", "trainpipe-training"),
            ("NetworkPolicy", "optuna-storage"),
            ("ResourceQuota", "trainpipe-quota"),
            ("LimitRange", "trainpipe-limits"),
            ("PriorityClass", "trainpipe-training"),
            ("PriorityClass", "trainpipe-preemptible"),
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
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], obj["metadata"]
        else:
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
    # The Katib CRD has an open schema (x-kubernetes-preserve-unknown-fields).
    experiment: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "trainpipe-tune"},
        "spec": {"objective": {"type": "minimize", "objectiveMetricName": "val_loss"}},
    }
    validate_custom_resource(experiment, crd_path("kubeflow.org_experiments.yaml"))
    with pytest.raises(ManifestValidationError, match="no CRD for PyTorchJob"):
        validate_custom_resource(_pytorchjob(), crd_path("kubeflow.org_experiments.yaml"))


# =============================================================================================
# Every kustomization: MinIO, monitoring, examples, GitOps and the dev/prod overlays
# =============================================================================================

MANIFESTS = REPO_ROOT / "manifests"
KUSTOMIZATIONS = (
    "base",
    "minio",
    "monitoring",
    "examples",
    "gitops",
    "overlays/dev",
    "overlays/prod",
    "overlays/prod/examples",
    "trainer",
)
CRD_FILES = {
    ("kubeflow.org/v1", "PyTorchJob"): "kubeflow.org_pytorchjobs.yaml",
    ("kubeflow.org/v1beta1", "Experiment"): "kubeflow.org_experiments.yaml",
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): "trainer.kubeflow.org_trainjobs.yaml",
    ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"): (
        "trainer.kubeflow.org_clustertrainingruntimes.yaml"
    ),
}
MONITORING_KINDS = {"PodMonitor", "PrometheusRule"}
GPU = "nvidia.com/gpu"
BUCKET = "trainpipe"
SECRET_NAMES = {"trainpipe-s3-credentials", "minio-root-credentials"}


def _exported_series() -> tuple[set[str], set[str]]:
    """What a training rank really exports (src/trainpipe/monitor), as the names PromQL
    selects: gauges and counters (``_total``), and histograms (``_bucket``/``_sum``/``_count``)."""
    from trainpipe.monitor.events import RunIds
    from trainpipe.monitor.metrics import TrainMetrics

    ids = RunIds(job="trainpipe-run-train", run="run", task="train", rank=0)
    families = list(TrainMetrics(ids).registry.collect())
    histograms = {f.name for f in families if f.type == "histogram"}
    plain = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    return plain - histograms, histograms


# The series the alerts and the dashboard may use: exactly what the trainer exports.
CONTRACT_METRICS, CONTRACT_HISTOGRAMS = _exported_series()
# The training operator's own counter (kubeflow/training-operator docs/monitoring).
OPERATOR_FAILED_JOBS = "training_operator_jobs_failed_total"


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization, built once per module (kustomize_build fails on warnings)."""
    return {name: kustomize_build(MANIFESTS / name) for name in KUSTOMIZATIONS}


def _find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector matches ``labels`` (an empty selector matches all)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
    return True


def _pod_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of a workload or training job (Katib trials included)."""
    spec = obj.get("spec", {})
    if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
        return [spec["template"]]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]]
    if obj["kind"] == "PyTorchJob":
        return [r["template"] for r in spec["pytorchReplicaSpecs"].values()]
    if obj["kind"] == "Experiment":
        return _pod_templates(spec["trialTemplate"]["trialSpec"])
    return []


def _training_pod_labels(built: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    # The examples are the renderer's output (checked below), so these are the labels the
    # launcher really puts on training pods.
    job = _find(built["examples"], "PyTorchJob")
    labels: dict[str, str] = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"][
        "labels"
    ]
    return labels


# --- builds and schemas ---------------------------------------------------------------------


def test_every_kustomization_is_listed() -> None:
    found = sorted(
        str(p.parent.relative_to(MANIFESTS)) for p in MANIFESTS.rglob("kustomization.yaml")
    )
    assert found == sorted(KUSTOMIZATIONS), "add new kustomizations to KUSTOMIZATIONS"


def test_every_builtin_object_passes_strict_validation(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    # One kubernetes-validate run over the distinct objects of every kustomization. Custom
    # resources are skipped here: kubernetes-validate has no schema for them (it would only
    # warn); the Kubeflow ones are checked against the vendored CRDs, the operator ones
    # (PodMonitor, PrometheusRule, Application) structurally, in the tests below.
    unique: dict[str, dict[str, Any]] = {}
    for objects in built.values():
        for obj in objects:
            key = (obj["apiVersion"], obj["kind"])
            if key not in CRD_FILES and key not in OPERATOR_SCHEMAS:
                unique[json.dumps(obj, sort_keys=True)] = obj
    assert len(unique) > 30
    validate_objects(unique.values())


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_object_is_known_and_labelled(
    built: dict[str, list[dict[str, Any]]], name: str
) -> None:
    key, value = PART_OF
    for obj in built[name]:
        assert obj["metadata"].get("labels", {}).get(key) == value, obj["metadata"]
        known = (
            (obj["apiVersion"], obj["kind"]) in CRD_FILES
            or (obj["apiVersion"], obj["kind"]) in OPERATOR_SCHEMAS
            or has_builtin_schema(obj)
        )
        assert known, f"{name}: no validator for {obj['apiVersion']} {obj['kind']}"
        if obj["kind"] not in CLUSTER_SCOPED and obj["kind"] != "Application":
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]


@pytest.mark.parametrize("name", ["examples", "overlays/prod/examples"])
def test_training_jobs_validate_against_the_official_crds(
    built: dict[str, list[dict[str, Any]]], name: str
) -> None:
    jobs = [o for o in built[name] if (o["apiVersion"], o["kind"]) in CRD_FILES]
    assert sorted(o["kind"] for o in jobs) == ["Experiment", "PyTorchJob"]
    for job in jobs:
        validate_custom_resource(job, crd_path(CRD_FILES[(job["apiVersion"], job["kind"])]))
        if job["kind"] == "Experiment":
            # The Experiment CRD keeps trialSpec open; check the trial's PyTorchJob itself.
            trial = copy.deepcopy(job["spec"]["trialTemplate"]["trialSpec"])
            trial["metadata"]["name"] = "trial"
            validate_custom_resource(trial, crd_path("kubeflow.org_pytorchjobs.yaml"))


def test_operator_resources_validate_structurally(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    # PodMonitor, PrometheusRule and Application have no vendored CRD and no
    # kubernetes-validate schema, so they get the structural check of OPERATOR_SCHEMAS.
    objects = [*built["monitoring"], *built["gitops"], *built["trainer"]]
    checked = [o for o in objects if (o["apiVersion"], o["kind"]) in OPERATOR_SCHEMAS]
    assert sorted(o["kind"] for o in checked) == [
        "Application",
        "PodMonitor",
        "PrometheusRule",
    ]
    for obj in checked:
        validate_operator_resource(obj)


def test_the_structural_check_rejects_a_broken_podmonitor(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    monitor = copy.deepcopy(_find(built["monitoring"], "PodMonitor"))
    monitor["spec"]["podMetricsEndpoints"][0]["honorLabel"] = True
    del monitor["spec"]["selector"]
    with pytest.raises(ManifestValidationError) as excinfo:
        validate_operator_resource(monitor)
    assert "'selector' is a required property" in str(excinfo.value)
    assert "honorLabel" in str(excinfo.value)


def test_kustomize_warnings_fail_the_build(tmp_path: Path) -> None:
    # A deprecated field makes kustomize warn on stderr with exit 0.
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "commonLabels:\n  a: b\nresources:\n  - cm.yaml\n"
    )
    with pytest.raises(ManifestValidationError, match="warned"):
        kustomize_build(tmp_path)


# --- overlays -------------------------------------------------------------------------------


def _kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {o["kind"] for o in objects}


def test_dev_is_cpu_only_with_minio_and_small_quotas(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    dev = built["overlays/dev"]
    assert {"StatefulSet", "Job", "NetworkPolicy", "ResourceQuota", "LimitRange"} <= _kinds(dev)
    assert not _kinds(dev) & {*MONITORING_KINDS, "CronJob"}
    quota = _find(dev, "ResourceQuota")["spec"]["hard"]
    assert not [k for k in quota if GPU in k]
    assert "nvidia.com" not in json.dumps(dev)
    # The digits example fits: per-container limits and the namespace quota admit it.
    job = _find(built["examples"], "PyTorchJob")
    pods = _pod_templates(job)
    container = pods[0]["spec"]["containers"][0]
    limit_max = _find(dev, "LimitRange")["spec"]["limits"][0]["max"]
    assert _quantity(container["resources"]["limits"]["cpu"]) <= _quantity(limit_max["cpu"])
    assert _quantity(container["resources"]["limits"]["memory"]) <= _quantity(limit_max["memory"])
    requested = sum(
        _quantity(p["spec"]["containers"][0]["resources"]["requests"]["cpu"]) for p in pods
    )
    assert requested <= _quantity(quota["requests.cpu"])


@pytest.mark.parametrize("name", ["overlays/dev", "overlays/prod"])
def test_volumes_fit_the_quota_and_limits(
    built: dict[str, list[dict[str, Any]]], name: str
) -> None:
    objects = built[name]
    claims = [o["spec"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    claims += [
        t["spec"]
        for o in objects
        if o["kind"] == "StatefulSet"
        for t in o["spec"].get("volumeClaimTemplates", [])
    ]
    sizes = [_quantity(c["resources"]["requests"]["storage"]) for c in claims]
    assert len(sizes) >= 2
    (pvc_limit,) = [
        item
        for item in _find(objects, "LimitRange")["spec"]["limits"]
        if item["type"] == "PersistentVolumeClaim"
    ]
    assert max(sizes) <= _quantity(pvc_limit["max"]["storage"])
    assert sum(sizes) <= _quantity(
        _find(objects, "ResourceQuota")["spec"]["hard"]["requests.storage"]
    )


def test_prod_has_gpu_quotas_monitoring_and_the_schedule(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    prod = built["overlays/prod"]
    assert {*MONITORING_KINDS, "CronJob", "StatefulSet", "PriorityClass"} <= _kinds(prod)
    # No training run starts on a sync: the examples are a separate kustomization.
    assert not _kinds(prod) & {"PyTorchJob", "Experiment", "TrainJob"}
    quota = _find(prod, "ResourceQuota")["spec"]["hard"]
    assert _quantity(quota[f"requests.{GPU}"]) >= 1
    assert _quantity(quota["requests.cpu"]) > _quantity(
        _find(built["overlays/dev"], "ResourceQuota")["spec"]["hard"]["requests.cpu"]
    )
    assert GPU in _find(prod, "LimitRange")["spec"]["limits"][0]["max"]


def test_prod_examples_run_on_the_gpu_pool(built: dict[str, list[dict[str, Any]]]) -> None:
    classes = {o["metadata"]["name"] for o in built["base"] if o["kind"] == "PriorityClass"}
    for job in built["overlays/prod/examples"]:
        for template in _pod_templates(job):
            pod = template["spec"]
            container = pod["containers"][0]
            assert container["image"].endswith("-cuda"), container["image"]
            assert container["resources"]["limits"][GPU] == "1"
            assert container["resources"]["requests"][GPU] == "1"
            assert pod["nodeSelector"] == {"trainpipe.dev/node-pool": "gpu"}
            assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
            assert pod["priorityClassName"] in classes
            # ...and the training spec the pods read says the same (it is rendered, not patched)
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            job_config = json.loads(env["TRAINPIPE_TRAIN_SPEC"])["config"]["job"]
            assert job_config["gpus"] == 1 and job_config["image"] == container["image"]


def test_priority_classes_never_become_the_default(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    classes = {o["metadata"]["name"]: o for o in built["base"] if o["kind"] == "PriorityClass"}
    assert set(classes) == {"trainpipe-training", "trainpipe-preemptible"}
    assert all(c["globalDefault"] is False for c in classes.values())
    assert classes["trainpipe-training"]["value"] > classes["trainpipe-preemptible"]["value"]
    assert classes["trainpipe-preemptible"]["preemptionPolicy"] == "Never"


_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3, "k": 1e3, "M": 1e6}


def _quantity(value: str | int) -> float:
    """A Kubernetes resource quantity as a number (the suffixes the manifests use)."""
    text = str(value)
    for suffix, factor in _SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- MinIO ----------------------------------------------------------------------------------


def test_minio_runs_non_root_with_probes_and_a_pinned_image(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    minio = built["minio"]
    sts = _find(minio, "StatefulSet", "minio")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.[0-9T-]+Z", container["image"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] in {m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {
            "name": "minio-root-credentials",
            "key": key,
        }


def test_minio_services_serve_the_configured_endpoint(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    dev = built["overlays/dev"]
    sts = _find(dev, "StatefulSet", "minio")
    headless = _find(dev, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    endpoint = _find(dev, "ConfigMap", "trainpipe-storage")["data"]["TRAINPIPE_S3_ENDPOINT"]
    match = re.fullmatch(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc:(\d+)", endpoint)
    assert match, endpoint
    service = _find(dev, "Service", match[1])
    assert match[2] == NAMESPACE
    assert int(match[3]) in {p["port"] for p in service["spec"]["ports"]}
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for svc in (headless, service):
        assert _selects({"matchLabels": svc["spec"]["selector"]}, labels)


def test_the_setup_job_is_idempotent_and_least_privileged(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    minio = built["minio"]
    job = _find(minio, "Job", "minio-setup")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert re.fullmatch(r"quay\.io/minio/mc:RELEASE\.[0-9T-]+Z", container["image"])
    script = container["args"][0]
    # Each step succeeds when its result already exists.
    assert "mc mb --ignore-existing" in script
    assert "mc admin policy create" in script  # overwrites the policy with the same document
    assert "mc admin user add" in script  # updates an existing user's secret key
    assert '*"already in effect"*' in script  # attaching an attached policy is not an error
    env = {e["name"]: e for e in container["env"]}
    assert env["BUCKET"]["value"] == BUCKET
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {
            "name": "trainpipe-s3-credentials",
            "key": key,
        }

    volume = next(v for v in pod["volumes"] if v["name"] == "policy")
    policy_map = _find(minio, "ConfigMap", volume["configMap"]["name"])
    (document,) = policy_map["data"].values()
    policy = json.loads(document)
    granted = {
        (action, resource)
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
    }
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    assert granted == {
        ("s3:GetBucketLocation", bucket_arn),
        ("s3:ListBucket", bucket_arn),
        ("s3:GetObject", f"{bucket_arn}/*"),
        ("s3:PutObject", f"{bucket_arn}/*"),
        ("s3:DeleteObject", f"{bucket_arn}/*"),
    }
    # The bucket the pipeline writes to by default is the one the policy covers.
    spec_env = _find(built["examples"], "PyTorchJob")["spec"]["pytorchReplicaSpecs"]["Master"]
    train_spec = json.loads(spec_env["template"]["spec"]["containers"][0]["env"][0]["value"])
    assert train_spec["output"].startswith(f"minio://{BUCKET}/")


# --- network policies -----------------------------------------------------------------------


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}


def test_training_pods_talk_to_each_other_minio_and_dns_only(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    dev = built["overlays/dev"]
    training = _training_pod_labels(built)
    policy = _find(dev, "NetworkPolicy", "trainpipe-training")["spec"]
    assert _selects(policy["podSelector"], training)
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    for name in ("minio", "optuna-storage"):
        other = _find(dev, "StatefulSet" if name == "minio" else "Deployment", name)
        assert not _selects(policy["podSelector"], other["spec"]["template"]["metadata"]["labels"])

    egress = {frozenset(_ports(rule)): rule["to"] for rule in policy["egress"]}
    assert set(egress) == {
        frozenset(),  # to other training pods, any port (rendezvous, NCCL)
        frozenset({("TCP", 9000)}),
        frozenset({("TCP", 13000)}),
        frozenset({("TCP", 6789)}),
        frozenset({("UDP", 53), ("TCP", 53)}),
    }
    (peer,) = egress[frozenset()]
    assert set(peer) == {"podSelector"} and _selects(peer["podSelector"], training)
    (minio_peer,) = egress[frozenset({("TCP", 9000)})]
    minio_labels = _find(dev, "StatefulSet", "minio")["spec"]["template"]["metadata"]["labels"]
    assert set(minio_peer) == {"podSelector"} and _selects(minio_peer["podSelector"], minio_labels)

    # Ingress: other training pods, and Prometheus on the metrics ports (9400 + LOCAL_RANK).
    peers_rule, scrape_rule = policy["ingress"]
    assert "ports" not in peers_rule
    assert _selects(peers_rule["from"][0]["podSelector"], training)
    (scrape_port,) = scrape_rule["ports"]
    assert scrape_port["port"] <= 9400 < 9401 <= scrape_port["endPort"]
    assert set(scrape_rule["from"][0]) == {"namespaceSelector", "podSelector"}


def test_minio_accepts_trainpipe_pods_only(built: dict[str, list[dict[str, Any]]]) -> None:
    dev = built["overlays/dev"]
    policy = _find(dev, "NetworkPolicy", "minio")["spec"]
    minio_labels = _find(dev, "StatefulSet", "minio")["spec"]["template"]["metadata"]["labels"]
    assert _selects(policy["podSelector"], minio_labels)
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert _ports(rule) == {("TCP", 9000)}
    pod_peers = [p["podSelector"] for p in rule["from"] if set(p) == {"podSelector"}]
    namespace_peers = [p for p in rule["from"] if set(p) == {"namespaceSelector"}]
    assert len(pod_peers) + len(namespace_peers) == len(rule["from"])
    setup = _find(dev, "Job", "minio-setup")["spec"]["template"]["metadata"]["labels"]
    for labels in (_training_pod_labels(built), setup):
        assert any(_selects(selector, labels) for selector in pod_peers)
    assert not any(_selects(selector, {"app": "somebody-else"}) for selector in pod_peers)
    assert [p["namespaceSelector"] for p in namespace_peers] == [
        {"matchLabels": {"trainpipe.dev/storage-access": "true"}}
    ]


# --- examples: rendered by trainpipe itself -------------------------------------------------


# The prod examples' settings; keep in sync with GPU_SETTINGS in manifests/examples/regenerate.sh.
GPU_SETTINGS = [
    "job.gpus=1",
    "train.nproc_per_node=1",  # one process per GPU
    "job.image=ghcr.io/trainpipe/trainpipe:0.1.0-cuda",
    "job.node_selector={trainpipe.dev/node-pool: gpu}",
    "job.tolerations=[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
    "job.priority_class=trainpipe-training",
]


@pytest.mark.parametrize(
    ("path", "argv"),
    [
        ("examples/pytorchjob.yaml", ["job", "render"]),
        ("examples/katib-experiment.yaml", ["tune", "render-katib"]),
        ("overlays/prod/examples/pytorchjob.yaml", ["job", "render"]),
        ("overlays/prod/examples/katib-experiment.yaml", ["tune", "render-katib"]),
    ],
)
def test_examples_equal_a_fresh_render(
    path: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from trainpipe.cli import main

    config = REPO_ROOT / "pipelines" / "configs" / "digits.yaml"
    settings = GPU_SETTINGS if path.startswith("overlays/prod") else []
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    assert main([*argv, "--config", str(config), *overrides]) == 0
    fresh = load_yaml_documents(capsys.readouterr().out)
    committed = load_yaml_documents((MANIFESTS / path).read_text())
    if committed != fresh:
        diff = difflib.unified_diff(
            yaml.safe_dump_all(committed, width=1000).splitlines(),
            yaml.safe_dump_all(fresh, width=1000).splitlines(),
            "committed",
            "rendered",
            lineterm="",
        )
        pytest.fail(
            f"manifests/{path} is stale: run manifests/examples/regenerate.sh\n"
            + "\n".join(list(diff)[:40])
        )


# --- monitoring -----------------------------------------------------------------------------

_PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_PROMQL_KEYWORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        word = match.group()
        if text[match.end() :].lstrip().startswith("(") or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def _contract_problems(names: set[str], allowed_extra: frozenset[str] = frozenset()) -> set[str]:
    allowed = CONTRACT_METRICS | allowed_extra
    allowed |= {f"{h}{s}" for h in CONTRACT_HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
    return names - allowed


def test_promql_metric_names_finds_what_a_query_selects() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (run, le) (rate(trainpipe_x_bucket{run=~"a|b"}[5m])))'
        " / on (run) group_left max without (rank) (other_metric offset 1h) > 1e3"
    )
    assert promql_metric_names(expr) == {"trainpipe_x_bucket", "other_metric"}
    assert (
        _contract_problems({"trainpipe_train_step_seconds_bucket", "trainpipe_train_loss"}) == set()
    )
    assert _contract_problems({"trainpipe_train_loss_bucket"}) == {"trainpipe_train_loss_bucket"}


def test_podmonitor_scrapes_the_training_pods(built: dict[str, list[dict[str, Any]]]) -> None:
    monitor = _find(built["monitoring"], "PodMonitor")["spec"]
    assert _selects(monitor["selector"], _training_pod_labels(built))
    assert monitor["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    endpoints = monitor["podMetricsEndpoints"]
    # Local rank 0 serves on the port named metrics, local rank N on metrics-N.
    assert [e["port"] for e in endpoints] == ["metrics", *(f"metrics-{n}" for n in range(1, 8))]
    assert all(e["honorLabels"] is True and e["path"] == "/metrics" for e in endpoints)
    job = _find(built["examples"], "PyTorchJob")
    ports = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    named = {p["name"] for p in ports["ports"]}
    assert "metrics" in named, "training pods expose no container port named metrics"
    assert named - {"pytorchjob-port"} <= {e["port"] for e in endpoints}
    # ...and the NetworkPolicy lets Prometheus reach every one of them.
    policy = _find(built["base"], "NetworkPolicy", "trainpipe-training")["spec"]
    (scrape,) = policy["ingress"][1]["ports"]
    for port in ports["ports"]:
        if port["name"] != "pytorchjob-port":
            assert scrape["port"] <= port["containerPort"] <= scrape["endPort"], port


def _rules(built: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    groups = _find(built["monitoring"], "PrometheusRule")["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_cover_failures_stalls_nan_anomalies_and_starvation(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    rules = {rule["alert"]: rule for rule in _rules(built)}
    assert set(rules) == {
        "TrainpipeJobFailed",
        "TrainpipeTrainingStalled",
        "TrainpipeNonFiniteLoss",
        "TrainpipeAnomaly",
        "TrainpipeDataLoaderStarvation",
    }
    uses = {name: promql_metric_names(rule["expr"]) for name, rule in rules.items()}
    assert uses["TrainpipeJobFailed"] == {OPERATOR_FAILED_JOBS}
    assert 'job_namespace="trainpipe"' in rules["TrainpipeJobFailed"]["expr"]
    assert uses["TrainpipeTrainingStalled"] == {"trainpipe_train_last_step_timestamp_seconds"}
    assert "time() -" in rules["TrainpipeTrainingStalled"]["expr"]
    assert uses["TrainpipeNonFiniteLoss"] == {"trainpipe_train_nonfinite_total"}
    assert uses["TrainpipeAnomaly"] == {"trainpipe_anomalies_total"}
    assert "kind" in rules["TrainpipeAnomaly"]["expr"]
    assert "trainpipe_dataloader_wait_seconds_sum" in uses["TrainpipeDataLoaderStarvation"]
    for name, names in uses.items():
        assert not _contract_problems(names, frozenset({OPERATOR_FAILED_JOBS})), name
        assert rules[name]["labels"]["severity"] in {"warning", "critical"}
        assert rules[name]["annotations"]["summary"]


def _promtool_check(
    groups: list[dict[str, Any]], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: install the Debian package 'prometheus' to check rules")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))
    return subprocess.run(
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alert_rules_pass_promtool(built: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    groups = _find(built["monitoring"], "PrometheusRule")["spec"]["groups"]
    result = _promtool_check(groups, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules(built))} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    groups = [{"name": "g", "rules": [{"alert": "A", "expr": "sum by (run (x)"}]}]
    assert _promtool_check(groups, tmp_path).returncode != 0


def test_grafana_dashboard_uses_only_contract_metrics(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    config_map = _find(built["monitoring"], "ConfigMap", "trainpipe-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (document,) = config_map["data"].values()
    dashboard = json.loads(document)
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, expr
        assert not _contract_problems(names), expr
        used |= names
    # Every contract metric has a panel.
    bare = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    assert bare >= CONTRACT_METRICS | CONTRACT_HISTOGRAMS
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            metric = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])
            assert metric and not _contract_problems({metric[1]}), variable["definition"]


# --- GitOps and the scheduled run -----------------------------------------------------------


def test_argocd_syncs_the_prod_overlay_automatically(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    app = _find(built["gitops"], "Application")
    assert app["metadata"]["namespace"] == "argocd"
    spec = app["spec"]
    assert spec["source"]["repoURL"] == "https://github.com/trainpipe/trainpipe.git"
    assert spec["source"]["targetRevision"] == "main"
    assert (REPO_ROOT / spec["source"]["path"] / "kustomization.yaml").is_file()
    assert spec["source"]["path"] == "manifests/overlays/prod"
    assert spec["destination"]["namespace"] == NAMESPACE
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]


def test_the_scheduled_run_submits_the_pipeline_weekly(
    built: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from trainpipe.config import load_config

    prod = built["overlays/prod"]
    cron = _find(prod, "CronJob", "trainpipe-scheduled-training")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert len(cron["schedule"].split()) == 5
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert [*container["command"], *container["args"]] == [
        "trainpipe",
        "submit",
        "--host",
        "$(KFP_HOST)",
        "--experiment",
        "scheduled",
        "--config",
        "/etc/trainpipe/config.yaml",
    ]
    (env_source,) = container["envFrom"]
    host = _find(prod, "ConfigMap", env_source["configMapRef"]["name"])["data"]["KFP_HOST"]
    assert host.startswith("http")
    # The real CLI accepts the command line (the kubelet expands $(KFP_HOST) from the env).
    from trainpipe.cli import build_parser

    argv = [arg.replace("$(KFP_HOST)", host) for arg in container["args"]]
    parsed = build_parser().parse_args([container["command"][1], *argv])
    assert (parsed.host, parsed.experiment) == (host, "scheduled")
    account = pod["serviceAccountName"]
    assert _find(prod, "ServiceAccount", account).get("automountServiceAccountToken", True)

    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/trainpipe")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    data = _find(prod, "ConfigMap", volume["configMap"]["name"])["data"]
    (tmp_path / "config.yaml").write_text(data["config.yaml"])
    config = load_config(tmp_path / "config.yaml")
    assert config.train.backend == "pytorchjob"
    assert config.registry.uri.startswith(f"minio://{BUCKET}/")
    classes = {o["metadata"]["name"] for o in prod if o["kind"] == "PriorityClass"}
    assert config.job.priority_class in classes


# --- no secret values anywhere --------------------------------------------------------------

# "token" but not "tokens" (max_tokens is a model setting, not a credential).
_SECRETISH = re.compile(r"password|passwd|secret|token(?!s)|access[_-]?key|private[_-]?key", re.I)


def _harmless(value: str) -> bool:
    return value in SECRET_NAMES or value.startswith("$") or value.lower() in {"true", "false"}


def secret_values(node: Any, where: str = "") -> list[str]:
    """Paths in a parsed manifest where a secret-looking key holds a literal value.

    Keys like ``password``/``secret``/``token``/``accessKey`` with a string value, env entries
    ``{name: AWS_SECRET_ACCESS_KEY, value: ...}``, and the same inside JSON-encoded strings.
    References by name (``secretName``, ``secretKeyRef``) and known Secret names are fine.
    """
    found: list[str] = []
    if isinstance(node, dict):
        name, value = node.get("name"), node.get("value")
        named = isinstance(name, str) and bool(_SECRETISH.search(name))
        if named and isinstance(value, str) and value and not _harmless(value):
            found.append(f"{where}.{name}")
        for key, item in node.items():
            path = f"{where}.{key}"
            reference = str(key).endswith(("Name", "Ref", "name"))
            literal = isinstance(item, str) and bool(item) and not _harmless(item)
            if _SECRETISH.search(str(key)) and literal and not reference:
                found.append(path)
            found += secret_values(item, path)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += secret_values(item, f"{where}[{index}]")
    elif isinstance(node, str) and node.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            found += secret_values(json.loads(node), where)
    return found


_SECRET_ASSIGNMENT = re.compile(
    r"[\w.-]*(?:password|passwd|secret|token(?!s)|access[_-]?key|private[_-]?key)[\w.-]*"
    r"[\"']?[ \t]*[:=][ \t]*[\"']?(?P<value>[^\s\"'$,{}()\[\]]+)",
    re.I,
)


def secret_assignments(text: str) -> list[str]:
    """Literal values assigned to secret-looking keys in a text file (YAML, JSON, shell, docs)."""
    return [
        m.group(0) for m in _SECRET_ASSIGNMENT.finditer(text) if not _harmless(m.group("value"))
    ]


def test_no_rendered_object_holds_a_secret_value(built: dict[str, list[dict[str, Any]]]) -> None:
    for name, objects in built.items():
        for obj in objects:
            if obj["kind"] == "Secret":
                assert not obj.get("data") and not obj.get("stringData"), f"{name}: {obj}"
            assert not secret_values(obj), f"{name}: {_object_name(obj)}"


def test_no_file_in_manifests_holds_a_secret_value() -> None:
    files = [p for p in MANIFESTS.rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        assert not secret_assignments(path.read_text()), path


def test_the_secret_scans_catch_literal_credentials() -> None:
    env = [{"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI"}]
    assert secret_values({"spec": {"env": env}}) == [".spec.env[0].AWS_SECRET_ACCESS_KEY"]
    assert secret_values({"stringData": {"password": "hunter22"}}) == [".stringData.password"]
    assert secret_values({"env": '{"accessKey": "AKIAIOSFODNN7"}'}) == [".env.accessKey"]
    assert not secret_values({"secretKeyRef": {"name": "trainpipe-s3-credentials"}})
    assert not secret_values({"secretName": "anything", "automountServiceAccountToken": False})
    assert secret_assignments("MINIO_ROOT_PASSWORD=minioadmin\n") == [
        "MINIO_ROOT_PASSWORD=minioadmin"
    ]
    assert secret_assignments('  "secret_key": "abc123"') == ['secret_key": "abc123']
    assert not secret_assignments('--from-literal=AWS_SECRET_ACCESS_KEY="$(openssl rand -hex 32)"')
    assert not secret_assignments("secretKeyRef:\n  name: trainpipe-s3-credentials\n")
    assert not secret_assignments('"max_tokens": 64')
    assert secret_assignments("api_token: 0123abcd") == ["api_token: 0123abcd"]


# --- the Kubeflow Trainer v2.3 runtime and TrainJobs ----------------------------------------

TRAINJOB_CRD = "trainer.kubeflow.org_trainjobs.yaml"
RUNTIME_CRD = "trainer.kubeflow.org_clustertrainingruntimes.yaml"


def _cluster_jobs() -> tuple[dict[str, Any], dict[str, Any]]:
    """A multi-node GPU run's TrainJob and PyTorchJob, rendered from one config."""
    from trainpipe.config import RunConfig
    from trainpipe.launch.render import render_pytorchjob, render_trainjob
    from trainpipe.launch.spec import job_spec_from_config

    config = RunConfig.from_dict(
        {
            "name": "digits",
            "data": {"source": "builtin:digits"},
            "train": {"nnodes": 2, "nproc_per_node": 2},
            "job": {
                "gpus": 2,
                "node_selector": {"trainpipe.dev/node-pool": "gpu"},
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                "priority_class": "trainpipe-training",
                "queue_name": "team-a",
            },
        }
    )
    spec = job_spec_from_config(
        config, name="trainpipe-digits-train-0123456789", args=[], env={"TRAINPIPE_X": "1"}
    )
    return render_trainjob(spec), render_pytorchjob(spec)


def test_the_runtime_validates_against_the_official_crd(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    from trainpipe.config import JobConfig
    from trainpipe.launch.render import (
        TRAINJOB_CONTAINER,
        TRAINJOB_TARGET_JOB,
        TRAINPIPE_RUNTIME,
        TRAINPIPE_RUNTIME_PRIORITY_CLASS,
    )

    runtime = _find(built["trainer"], "ClusterTrainingRuntime", TRAINPIPE_RUNTIME)
    validate_custom_resource(runtime, crd_path(RUNTIME_CRD))
    (job,) = runtime_job_templates(runtime)
    validate_objects([job])  # the Job template inside, strictly, as a batch/v1 Job
    assert JobConfig().runtime == TRAINPIPE_RUNTIME
    # v2.3 has no mlPolicy.torch.numProcPerNode: the TrainJob's trainer.numProcPerNode sets it.
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    (replicated,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert replicated["name"] == TRAINJOB_TARGET_JOB
    pod = replicated["template"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == [TRAINJOB_CONTAINER]
    # What a TrainJob cannot set: the priority class (the renderer knows which) and the ports.
    assert pod["priorityClassName"] == TRAINPIPE_RUNTIME_PRIORITY_CLASS
    assert _find(built["base"], "PriorityClass", TRAINPIPE_RUNTIME_PRIORITY_CLASS)["value"] > 0


def test_trainjob_pods_get_what_pytorchjob_pods_get(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    """The runtime with the TrainJob applied, as Trainer builds it, against the PyTorchJob."""
    trainjob, pytorchjob = _cluster_jobs()
    runtime = _find(built["trainer"], "ClusterTrainingRuntime")
    merged = pod_template(trainjob, runtime, "node")
    master = pytorchjob["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    assert merged["metadata"] == master["metadata"]  # labels and the Istio opt-out
    for key in ("serviceAccountName", "nodeSelector", "tolerations", "priorityClassName"):
        assert merged["spec"][key] == master["spec"][key], key
    assert merged["spec"]["volumes"] == master["spec"]["volumes"]
    assert merged["spec"]["securityContext"]["runAsNonRoot"] is True
    (ours,) = merged["spec"]["containers"]
    (theirs,) = master["spec"]["containers"]
    for key in ("image", "command", "resources", "volumeMounts", "securityContext"):
        assert ours[key] == theirs[key], key
    assert theirs["env"] == [e for e in ours["env"] if "value" in e]
    # envFrom in the PyTorchJob, key references to the same ConfigMap and Secret in the TrainJob.
    sources = {(k, v["name"]) for ref in theirs["envFrom"] for k, v in ref.items()}
    refs = {
        (kind.replace("KeyRef", "Ref"), ref["name"])
        for e in ours["env"]
        for kind, ref in e.get("valueFrom", {}).items()
    }
    storage = {("configMapRef", "trainpipe-storage"), ("secretRef", "trainpipe-s3-credentials")}
    assert refs == sources == storage
    metrics = [p for p in theirs["ports"] if p["name"] != "pytorchjob-port"]
    assert metrics and all(port in ours["ports"] for port in metrics)
    metadata = {"name": "trainpipe-digits-node-0-0", "namespace": NAMESPACE, **merged["metadata"]}
    validate_objects(
        [{"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": merged["spec"]}]
    )
    # ...so the NetworkPolicies and the PodMonitor select TrainJob pods too.
    labels = merged["metadata"]["labels"]
    policy = _find(built["base"], "NetworkPolicy", "trainpipe-training")["spec"]
    assert _selects(policy["podSelector"], labels)
    (minio_rule,) = _find(built["overlays/dev"], "NetworkPolicy", "minio")["spec"]["ingress"]
    peers = [peer["podSelector"] for peer in minio_rule["from"] if set(peer) == {"podSelector"}]
    assert any(_selects(selector, labels) for selector in peers)
    monitor = _find(built["monitoring"], "PodMonitor")["spec"]
    assert _selects(monitor["selector"], labels)
    named = {p["name"]: p["containerPort"] for p in ours["ports"]}
    assert named == {e["port"]: 9400 + i for i, e in enumerate(monitor["podMetricsEndpoints"])}


def test_trainjob_runtime_patches_pass_the_trainer_webhook(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    trainjob, _ = _cluster_jobs()
    runtime = _find(built["trainer"], "ClusterTrainingRuntime")
    assert webhook_problems(trainjob, runtime) == []
    (patch,) = trainjob["spec"]["runtimePatches"]
    assert is_domain_prefixed_path(patch["manager"])
    # The checks can fail: env on the node container, an unknown container, a bare manager.
    bad = copy.deepcopy(trainjob)
    (bad_patch,) = bad["spec"]["runtimePatches"]
    bad_patch["manager"] = "launcher"
    (node,) = bad_patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]
    pod["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    pod["spec"]["containers"].append({"name": "sidecar"})
    pod["metadata"]["name"] = "renamed"
    problems = "\n".join(webhook_problems(bad, runtime))
    assert "'launcher': not a domain-prefixed path" in problems
    assert "env of container 'node'" in problems
    assert "containers 'sidecar' is not in the runtime" in problems
    assert "labels and annotations only, got ['name']" in problems


def test_trainjobs_use_the_trainpipe_runtime_by_default(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    from trainpipe.config import RunConfig
    from trainpipe.launch.render import render_trainjob
    from trainpipe.launch.spec import job_spec_from_config

    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    runtime = _find(built["trainer"], "ClusterTrainingRuntime")
    assert config.job.runtime == runtime["metadata"]["name"]
    trainjob = render_trainjob(job_spec_from_config(config, name="tp-r1", args=[], env={}))
    validate_custom_resource(trainjob, crd_path(TRAINJOB_CRD))
    assert trainjob["spec"]["runtimeRef"]["name"] == "trainpipe-torch"
    assert webhook_problems(trainjob, runtime) == []
    merged = pod_template(trainjob, runtime, "node")
    assert [c["name"] for c in merged["spec"]["containers"]] == ["node"]
    assert merged["spec"]["serviceAccountName"] == config.job.service_account


# --- CEL rules, list maps and immutable fields ------------------------------------------------


def test_cel_rules_and_list_map_keys_are_checked() -> None:
    trainjob, _ = _cluster_jobs()
    validate_custom_resource(trainjob, crd_path(TRAINJOB_CRD))
    broken = copy.deepcopy(trainjob)
    broken["spec"]["trainer"]["numProcPerNode"] = 0
    broken["spec"]["trainer"]["env"].append({"name": "TRAINPIPE_X", "value": "2"})
    broken["spec"]["runtimePatches"].append({"manager": "trainpipe.dev/launcher"})
    broken["spec"]["managedBy"] = "somebody/else"
    broken["metadata"]["name"] = "9-lives"
    with pytest.raises(ManifestValidationError) as excinfo:
        validate_custom_resource(broken, crd_path(TRAINJOB_CRD))
    message = str(excinfo.value)
    assert "numProcPerNode must be greater than or equal to 1" in message
    assert "spec.trainer.env." in message and 'duplicate entry {"name": "TRAINPIPE_X"}' in message
    assert 'duplicate entry {"manager": "trainpipe.dev/launcher"}' in message
    assert "ManagedBy must be trainer.kubeflow.org/trainjob-controller" in message
    assert "metadata.name must match RFC 1035 DNS label format" in message
    # A runtime with two ML policies breaks the runtime CRD's rule.
    runtime = yaml.safe_load((MANIFESTS / "trainer" / "clustertrainingruntime.yaml").read_text())
    runtime["spec"]["mlPolicy"]["mpi"] = {}
    with pytest.raises(ManifestValidationError, match="Only one of the policy can be configured"):
        validate_custom_resource(runtime, crd_path(RUNTIME_CRD))


def test_a_kueue_patch_beside_ours_keeps_every_immutable_field() -> None:
    """Kueue adds its own runtime patch to a suspended TrainJob; the list is keyed by manager,
    so trainpipe's entry, and every field the CRD makes immutable, stay as rendered."""
    trainjob, _ = _cluster_jobs()
    kueue = copy.deepcopy(trainjob)
    kueue["spec"]["suspend"] = True
    kueue["spec"]["runtimePatches"].append(
        {
            "manager": "kueue.x-k8s.io/manager",
            "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                "name": "node",
                "template": {"spec": {"template": {"spec": {
                    "nodeSelector": {"cloud.example.com/flavor": "h100"},
                    "schedulingGates": [{"name": "kueue.x-k8s.io/admission"}],
                }}}},
            }]}}},
        }
    )  # fmt: skip
    validate_custom_resource(kueue, crd_path(TRAINJOB_CRD), old=trainjob)
    # Changing trainpipe's own entry (or the trainer) after creation is refused.
    changed = copy.deepcopy(kueue)
    (node,) = changed["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"
    ]
    node["template"]["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    changed["spec"]["trainer"]["numNodes"] = 3
    with pytest.raises(ManifestValidationError) as excinfo:
        validate_custom_resource(changed, crd_path(TRAINJOB_CRD), old=trainjob)
    message = str(excinfo.value)
    assert "serviceAccountName: field is immutable" in message
    assert "spec.trainer: field is immutable" in message


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("spec", {"podSpecOverrides": []}),  # Trainer v2.0-2.1
        ("spec", {"labels": {"a": "b"}}),  # removed in v2.2
        ("container", {"envFrom": [{"configMapRef": {"name": "trainpipe-storage"}}]}),
        ("container", {"ports": [{"containerPort": 9400}]}),
        ("pod", {"priorityClassName": "trainpipe-training"}),
    ],
)
def test_fields_trainer_v23_lacks_fail_inside_runtime_patches_too(
    where: str, field: dict[str, Any]
) -> None:
    trainjob, _ = _cluster_jobs()
    (node,) = trainjob["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"
    ]
    pod = node["template"]["spec"]["template"]["spec"]
    target = {"spec": trainjob["spec"], "pod": pod, "container": pod["containers"][0]}[where]
    target.update(field)
    with pytest.raises(ManifestValidationError, match=f"'{next(iter(field))}' was unexpected"):
        validate_custom_resource(trainjob, crd_path(TRAINJOB_CRD))


# --- the vendored CRDs --------------------------------------------------------------------------

VENDORED = sorted(p.name for p in VENDORED_CRDS.glob("*.yaml"))


def test_every_crd_the_tests_use_is_vendored_with_its_origin() -> None:
    used = {*CRD_FILES.values(), "trainer.kubeflow.org_optimizationjobs.yaml"}
    assert sorted(used) == VENDORED
    readme = (VENDORED_CRDS / "README.md").read_text()
    for name in VENDORED:
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
        assert "Apache-2.0" in row and "manifests/" in row, row


def test_validation_runs_without_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no shared/ beside the repository (a plain clone, GitHub CI), nothing skips."""
    import k8s_validation

    monkeypatch.setattr(k8s_validation, "SHARED_CRDS", tmp_path / "no-shared" / "crds")
    assert all(k8s_validation.shared_crd_path(name) is None for name in VENDORED)
    trainjob, pytorchjob = _cluster_jobs()
    validate_custom_resource(trainjob, k8s_validation.crd_path(TRAINJOB_CRD))
    validate_custom_resource(pytorchjob, k8s_validation.crd_path("kubeflow.org_pytorchjobs.yaml"))
    for name in VENDORED:
        assert k8s_validation.crd_path(name).parent == VENDORED_CRDS
    with pytest.raises(
        FileNotFoundError, match=r"no vendored CRD 'x\.yaml'.*tests/crds/README\.md"
    ):
        k8s_validation.crd_path("x.yaml")


def test_every_vendored_crd_compiles_with_its_cel_rules() -> None:
    counts = {name: compile_crd(VENDORED_CRDS / name) for name in VENDORED}
    assert counts["trainer.kubeflow.org_trainjobs.yaml"] > 10
    assert counts["trainer.kubeflow.org_optimizationjobs.yaml"] > 10
    assert counts["kubeflow.org_experiments.yaml"] == 0  # an open schema


@pytest.mark.parametrize("name", VENDORED)
def test_vendored_crds_equal_the_shared_ones(name: str) -> None:
    shared = shared_crd_path(name)
    if shared is None:
        pytest.skip(f"no shared/crds/{name} beside the repository to compare with")
    assert (VENDORED_CRDS / name).read_bytes() == shared.read_bytes(), (
        f"tests/crds/{name} differs from {shared}: copy the new file over and update "
        "tests/crds/README.md"
    )


def test_trainjob_pods_are_retried_for_the_codes_the_local_backend_retries(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    """The runtime's podFailurePolicy fails the job on exactly the exit codes that
    :func:`~trainpipe.launch.diagnose.retryable` does not retry (the ``ExitCode`` rule)."""
    from trainpipe.launch.diagnose import retryable

    runtime = _find(built["trainer"], "ClusterTrainingRuntime")
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    job = node["template"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # a podFailurePolicy needs it
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["operator"] == "In"
    assert rule["onExitCodes"]["containerName"] == "node"
    fails = set(rule["onExitCodes"]["values"])
    assert fails == {code for code in range(1, 256) if not retryable([code])}
    assert job["backoffLimit"] >= 1

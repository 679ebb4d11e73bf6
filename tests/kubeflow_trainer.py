"""What Kubeflow Trainer v2.3 does with a TrainJob and its runtime, for offline tests.

The CRD schema says which fields a TrainJob may carry; these two say what Trainer then makes of
them, after kubeflow/trainer v2.3.0:

* :func:`webhook_problems`: what the TrainJob admission webhook refuses in ``spec.runtimePatches``
  given the runtime (``pkg/runtime/framework/plugins/jobset/jobset.go``, ``Validate``), plus the
  API's documented rule that patch metadata holds labels and annotations only
  (``pkg/apis/trainer/v1alpha1/trainjob_types.go``).
* :func:`pod_template`: the pod template of one replicated job once Trainer has applied the
  ``trainer`` section and every runtime patch, in order, as strategic merge patches to the
  runtime's template (``pkg/runtime/core/trainingruntime.go``, ``mergeRuntimePatches``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

#: Containers whose env only the Trainer or Initializer APIs may set, never a runtime patch.
ENV_RESERVED_CONTAINERS = ("dataset-initializer", "model-initializer", "node")
#: The label that marks the runtime job the ``trainer`` section applies to.
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"

# apimachinery's IsDomainPrefixedPath: a DNS-1123 subdomain, "/", an HTTP path.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HTTP_PATH = re.compile(r"^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")
# The merge keys of the Kubernetes (and JobSet) list fields a runtime patch can reach; any other
# list (tolerations, command, ...) is replaced whole, as a strategic merge patch does.
_MERGE_KEYS = {
    "replicatedJobs": "name",
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "schedulingGates": "name",
    "ports": "containerPort",
}


def is_domain_prefixed_path(value: str) -> bool:
    """Whether ``value`` is a domain-prefixed path such as ``acme.io/foo``."""
    host, slash, path = value.partition("/")
    return bool(
        slash
        and host
        and path
        and len(host) <= 253
        and _SUBDOMAIN.match(host)
        and _HTTP_PATH.match(path)
    )


def webhook_problems(trainjob: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """What Trainer's webhook (and the API's metadata rule) refuses in the job's runtime patches."""
    jobs = {
        job["name"]: job["template"]["spec"]["template"]["spec"]
        for job in runtime["spec"]["template"]["spec"]["replicatedJobs"]
    }
    problems: list[str] = []
    for index, patch in enumerate(trainjob["spec"].get("runtimePatches", [])):
        where = f"spec.runtimePatches[{index}]"
        if not is_domain_prefixed_path(patch.get("manager", "")):
            problems.append(f"{where}.manager {patch.get('manager')!r}: not a domain-prefixed path")
        template = patch.get("trainingRuntimeSpec", {}).get("template", {})
        metadata = [("template", template.get("metadata"))]
        for job_patch in template.get("spec", {}).get("replicatedJobs", []):
            name = job_patch["name"]
            job_template = job_patch.get("template", {})
            pod = job_template.get("spec", {}).get("template", {})
            metadata += [(f"job {name}", job_template.get("metadata"))]
            metadata += [(f"pods of job {name}", pod.get("metadata"))]
            if name not in jobs:
                problems.append(f"{where}: job {name!r} is not in the runtime ({sorted(jobs)})")
                continue
            pod_spec = pod.get("spec", {})
            for field in ("initContainers", "containers"):
                known = {c["name"] for c in jobs[name].get(field, [])}
                for container in pod_spec.get(field, []):
                    reserved = container["name"] in ENV_RESERVED_CONTAINERS
                    if container["name"] not in known:
                        problems.append(
                            f"{where}: {field} {container['name']!r} is not in the runtime's "
                            f"job {name!r} ({sorted(known)})"
                        )
                    elif field == "containers" and container.get("env") and reserved:
                        problems.append(
                            f"{where}: env of container {container['name']!r} can only be set "
                            "through spec.trainer (or spec.initializer)"
                        )
        for what, meta in metadata:
            extra = sorted(set(meta or {}) - {"labels", "annotations"})
            if extra:
                problems.append(
                    f"{where}: metadata of the {what} may hold labels and annotations only, "
                    f"got {extra}"
                )
    return problems


def pod_template(trainjob: dict[str, Any], runtime: dict[str, Any], job: str) -> dict[str, Any]:
    """The pod template of the runtime's job ``job`` with the TrainJob's settings applied."""
    template = copy.deepcopy(runtime["spec"]["template"])
    (replicated,) = [j for j in template["spec"]["replicatedJobs"] if j["name"] == job]
    trainer = trainjob["spec"].get("trainer", {})
    if replicated["template"].get("metadata", {}).get("labels", {}).get(ANCESTOR_LABEL) == (
        "trainer"
    ):
        for container in replicated["template"]["spec"]["template"]["spec"]["containers"]:
            if container["name"] == "node":
                _apply_trainer(container, trainer)
    for patch in trainjob["spec"].get("runtimePatches", []):
        spec_patch = patch.get("trainingRuntimeSpec", {}).get("template", {}).get("spec")
        if spec_patch:
            template["spec"] = strategic_merge(template["spec"], spec_patch)
    (replicated,) = [j for j in template["spec"]["replicatedJobs"] if j["name"] == job]
    pod: dict[str, Any] = replicated["template"]["spec"]["template"]
    return pod


def _apply_trainer(container: dict[str, Any], trainer: dict[str, Any]) -> None:
    for key in ("image", "command", "args"):
        if key in trainer:
            container[key] = copy.deepcopy(trainer[key])
    if "env" in trainer:  # upserted by name: a TrainJob's variable replaces the runtime's
        ours = {variable["name"] for variable in trainer["env"]}
        kept = [v for v in container.get("env", []) if v["name"] not in ours]
        container["env"] = kept + copy.deepcopy(trainer["env"])
    resources = trainer.get("resourcesPerNode")
    if resources:
        merged = container.setdefault("resources", {})
        for kind in ("requests", "limits"):
            if kind in resources:
                merged[kind] = {**merged.get(kind, {}), **resources[kind]}


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """``patch`` applied to ``base`` as a strategic merge patch over the fields above."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value, key) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in _MERGE_KEYS:
        return _merge_list(base, patch, _MERGE_KEYS[field], field)
    return copy.deepcopy(patch)


def _merge_list(
    base: list[dict[str, Any]], patch: list[dict[str, Any]], key: str, field: str = ""
) -> list[dict[str, Any]]:
    merged = copy.deepcopy(base)
    for item in patch:
        for index, existing in enumerate(merged):
            if existing.get(key) == item.get(key):
                merged[index] = strategic_merge(existing, item, field)
                break
        else:
            merged.append(copy.deepcopy(item))
    return merged

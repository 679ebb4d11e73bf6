"""Read the fields the launcher needs from pods in the Kubernetes API's JSON shape (dicts)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "container_of",
    "exit_code",
    "main_status",
    "pod_name",
    "pod_uid",
    "restart_count",
    "short_pod_name",
    "termination_reason",
]


def pod_name(pod: dict[str, Any]) -> str:
    """``metadata.name`` ("" when absent)."""
    return str((pod.get("metadata") or {}).get("name", ""))


def pod_uid(pod: dict[str, Any]) -> str:
    """``metadata.uid``: a pod recreated under the same name gets a new one ("" when absent)."""
    return str((pod.get("metadata") or {}).get("uid", ""))


def short_pod_name(pod: str, job: str) -> str:
    """The pod's name without its job's prefix: ``master-0`` for ``<job>-master-0``."""
    return pod[len(job) + 1 :] if pod.startswith(job + "-") and len(pod) > len(job) + 1 else pod


def _container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return [s for s in statuses if isinstance(s, dict)]


def main_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    """The status of ``container``, or of the pod's only container; None when unknown."""
    statuses = _container_statuses(pod)
    for status in statuses:
        if status.get("name") == container:
            return status
    return statuses[0] if len(statuses) == 1 else None


def container_of(pod: dict[str, Any], container: str) -> str | None:
    """``container`` when the pod has it, else None (the API picks the only container)."""
    names = [c.get("name") for c in ((pod.get("spec") or {}).get("containers") or [])]
    names += [s.get("name") for s in _container_statuses(pod)]
    return container if container in names else None


def restart_count(pod: dict[str, Any], container: str) -> int:
    """How many times the kubelet restarted ``container`` in this pod."""
    status = main_status(pod, container)
    return int((status or {}).get("restartCount") or 0)


def termination_reason(pod: dict[str, Any], container: str) -> str:
    """Why the kubelet saw ``container`` end (``OOMKilled``, ``Error``, ``Completed``), from its
    current or, after a restart, its last state; empty while it runs."""
    status = main_status(pod, container) or {}
    for state in ("state", "lastState"):
        terminated = (status.get(state) or {}).get("terminated") or {}
        if terminated.get("reason"):
            return str(terminated["reason"])
    return ""


def exit_code(pod: dict[str, Any], container: str) -> int | None:
    """The exit code of ``container`` once it terminated, else None."""
    status = main_status(pod, container)
    terminated = ((status or {}).get("state") or {}).get("terminated") or {}
    code = terminated.get("exitCode")
    return int(code) if code is not None else None

"""The few Kubernetes API calls the job launcher makes, behind a protocol a test fake can satisfy.

:class:`KubeApi` is everything :class:`~trainpipe.launch.pytorchjob.KubeflowJobBackend` needs:
create/get/delete one namespaced custom object, list pods by label selector, read a pod's log
(whole, or the last seconds of it with timestamps, of the current or the previous container).
Objects go in and come out as plain dicts in the API's JSON shape (camelCase keys).

:class:`KubernetesApi` adapts the official ``kubernetes`` client to it and translates errors:

* ``get`` of a missing object returns None; ``delete`` of one is a no-op;
* ``create`` of a name that exists (409) returns False instead of raising;
* 403 raises :class:`~trainpipe.errors.LaunchError` naming the missing RBAC verb and resource;
* anything else raises :class:`KubeApiError` (a LaunchError) carrying the HTTP status.

Only :func:`kube_clients_from_env` builds real clients; everything else receives them.
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol

from trainpipe.errors import LaunchError

__all__ = [
    "LAUNCHER_SERVICE_ACCOUNT",
    "KubeApi",
    "KubeApiError",
    "KubernetesApi",
    "kube_clients_from_env",
]

#: The ServiceAccount that manifests/base grants the launcher's RBAC to.
LAUNCHER_SERVICE_ACCOUNT = "trainpipe-launcher"


class KubeApiError(LaunchError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """True for failures worth retrying: no response, 429 or a 5xx server error."""
        return self.status is None or self.status == 429 or self.status >= 500


class KubeApi(Protocol):
    """The Kubernetes calls the launcher makes; objects are dicts in the API's JSON shape."""

    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any]
    ) -> bool:
        """Create ``body``; True when created, False when an object of that name exists (409)."""
        ...

    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> dict[str, Any] | None:
        """The object ``name``, or None when it does not exist (404)."""
        ...

    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None:
        """Delete ``name`` and, in the background, what it owns; a missing object is fine."""
        ...

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The pods matching ``label_selector`` (e.g. ``a=b,c=d``) in ``namespace``."""
        ...

    def read_pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        *,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
    ) -> str:
        """A pod's container log; "" while it has not started yet (or has no previous one).

        ``since_seconds`` keeps only the lines stamped in the last that many seconds (by the
        node's clock); ``timestamps`` prefixes each line with its RFC 3339 time and a space;
        ``previous`` reads the container that ran before the last restart.
        """
        ...


class KubernetesApi:
    """:class:`KubeApi` over ``kubernetes.client.CustomObjectsApi`` and ``CoreV1Api``.

    Both clients are injected; :func:`kube_clients_from_env` builds real ones.
    ``request_timeout`` bounds every call in seconds, so a dead API server cannot hang the
    launcher.
    """

    def __init__(self, custom: Any, core: Any, *, request_timeout: float = 30.0) -> None:
        self.custom = custom
        self.core = core
        self.request_timeout = request_timeout

    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any]
    ) -> bool:
        """Create ``body``; False when an object of that name already exists (409).

        Field validation is strict: a field the installed CRD does not know (an older operator)
        is refused rather than silently dropped.
        """
        name = str(body.get("metadata", {}).get("name", ""))
        try:
            self.custom.create_namespaced_custom_object(
                group,
                version,
                namespace,
                plural,
                body,
                field_validation="Strict",
                _request_timeout=self.request_timeout,
            )
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            if _status(exc) == 409:
                return False
            raise _translate(exc, "create", plural, group, namespace, name) from exc
        return True

    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> dict[str, Any] | None:
        """The object ``name`` as a dict, or None when it does not exist."""
        try:
            obj = self.custom.get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=self.request_timeout
            )
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            if _status(exc) == 404:
                return None
            raise _translate(exc, "get", plural, group, namespace, name) from exc
        return dict(obj)

    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None:
        """Delete ``name`` with background propagation (its pods go too); 404 is fine."""
        try:
            self.custom.delete_namespaced_custom_object(
                group,
                version,
                namespace,
                plural,
                name,
                propagation_policy="Background",
                _request_timeout=self.request_timeout,
            )
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            if _status(exc) == 404:
                return
            raise _translate(exc, "delete", plural, group, namespace, name) from exc

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The pods matching ``label_selector``, as API-shaped dicts."""
        try:
            pods = self.core.list_namespaced_pod(
                namespace, label_selector=label_selector, _request_timeout=self.request_timeout
            )
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            raise _translate(exc, "list", "pods", "", namespace, label_selector) from exc
        return [_to_dict(self.core, pod) for pod in (getattr(pods, "items", None) or [])]

    def read_pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        *,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
    ) -> str:
        """The pod's log (see :meth:`KubeApi.read_pod_log`); "" while the container is still
        waiting to start or, with ``previous``, when it never restarted (400/404)."""
        kwargs: dict[str, Any] = {"_request_timeout": self.request_timeout}
        if container:
            kwargs["container"] = container
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        if timestamps:
            kwargs["timestamps"] = True
        if previous:
            kwargs["previous"] = True
        try:
            text = self.core.read_namespaced_pod_log(name, namespace, **kwargs)
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            if _status(exc) in (400, 404):
                return ""
            raise _translate(exc, "get", "pods/log", "", namespace, name) from exc
        if isinstance(text, bytes):
            return text.decode("utf-8", errors="replace")
        return str(text or "")


def kube_clients_from_env(*, request_timeout: float = 30.0) -> KubernetesApi:
    """A :class:`KubernetesApi` for this pod's ServiceAccount, else for ``$KUBECONFIG``.

    Raises:
        LaunchError: the ``kubernetes`` package is missing, or no configuration is found.
    """
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise LaunchError(
            "the pytorchjob/trainjob backends need the 'kubernetes' Python package; install it "
            "(pip install 'kubernetes>=30') or use train.backend=local"
        ) from exc
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            # Read KUBECONFIG now: the client's default path is frozen at its import time.
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
        except (config.ConfigException, OSError) as exc:
            raise LaunchError(
                "cannot configure a Kubernetes client: not running in a pod with a "
                f"ServiceAccount and no usable kubeconfig ({exc}); run the step in the cluster "
                f"as ServiceAccount {LAUNCHER_SERVICE_ACCOUNT} or set KUBECONFIG"
            ) from exc
    api_client = client.ApiClient()
    return KubernetesApi(
        client.CustomObjectsApi(api_client),
        client.CoreV1Api(api_client),
        request_timeout=request_timeout,
    )


# --- error translation -----------------------------------------------------------------------


def _is_api_failure(exc: BaseException) -> bool:
    """True for an API error response or a transport failure, False for a programming error."""
    if hasattr(exc, "status") and hasattr(exc, "reason"):  # kubernetes.client.ApiException
        return True
    return isinstance(exc, OSError) or type(exc).__module__.startswith("urllib3")


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a ``kubernetes.client.ApiException`` (None for other errors)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and status > 0 else None


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        return str(message or body)[:500]
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:500]


def _translate(
    exc: BaseException, verb: str, plural: str, group: str, namespace: str, target: str
) -> LaunchError:
    status = _status(exc)
    resource = f"{plural}.{group}" if group else plural
    what = f"{verb} {resource} {target!r}" if target else f"{verb} {resource}"
    if status == 403:
        group_text = f'apiGroups ["{group}"]' if group else 'apiGroups [""] (core)'
        return LaunchError(
            f"forbidden: cannot {what} in namespace {namespace!r}: the launcher's "
            f"ServiceAccount lacks RBAC verb {verb!r} on resource {plural!r} ({group_text}). "
            f"Apply manifests/base (Role/RoleBinding trainpipe-launcher grants it to "
            f"ServiceAccount {LAUNCHER_SERVICE_ACCOUNT} in namespace {namespace!r}) and run the "
            f"train step as that ServiceAccount. Server said: {_server_message(exc)}"
        )
    if status == 401:
        return KubeApiError(
            f"unauthorized: cannot {what} in namespace {namespace!r}: the Kubernetes "
            "credentials were rejected (expired token or wrong kubeconfig context); "
            f"refresh them. Server said: {_server_message(exc)}",
            status=status,
        )
    if status is None:
        return KubeApiError(
            f"cannot {what} in namespace {namespace!r}: the Kubernetes API did not answer "
            f"({type(exc).__name__}: {exc}); check the API server is reachable",
            status=None,
        )
    hint = {
        404: " (is the CRD installed? kubectl get crd " + resource + ")",
        422: " (the object does not validate against the installed CRD version)",
    }.get(status, "")
    return KubeApiError(
        f"cannot {what} in namespace {namespace!r}: HTTP {status}{hint}. "
        f"Server said: {_server_message(exc)}",
        status=status,
    )


def _to_dict(core: Any, obj: Any) -> dict[str, Any]:
    """An API model object (or a dict) as an API-shaped dict with camelCase keys."""
    if isinstance(obj, dict):
        return obj
    api_client = getattr(core, "api_client", None)
    if api_client is not None and hasattr(api_client, "sanitize_for_serialization"):
        result = api_client.sanitize_for_serialization(obj)
        if isinstance(result, dict):
            return result
    raise LaunchError(f"unexpected pod object from the Kubernetes client: {type(obj).__name__}")

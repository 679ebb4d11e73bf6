"""A recorded-contract fake of :class:`trainpipe.launch.kube.KubeApi` and a fake clock.

:class:`FakeKubeApi` behaves like :class:`~trainpipe.launch.kube.KubernetesApi` over a cluster
with the training operator installed, without any network:

* custom objects live in a dict; ``create`` of an existing name returns False (the adapter's
  409 semantics) and leaves the stored object alone; ``get`` of a missing one returns None;
  ``delete`` removes the object and, like owner-reference garbage collection, its pods;
* creating a PyTorchJob or TrainJob creates its pods the way the operator names and labels them
  (``<job>-master-0``/``<job>-worker-N`` with ``training.kubeflow.org/*`` labels, or JobSet
  pods with ``jobset.sigs.k8s.io/*`` labels), Pending until the job runs;
* :meth:`FakeKubeApi.script` scripts a job's lifecycle: every ``get`` of the job applies the
  next :class:`Step` (a condition becoming True, log lines printed, containers terminating),
  so "after n polls" is exactly n GETs;
* pod logs behave like the kubelet's: every line is stamped with the node's clock (the fake
  clock plus ``node_skew`` seconds, plus 1 ns per write so that writes at one fake time stay
  ordered; the lines printed together share one stamp, as on a coarse clock), ``since_seconds``
  keeps the lines stamped in the last that many seconds of the node's clock, ``timestamps``
  prefixes each line with its RFC 3339 stamp (with nanoseconds) and a space, the continuation
  of a partial line gets no prefix, and ``previous`` reads the container that ran before the
  last restart; every read's size in bytes is recorded in ``log_reads``;
* every call is recorded in ``calls`` as ``(method, kwargs)``; :meth:`FakeKubeApi.fail_next`
  makes the next call of a method raise, and :meth:`FakeKubeApi.before_next` runs an action
  just before it (a pod restarting between two calls of the launcher), to test error paths.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainpipe.launch.kube import KubeApiError

EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
TERMINAL = {"Succeeded", "Failed", "Complete"}


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` instantly."""
        self.sleeps.append(seconds)
        self.now += seconds

    def timestamp(self) -> str:
        """The current fake time as an RFC 3339 string (what the API server writes)."""
        return (EPOCH + dt.timedelta(seconds=self.now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_stamp(nanoseconds: int) -> str:
    """A node time (ns after EPOCH) as the kubelet prints it: RFC 3339 with 9 fraction digits."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = EPOCH + dt.timedelta(seconds=seconds)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction:09d}Z"


@dataclass(frozen=True)
class LogEntry:
    """One write to a container's log: a whole line (ending in a newline) or a partial one."""

    stamp: int
    """Node time of the write, in ns after EPOCH."""
    text: str


@dataclass(frozen=True)
class LogRead:
    """One ``read_pod_log`` call and the size of its answer."""

    pod: str
    since_seconds: int | None
    timestamps: bool
    previous: bool
    size: int
    """Bytes returned."""


@dataclass
class Step:
    """What happens to a scripted job at one poll (one GET of the job object).

    ``logs`` and ``exit_codes`` are keyed by pod: a full pod name or the part after
    ``<job>-`` (``"master-0"``, ``"worker-1"``, ``"node-0-0"``).
    """

    condition: str | None = None
    """Condition type that becomes True (``Created``, ``Running``, ``Succeeded``, ...)."""
    reason: str = ""
    message: str = ""
    logs: dict[str, list[str]] = field(default_factory=dict)
    """Lines each pod prints during this step (appended to its log with newlines)."""
    partial: dict[str, str] = field(default_factory=dict)
    """Text a pod prints without a trailing newline (a line still being written)."""
    exit_codes: dict[str, int] = field(default_factory=dict)
    """Pods whose training container terminates now, with its exit code."""
    termination_reasons: dict[str, str] = field(default_factory=dict)
    """The kubelet's reason for a pod in ``exit_codes`` (default ``Completed`` or ``Error``;
    ``OOMKilled`` for the memory cgroup's kill)."""
    restarts: list[str] = field(default_factory=list)
    """Pods whose container restarts now (restartCount + 1, the log starts over)."""
    last_words: dict[str, list[str]] = field(default_factory=dict)
    """Lines a restarting pod prints just before its restart in this step."""


@dataclass
class _Script:
    steps: list[Step]
    applied: int = 0


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term not in labels:
            return False
    return True


class FakeKubeApi:
    """An in-memory Kubernetes API with a scripted training operator; see the module doc."""

    def __init__(self, clock: FakeClock | None = None, *, node_skew: float = 0.0) -> None:
        self.clock = clock or FakeClock()
        self.node_skew = node_skew
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str], list[LogEntry]] = defaultdict(list)
        """The current container's log of each pod, as written."""
        self.previous_logs: dict[tuple[str, str], list[LogEntry]] = {}
        """The log of the container that ran before the last restart."""
        self.log_reads: list[LogRead] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._scripts: dict[tuple[str, str], _Script] = {}
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self._actions: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._uid = 0
        self._writes = 0

    # --- test controls -----------------------------------------------------------------------

    def script(self, name: str, steps: list[Step], *, namespace: str = "trainpipe") -> None:
        """Script job ``name``: its n-th GET (after it exists) applies ``steps[n-1]``."""
        self._scripts[(namespace, name)] = _Script(list(steps))

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        self._failures[method].extend([error] * times)

    def before_next(self, method: str, action: Callable[[], None]) -> None:
        """Run ``action`` when ``method`` is next called, before it answers."""
        self._actions[method].append(action)

    def print(self, job: str, pod: str, lines: list[str], namespace: str = "trainpipe") -> None:
        """Pod ``pod`` of ``job`` (a name or ``master-0``-style key) prints ``lines`` now."""
        obj = self._job(job, namespace)
        self._print(namespace, self._resolve(obj, pod), lines)

    def restart(self, job: str, pod: str, namespace: str = "trainpipe") -> None:
        """The container of pod ``pod`` of ``job`` restarts now."""
        obj = self._job(job, namespace)
        self._restart(namespace, self._resolve(obj, pod))

    def log_text(self, pod: str, namespace: str = "trainpipe") -> str:
        """The pod's current log as plain text (no recording), for assertions."""
        return "".join(entry.text for entry in self.logs.get((namespace, pod), []))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The kwargs of every recorded call of ``method``, in order."""
        return [kwargs for name, kwargs in self.calls if name == method]

    def steps_applied(self, name: str, namespace: str = "trainpipe") -> int:
        """How many scripted steps job ``name`` went through."""
        return self._scripts[(namespace, name)].applied

    def get_object(
        self, plural: str, name: str, namespace: str = "trainpipe"
    ) -> dict[str, Any] | None:
        """The stored object (no recording, no step), for assertions."""
        for (_, ns, pl, nm), obj in self.objects.items():
            if (ns, pl, nm) == (namespace, plural, name):
                return obj
        return None

    # --- KubeApi -----------------------------------------------------------------------------

    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any]
    ) -> bool:
        """Store ``body``; False (nothing changes) when the name exists, like a 409."""
        name = body["metadata"]["name"]
        self._record(
            "create_custom_object",
            group=group,
            version=version,
            namespace=namespace,
            plural=plural,
            name=name,
            body=copy.deepcopy(body),
        )
        key = (group, namespace, plural, name)
        if key in self.objects:
            return False
        assert body["apiVersion"] == f"{group}/{version}", body["apiVersion"]
        assert body["metadata"].get("namespace", namespace) == namespace
        obj = copy.deepcopy(body)
        self._uid += 1
        obj["metadata"].update(
            uid=f"00000000-0000-0000-0000-{self._uid:012d}",
            creationTimestamp=self.clock.timestamp(),
            resourceVersion=str(self._uid),
        )
        self.objects[key] = obj
        for pod in _pods_for(obj):
            self.pods[(namespace, pod["metadata"]["name"])] = pod
        return True

    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> dict[str, Any] | None:
        """The object (after applying its next scripted step), or None when absent."""
        self._record(
            "get_custom_object",
            group=group,
            version=version,
            namespace=namespace,
            plural=plural,
            name=name,
        )
        obj = self.objects.get((group, namespace, plural, name))
        if obj is None:
            return None
        script = self._scripts.get((namespace, name))
        if script is not None and script.applied < len(script.steps):
            self._apply(obj, script.steps[script.applied])
            script.applied += 1
        return copy.deepcopy(obj)

    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None:
        """Remove the object and its pods; a missing object is fine."""
        self._record(
            "delete_custom_object",
            group=group,
            version=version,
            namespace=namespace,
            plural=plural,
            name=name,
        )
        obj = self.objects.pop((group, namespace, plural, name), None)
        if obj is None:
            return
        for key in [k for k, p in self.pods.items() if _owned_by(p, obj)]:
            del self.pods[key]
            self.logs.pop(key, None)
            self.previous_logs.pop(key, None)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Pods in ``namespace`` matching the equality-based ``label_selector``."""
        self._record("list_pods", namespace=namespace, label_selector=label_selector)
        return [
            copy.deepcopy(pod)
            for (ns, _), pod in sorted(self.pods.items())
            if ns == namespace and _selector_matches(label_selector, pod["metadata"]["labels"])
        ]

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
        """The pod's log, like the kubelet serves it (see the module doc); "" for a missing pod,
        a container not started yet, or ``previous`` before any restart."""
        self._record(
            "read_pod_log",
            name=name,
            namespace=namespace,
            container=container,
            since_seconds=since_seconds,
            timestamps=timestamps,
            previous=previous,
        )
        if since_seconds is not None:
            assert since_seconds > 0, "the API server rejects sinceSeconds < 1"
        pod = self.pods.get((namespace, name))
        text = ""
        if pod is not None:
            names = [c["name"] for c in pod["spec"]["containers"]]
            if container is not None and container not in names:
                raise KubeApiError(f"container {container} is not valid for pod {name}", status=400)
            if previous:
                entries = self.previous_logs.get((namespace, name), [])
            elif "waiting" in pod["status"]["containerStatuses"][0]["state"]:
                entries = []
            else:
                entries = self.logs[(namespace, name)]
            text = _render(entries, since=self._since(since_seconds), timestamps=timestamps)
        self.log_reads.append(
            LogRead(name, since_seconds, timestamps, previous, len(text.encode("utf-8")))
        )
        return text

    # --- internals ---------------------------------------------------------------------------

    def _record(self, method: str, **kwargs: Any) -> None:
        self.calls.append((method, kwargs))
        if self._actions[method]:
            self._actions[method].pop(0)()
        if self._failures[method]:
            raise self._failures[method].pop(0)

    def _node_now(self) -> int:
        return round((self.clock.now + self.node_skew) * 1_000_000_000)

    def _since(self, since_seconds: int | None) -> int | None:
        return None if since_seconds is None else self._node_now() - since_seconds * 1_000_000_000

    def _stamp(self) -> int:
        self._writes += 1
        return self._node_now() + self._writes

    def _print(self, namespace: str, pod: str, lines: list[str]) -> None:
        stamp = self._stamp()
        self.logs[(namespace, pod)] += [LogEntry(stamp, line + "\n") for line in lines]

    def _restart(self, namespace: str, pod: str) -> None:
        status = self.pods[(namespace, pod)]["status"]["containerStatuses"][0]
        status["restartCount"] += 1
        self.previous_logs[(namespace, pod)] = self.logs.pop((namespace, pod), [])
        _set_running(self.pods[(namespace, pod)], self.clock.timestamp(), force=True)

    def _job(self, name: str, namespace: str) -> dict[str, Any]:
        for (_, ns, _, nm), obj in self.objects.items():
            if (ns, nm) == (namespace, name):
                return obj
        raise AssertionError(f"no job {name} in namespace {namespace}")

    def _apply(self, obj: dict[str, Any], step: Step) -> None:
        namespace = obj["metadata"]["namespace"]
        now = self.clock.timestamp()
        if step.condition:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            exclusive = {"Running", "Restarting"} | TERMINAL
            if step.condition in exclusive:
                for cond in conditions:
                    if cond["type"] in exclusive and cond["type"] != step.condition:
                        cond["status"] = "False"
            for cond in conditions:
                if cond["type"] == step.condition:
                    cond.update(
                        status="True",
                        reason=step.reason,
                        message=step.message,
                        lastTransitionTime=now,
                        lastUpdateTime=now,
                    )
                    break
            else:
                conditions.append(
                    {
                        "type": step.condition,
                        "status": "True",
                        "reason": step.reason or step.condition,
                        "message": step.message,
                        "lastTransitionTime": now,
                        "lastUpdateTime": now,
                    }
                )
            if step.condition == "Running":
                for pod in self._job_pods(obj):
                    _set_running(pod, now)
        for key, lines in step.last_words.items():
            self._print(namespace, self._resolve(obj, key), lines)
        for key in step.restarts:
            self._restart(namespace, self._resolve(obj, key))
        for key, lines in step.logs.items():
            self._print(namespace, self._resolve(obj, key), lines)
        for key, text in step.partial.items():
            self.logs[(namespace, self._resolve(obj, key))].append(LogEntry(self._stamp(), text))
        for key, code in step.exit_codes.items():
            pod = self.pods[(namespace, self._resolve(obj, key))]
            pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
            pod["status"]["containerStatuses"][0].update(
                ready=False,
                state={
                    "terminated": {
                        "exitCode": code,
                        "reason": step.termination_reasons.get(
                            key, "Completed" if code == 0 else "Error"
                        ),
                        "startedAt": now,
                        "finishedAt": now,
                    }
                },
            )

    def _job_pods(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return [p for p in self.pods.values() if _owned_by(p, obj)]

    def _resolve(self, obj: dict[str, Any], key: str) -> str:
        names = sorted(p["metadata"]["name"] for p in self._job_pods(obj))
        if key in names:
            return key
        prefix = f"{obj['metadata']['name']}-{key}"
        matches = [n for n in names if n == prefix or n.startswith(prefix + "-")]
        assert len(matches) == 1, f"step names pod {key!r}; the job's pods are {names}"
        return matches[0]


def _render(entries: list[LogEntry], *, since: int | None, timestamps: bool) -> str:
    """The log as the kubelet prints it: entries stamped before ``since`` left out; with
    ``timestamps``, each line prefixed, but not the continuation of a partial write."""
    out = []
    new_line = True
    for entry in entries:
        if since is None or entry.stamp >= since:
            out.append(
                f"{log_stamp(entry.stamp)} {entry.text}" if timestamps and new_line else entry.text
            )
        new_line = entry.text.endswith("\n")
    return "".join(out)


def _owned_by(pod: dict[str, Any], obj: dict[str, Any]) -> bool:
    return any(ref["uid"] == obj["metadata"]["uid"] for ref in pod["metadata"]["ownerReferences"])


def _set_running(pod: dict[str, Any], now: str, *, force: bool = False) -> None:
    status = pod["status"]
    if "terminated" in status["containerStatuses"][0]["state"] and not force:
        return
    status["phase"] = "Running"
    status["containerStatuses"][0].update(ready=True, state={"running": {"startedAt": now}})


def _pod(
    obj: dict[str, Any], name: str, labels: dict[str, str], template: dict[str, Any]
) -> dict[str, Any]:
    container = template["spec"]["containers"][0]["name"] if template else "node"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "uid": f"{obj['metadata']['uid']}-{name}",
            "namespace": obj["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": obj["apiVersion"],
                    "kind": obj["kind"],
                    "name": obj["metadata"]["name"],
                    "uid": obj["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(template.get("spec"))
        if template
        else {"containers": [{"name": container}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": container,
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
            ],
        },
    }


def _pods_for(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pods the operator would create for ``obj``, named and labelled like the real ones."""
    job = obj["metadata"]["name"]
    if obj["kind"] == "PyTorchJob":
        pods = []
        for rtype, replica in obj["spec"]["pytorchReplicaSpecs"].items():
            for index in range(replica["replicas"]):
                labels = {
                    "training.kubeflow.org/operator-name": "pytorchjob-controller",
                    "training.kubeflow.org/job-name": job,
                    "training.kubeflow.org/replica-type": rtype.lower(),
                    "training.kubeflow.org/replica-index": str(index),
                }
                if rtype == "Master":
                    labels["training.kubeflow.org/job-role"] = "master"
                name = f"{job}-{rtype.lower()}-{index}"
                pods.append(_pod(obj, name, labels, replica["template"]))
        return pods
    if obj["kind"] == "TrainJob":
        pods = []
        for index in range(obj["spec"]["trainer"].get("numNodes", 1)):
            labels = {
                "jobset.sigs.k8s.io/jobset-name": job,
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "jobset.sigs.k8s.io/job-index": "0",
                "batch.kubernetes.io/job-completion-index": str(index),
                "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
            }
            name = f"{job}-node-0-{index}-{'abcdefghij'[index % 10] * 5}"
            pods.append(_pod(obj, name, labels, {}))
        return pods
    return []

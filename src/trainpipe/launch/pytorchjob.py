"""The cluster job backend: run a JobSpec as a Kubeflow PyTorchJob (v1) or TrainJob (Trainer v2).

:class:`KubeflowJobBackend` supervises a job the way a KFP launcher should:

* **idempotent**: the job name is deterministic (:func:`~trainpipe.launch.spec.job_name`), so
  the backend first GETs it and only CREATEs it when absent. A launcher that restarts (pod
  evicted, step retried) resumes watching the job it created instead of starting a second one.
* **bounded**: it polls the job's ``status.conditions`` every ``poll_interval`` seconds until a
  terminal condition (PyTorchJob ``Succeeded``/``Failed``, TrainJob ``Complete``/``Failed``) or
  until ``spec.timeout_seconds``; on timeout it deletes the job (unless ``cleanup`` is
  ``never``) and raises :class:`~trainpipe.errors.TrainingError`.
* **observable**: the lead pod's log (the PyTorchJob master, or rank 0) is followed
  incrementally (:class:`~trainpipe.launch.pod_logs.PodLogFollower`: each poll reads only the
  new stretch of it) and streamed line by line to ``log``, each line once; at the end every pod's
  full log is copied to ``log_store`` under ``logs/<job>/<pod>.log`` so it outlives pod cleanup.
* **tidy**: the job is deleted per ``spec.cleanup`` (``always``, ``on_success``, ``never``).

The Kubernetes API, the clock and ``sleep`` are injected, so tests run against a fake in
milliseconds; :func:`~trainpipe.launch.kube.kube_clients_from_env` builds the real API.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from trainpipe.console import print_line
from trainpipe.errors import LaunchError, StorageError, TrainingError
from trainpipe.launch.base import JobResult, LogSink
from trainpipe.launch.kube import KubeApi, KubeApiError
from trainpipe.launch.pod_logs import PodLogFollower
from trainpipe.launch.pods import (
    container_of,
    exit_code,
    pod_name,
    short_pod_name,
    termination_reason,
)
from trainpipe.launch.render import (
    PYTORCHJOB_CONTAINER,
    TRAINJOB_CONTAINER,
    TRAINJOB_TARGET_JOB,
    render_pytorchjob,
    render_trainjob,
)
from trainpipe.launch.spec import JobSpec
from trainpipe.storage.base import ObjectStore

__all__ = ["CLEANUP_POLICIES", "JobKind", "KubeflowJobBackend", "KubeflowKind", "kind_info"]

JobKind = Literal["pytorchjob", "trainjob"]
CLEANUP_POLICIES = ("always", "on_success", "never")

_ERROR_LINE = re.compile(r"trainpipe\.errors\.(\w+Error): (.*)")
_T = TypeVar("_T")


@dataclass(frozen=True)
class KubeflowKind:
    """How to address, render and watch one kind of Kubeflow training job."""

    kind: str
    group: str
    version: str
    plural: str
    render: Callable[[JobSpec], dict[str, Any]]
    succeeded: str
    """Condition type that, when True, means the job succeeded."""
    failed: str
    """Condition type that, when True, means the job failed."""
    container: str
    """Name of the training container in the job's pods."""

    def pods_selector(self, name: str) -> str:
        """Label selector of every pod of job ``name``."""
        if self.kind == "PyTorchJob":
            return f"training.kubeflow.org/job-name={name}"
        return f"jobset.sigs.k8s.io/jobset-name={name}"

    def lead_selector(self, spec: JobSpec) -> str:
        """Label selector of the pod whose log is streamed: the master (or rank-0 node)."""
        if self.kind == "PyTorchJob":
            base = self.pods_selector(spec.name)
            if spec.elastic:  # elastic jobs have Workers only; worker-0 hosts the rendezvous
                return (
                    f"{base},training.kubeflow.org/replica-type=worker,"
                    "training.kubeflow.org/replica-index=0"
                )
            return f"{base},training.kubeflow.org/replica-type=master"
        return (
            f"{self.pods_selector(spec.name)},"
            f"jobset.sigs.k8s.io/replicatedjob-name={TRAINJOB_TARGET_JOB},"
            "batch.kubernetes.io/job-completion-index=0"
        )


_KINDS: dict[str, KubeflowKind] = {
    "pytorchjob": KubeflowKind(
        kind="PyTorchJob",
        group="kubeflow.org",
        version="v1",
        plural="pytorchjobs",
        render=render_pytorchjob,
        succeeded="Succeeded",
        failed="Failed",
        container=PYTORCHJOB_CONTAINER,
    ),
    "trainjob": KubeflowKind(
        kind="TrainJob",
        group="trainer.kubeflow.org",
        version="v1alpha1",
        plural="trainjobs",
        render=render_trainjob,
        succeeded="Complete",
        failed="Failed",
        container=TRAINJOB_CONTAINER,
    ),
}


def kind_info(kind: JobKind) -> KubeflowKind:
    """The addressing and watch rules of ``kind`` (``pytorchjob`` or ``trainjob``)."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise LaunchError(
            f"unknown Kubeflow job kind {kind!r}; use one of {sorted(_KINDS)}"
        ) from None


@dataclass
class _Outcome:
    succeeded: bool
    condition: dict[str, Any]
    stopped: bool = False


class KubeflowJobBackend:
    """Runs a JobSpec as a PyTorchJob or a TrainJob and supervises it to completion.

    Args:
        api: the Kubernetes calls (:class:`~trainpipe.launch.kube.KubernetesApi` or a fake).
        kind: ``"pytorchjob"`` (training-operator v1) or ``"trainjob"`` (Trainer v2).
        log_store: where every pod's full log is copied at the end (``logs/<job>/<pod>.log``);
            None keeps logs only in the cluster.
        poll_interval: seconds between two status polls.
        clock: monotonic seconds (injectable for tests).
        sleep: waits the given seconds (injectable for tests).
        max_api_failures: consecutive transient API failures (no answer, 429, 5xx) tolerated
            before giving up with a LaunchError; the job itself is left alone.
    """

    def __init__(
        self,
        api: KubeApi,
        *,
        kind: JobKind = "pytorchjob",
        log_store: ObjectStore | None = None,
        poll_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_api_failures: int = 5,
    ) -> None:
        if poll_interval <= 0:
            raise LaunchError(f"poll_interval must be > 0 seconds, got {poll_interval}")
        if max_api_failures < 1:
            raise LaunchError(f"max_api_failures must be >= 1, got {max_api_failures}")
        self.api = api
        self.kind = kind
        self.info = kind_info(kind)
        self.log_store = log_store
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        self.max_api_failures = max_api_failures

    def render(self, spec: JobSpec) -> dict[str, Any]:
        """The custom resource this backend would create for ``spec``."""
        return self.info.render(spec)

    def run(
        self,
        spec: JobSpec,
        *,
        log: LogSink = print_line,
        stop: threading.Event | None = None,
    ) -> JobResult:
        """Create (or resume) the job of ``spec``, stream its logs, wait, collect and clean up.

        Once ``stop`` is set (a pruned tuning trial), the job is deleted, whatever
        ``job.cleanup`` says, and the result is ``stopped``.

        Returns a :class:`JobResult`; a failed job is ``succeeded=False`` with ``error`` set to
        the failure condition's message and the last ``trainpipe.errors.*Error`` log line.

        Raises:
            LaunchError: the spec cannot be rendered, RBAC forbids a call, or the API stays
                unreachable for ``max_api_failures`` polls.
            TrainingError: the job did not finish within ``spec.timeout_seconds``, or it
                vanished while being watched.
        """
        if spec.cleanup not in CLEANUP_POLICIES:
            raise LaunchError(
                f"job {spec.name} in namespace {spec.namespace}: unknown cleanup policy "
                f"{spec.cleanup!r}; set job.cleanup to one of {', '.join(CLEANUP_POLICIES)}"
            )
        body = self.render(spec)
        started = self.clock()
        where = f"{self.info.kind} {spec.name} in namespace {spec.namespace}"
        self._ensure_job(spec, body, where, log)

        streamer = _LogStreamer(
            self.api, spec, self.info.lead_selector(spec), self.info.container, log, self.clock
        )
        outcome = self._watch(spec, where, started + spec.timeout_seconds, streamer, log, stop)
        streamer.poll(final=True, warn=log)
        logs, exit_codes, reasons = self._collect_pods(spec, log)
        seconds = self.clock() - started

        if outcome is None:
            deleted = spec.cleanup != "never"
            if deleted:
                self._delete(spec, where, log)
            fate = "it was deleted" if deleted else "it was left running (cleanup=never)"
            raise TrainingError(
                f"{where} did not finish within train.timeout_seconds={spec.timeout_seconds} "
                f"(timeout); {fate}; raise the timeout, train for fewer epochs, or check the "
                "pods with "
                f"kubectl -n {spec.namespace} describe pods -l {self.info.pods_selector(spec.name)}"
            )

        if (
            outcome.stopped
            or spec.cleanup == "always"
            or (spec.cleanup == "on_success" and outcome.succeeded)
        ):
            self._delete(spec, where, log)
        result = JobResult(
            name=spec.name,
            succeeded=outcome.succeeded,
            exit_codes=exit_codes,
            seconds=seconds,
            log_tail=[line for text in logs.values() for line in text.splitlines()[-100:]],
            reasons=reasons,
            stopped=outcome.stopped,
        )
        if outcome.stopped:
            result.error = "stopped on request"
            log(f"{where} stopped on request after {seconds:.0f}s")
        elif not outcome.succeeded:
            result.error = _failure_message(outcome.condition, streamer.errors, logs, exit_codes)
            log(f"{where} failed: {result.error}")
        else:
            log(f"{where} succeeded in {seconds:.0f}s")
        return result

    # --- lifecycle -------------------------------------------------------------------------

    def _ensure_job(self, spec: JobSpec, body: dict[str, Any], where: str, log: LogSink) -> None:
        info = self.info
        existing = self._retrying(
            lambda: self.api.get_custom_object(
                info.group, info.version, spec.namespace, info.plural, spec.name
            ),
            where,
            log,
        )
        if existing is not None:
            state = _current_state(existing)
            log(f"resuming watch of existing job {where}" + (f" ({state})" if state else ""))
            return
        created = self._retrying(
            lambda: self.api.create_custom_object(
                info.group, info.version, spec.namespace, info.plural, body
            ),
            where,
            log,
        )
        if created:
            log(f"created {where} ({spec.nnodes} node(s) x {spec.nproc_per_node} process(es))")
        else:
            log(f"resuming watch of existing job {where} (another launcher created it just now)")

    def _watch(
        self,
        spec: JobSpec,
        where: str,
        deadline: float,
        streamer: _LogStreamer,
        log: LogSink,
        stop: threading.Event | None = None,
    ) -> _Outcome | None:
        """Poll until a terminal condition (the outcome), ``stop`` (a stopped outcome) or the
        deadline (None)."""
        info = self.info
        announced: set[tuple[str, str, str]] = set()
        failures = 0
        while True:
            obj: dict[str, Any] | None
            try:
                obj = self.api.get_custom_object(
                    info.group, info.version, spec.namespace, info.plural, spec.name
                )
                failures = 0
            except KubeApiError as exc:
                if not exc.transient:
                    raise
                failures += 1
                if failures >= self.max_api_failures:
                    raise LaunchError(
                        f"lost the Kubernetes API while watching {where}: {failures} polls in "
                        f"a row failed, last: {exc}. The job was left running; re-run the step "
                        "to resume watching it"
                    ) from exc
                log(f"warning: polling {where} failed ({exc}); retrying")
            else:
                if obj is None:
                    raise TrainingError(
                        f"{where} disappeared while being watched (deleted by someone, or by "
                        "its TTL); re-run the step to start it again, and check "
                        f"kubectl -n {spec.namespace} get events"
                    )
                for condition in _true_conditions(obj):
                    key = (
                        str(condition.get("type", "")),
                        str(condition.get("reason", "")),
                        str(condition.get("lastTransitionTime", "")),
                    )
                    if key not in announced:
                        announced.add(key)
                        log(f"{where}: {_describe(condition)}")
                streamer.poll(final=False, warn=log)
                outcome = self._outcome(obj)
                if outcome is not None:
                    return outcome
            if stop is not None and stop.is_set():
                return _Outcome(False, {"type": "Stopped", "reason": "StoppedOnRequest"}, True)
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_interval)

    def _outcome(self, obj: dict[str, Any]) -> _Outcome | None:
        conditions = {str(c.get("type")): c for c in _true_conditions(obj)}
        if self.info.failed in conditions:
            return _Outcome(False, conditions[self.info.failed])
        if self.info.succeeded in conditions:
            return _Outcome(True, conditions[self.info.succeeded])
        return None

    def _collect_pods(
        self, spec: JobSpec, log: LogSink
    ) -> tuple[dict[str, str], list[int], list[str]]:
        """Every pod's full log (copied to ``log_store``), its container's exit code, and the
        termination reasons that are not a plain exit (``pod NAME: OOMKilled``)."""
        try:
            pods = self.api.list_pods(spec.namespace, self.info.pods_selector(spec.name))
        except KubeApiError as exc:
            log(f"warning: cannot list the pods of job {spec.name}: {exc}")
            return {}, [], []
        logs: dict[str, str] = {}
        exit_codes: list[int] = []
        reasons: list[str] = []
        for pod in sorted(pods, key=pod_name):
            name = pod_name(pod)
            code = exit_code(pod, self.info.container)
            if code is not None:
                exit_codes.append(code)
            reason = termination_reason(pod, self.info.container)
            if reason not in ("", "Completed", "Error"):
                reasons.append(f"pod {name}: {reason}")
            try:
                logs[name] = self.api.read_pod_log(
                    name, spec.namespace, container_of(pod, self.info.container)
                )
            except KubeApiError as exc:
                log(f"warning: cannot read the log of pod {name}: {exc}")
                continue
            if self.log_store is not None:
                key = f"logs/{spec.name}/{name}.log"
                try:
                    self.log_store.write_text(key, logs[name])
                except StorageError as exc:
                    log(f"warning: cannot copy the log of pod {name}: {exc}")
        if self.log_store is not None and logs:
            log(f"copied {len(logs)} pod log(s) to {self.log_store.uri_for(f'logs/{spec.name}')}")
        return logs, exit_codes, reasons

    def _delete(self, spec: JobSpec, where: str, log: LogSink) -> None:
        info = self.info
        try:
            self.api.delete_custom_object(
                info.group, info.version, spec.namespace, info.plural, spec.name
            )
        except LaunchError as exc:
            log(
                f"warning: cannot delete {where} ({exc}); delete it with kubectl -n "
                f"{spec.namespace} delete {info.plural}.{info.group} {spec.name}"
            )
            return
        log(f"deleted {where} (cleanup={spec.cleanup})")

    def _retrying(self, call: Callable[[], _T], where: str, log: LogSink) -> _T:
        """``call()``, retried ``max_api_failures`` times on transient API failures."""
        for attempt in range(1, self.max_api_failures + 1):
            try:
                return call()
            except KubeApiError as exc:
                if not exc.transient:
                    raise
                if attempt == self.max_api_failures:
                    raise LaunchError(
                        f"lost the Kubernetes API while starting {where}: {attempt} calls in a "
                        f"row failed, last: {exc}. Re-run the step: it resumes the job if it was "
                        "created and never creates a second one"
                    ) from exc
                log(f"warning: Kubernetes API call for {where} failed ({exc}); retrying")
                self.sleep(self.poll_interval)
        raise AssertionError("unreachable")  # pragma: no cover


class _LogStreamer:
    """Streams the lead pod(s)' log to a sink, each line once, and keeps the trainpipe errors."""

    def __init__(
        self,
        api: KubeApi,
        spec: JobSpec,
        selector: str,
        container: str,
        log: LogSink,
        clock: Callable[[], float],
    ) -> None:
        self.api = api
        self.spec = spec
        self.selector = selector
        self.log = log
        self.follower = PodLogFollower(api, spec.namespace, container, self._emit, clock)
        self.errors: list[str] = []
        self._warned = False

    def poll(self, *, final: bool, warn: LogSink) -> None:
        """Emit the new lines of the lead pod(s); ``final`` also emits a partial last line."""
        try:
            pods = self.api.list_pods(self.spec.namespace, self.selector)
            for pod in sorted(pods, key=pod_name):
                self.follower.follow(pod, final=final)
            self._warned = False
        except KubeApiError as exc:
            if not self._warned:  # one warning per streak of failures
                warn(f"warning: cannot stream the logs of job {self.spec.name}: {exc}")
                self._warned = True

    def _emit(self, pod: str, line: str) -> None:
        match = _ERROR_LINE.search(line)
        if match:
            self.errors.append(f"{match.group(1)}: {match.group(2)}")
        self.log(f"[{short_pod_name(pod, self.spec.name)}] {line}")


# --- status helpers ----------------------------------------------------------------------------


def _true_conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    return [c for c in conditions if isinstance(c, dict) and str(c.get("status")) == "True"]


def _current_state(obj: dict[str, Any]) -> str:
    conditions = _true_conditions(obj)
    return str(conditions[-1].get("type", "")) if conditions else ""


def _describe(condition: dict[str, Any]) -> str:
    text = str(condition.get("type", "?"))
    if condition.get("reason"):
        text += f" ({condition['reason']})"
    if condition.get("message"):
        text += f": {condition['message']}"
    return text


def _failure_message(
    condition: dict[str, Any], streamed: list[str], logs: dict[str, str], exit_codes: list[int]
) -> str:
    """The failure condition plus the last trainpipe error line (lead pod first, then any pod).

    Without a condition message or an error line, the pods' exit codes say what little is known.
    """
    error = streamed[-1] if streamed else ""
    if not error:
        for text in logs.values():
            for match in _ERROR_LINE.finditer(text):
                error = f"{match.group(1)}: {match.group(2).rstrip()}"
    parts = [_describe(condition)]
    if error:
        parts.append(error)
    elif not condition.get("message"):
        parts.append(f"pod exit codes {exit_codes}")
    return "; ".join(parts)

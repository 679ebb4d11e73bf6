"""KubeflowJobBackend against the recorded-contract fake, and the KubernetesApi adapter."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fake_kube import FakeClock, FakeKubeApi, Step
from k8s_validation import crd_path, validate_custom_resource
from trainpipe.errors import LaunchError, TrainingError
from trainpipe.launch.kube import KubeApiError, KubernetesApi
from trainpipe.launch.pytorchjob import JobKind, KubeflowJobBackend, kind_info
from trainpipe.launch.render import render_trainjob
from trainpipe.launch.spec import JobSpec
from trainpipe.storage.local import LocalStore

pytestmark = pytest.mark.unit

NAME = "trainpipe-run-7-train-0123456789"
NS = "trainpipe"
MASTER = f"{NAME}-master-0"
ERROR = "trainpipe.errors.TrainingError: loss diverged at epoch 3 (nan); lower train.lr"


def make_spec(**overrides: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "name": NAME,
        "args": ["--spec", "s3://bucket/spec.json"],
        "image": "ghcr.io/trainpipe/trainpipe:0.1.0-cpu",
        "nnodes": 2,
        "nproc_per_node": 2,
        "timeout_seconds": 600,
    }
    fields.update(overrides)
    return JobSpec(**fields)


class Recorder:
    """A log sink that keeps every line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def pod_lines(self, pod: str) -> list[str]:
        prefix = f"[{pod}] "
        return [line[len(prefix) :] for line in self.lines if line.startswith(prefix)]

    def text(self) -> str:
        return "\n".join(self.lines)


def backend(fake: FakeKubeApi, kind: JobKind = "pytorchjob", **kwargs: Any) -> KubeflowJobBackend:
    return KubeflowJobBackend(
        fake,
        kind=kind,
        clock=fake.clock,
        sleep=fake.clock.sleep,
        poll_interval=5,
        **kwargs,
    )


def success_steps() -> list[Step]:
    return [
        Step("Created", "PyTorchJobCreated", f"PyTorchJob {NAME} is created."),
        Step("Running", "PyTorchJobRunning", f"PyTorchJob {NAME} is running.",
             logs={"master-0": ["epoch 1 loss 0.9"], "worker-0": ["worker says hi"]}),
        Step(logs={"master-0": ["epoch 2 loss 0.5", "epoch 3 loss 0.3"]},
             partial={"master-0": "sav"}),
        Step(partial={"master-0": "ing model\n"}, exit_codes={"master-0": 0, "worker-0": 0}),
        Step("Succeeded", "PyTorchJobSucceeded", f"PyTorchJob {NAME} is successfully completed."),
    ]  # fmt: skip


def failure_steps() -> list[Step]:
    return [
        Step("Created", "PyTorchJobCreated", f"PyTorchJob {NAME} is created."),
        Step("Running", "PyTorchJobRunning", logs={"master-0": ["epoch 1 loss 0.9"]}),
        Step(logs={"master-0": ["Traceback (most recent call last):", ERROR]},
             exit_codes={"master-0": 1, "worker-0": 137}),
        Step("Failed", "PyTorchJobFailed",
             f"PyTorchJob {NAME} is failed because 1 Master replica(s) failed."),
    ]  # fmt: skip


# --- create-if-absent and resume -------------------------------------------------------------


def test_success_creates_the_rendered_job_once_and_streams_master_lines_once_in_order() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, success_steps())
    sink = Recorder()
    result = backend(fake).run(make_spec(), log=sink)

    assert result.succeeded and result.name == NAME and result.error == ""
    assert result.exit_codes == [0, 0]
    (create,) = fake.calls_to("create_custom_object")
    assert create["plural"] == "pytorchjobs" and create["group"] == "kubeflow.org"
    assert create["body"] == backend(fake).render(make_spec())
    assert sink.pod_lines("master-0") == [
        "epoch 1 loss 0.9",
        "epoch 2 loss 0.5",
        "epoch 3 loss 0.3",
        "saving model",
    ]
    assert sink.pod_lines("worker-0") == []  # only the master is streamed
    assert any("Running (PyTorchJobRunning)" in line for line in sink.lines)
    # Polled every poll_interval on the fake clock; the whole run took 4 intervals.
    assert set(fake.clock.sleeps) == {5}
    assert result.seconds == 20


def test_existing_job_is_resumed_not_created_again() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, success_steps())
    spec = make_spec()

    class LauncherKilled(Exception):
        pass

    polls = 0

    def dying_sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 2:
            raise LauncherKilled
        fake.clock.sleep(seconds)

    first = KubeflowJobBackend(fake, clock=fake.clock, sleep=dying_sleep, poll_interval=5)
    with pytest.raises(LauncherKilled):
        first.run(spec, log=Recorder())
    job = fake.get_object("pytorchjobs", NAME)
    assert job is not None and job["status"]["conditions"][-1]["type"] == "Running"

    # A new launcher process (new backend, same cluster) picks the job up where it is.
    sink = Recorder()
    result = backend(fake).run(spec, log=sink)
    assert result.succeeded
    assert len(fake.calls_to("create_custom_object")) == 1
    assert any(line.startswith("resuming watch of existing job") for line in sink.lines)
    assert sink.pod_lines("master-0")[-1] == "saving model"
    assert fake.steps_applied(NAME) == len(success_steps())


def test_create_conflict_from_a_concurrent_launcher_is_treated_as_existing() -> None:
    fake = FakeKubeApi()
    spec = make_spec()
    fake.script(NAME, success_steps())
    # Another launcher creates the job between our GET and our CREATE.
    original_get = fake.get_custom_object
    raced = False

    def racing_get(*args: Any) -> Any:
        nonlocal raced
        found = original_get(*args)
        if found is None and not raced:
            raced = True
            fake.create_custom_object("kubeflow.org", "v1", NS, "pytorchjobs",
                                      backend(fake).render(spec))  # fmt: skip
        return found

    fake.get_custom_object = racing_get  # type: ignore[method-assign,assignment]
    sink = Recorder()
    result = backend(fake).run(spec, log=sink)
    assert result.succeeded
    creates = fake.calls_to("create_custom_object")
    assert len(creates) == 2 and len(fake.objects) == 0  # second create refused; then cleaned up
    assert any("another launcher created it" in line for line in sink.lines)


def test_an_already_finished_job_returns_its_result_without_creating() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, success_steps())
    spec = make_spec(cleanup="never")
    assert backend(fake).run(spec, log=Recorder()).succeeded
    second = backend(fake).run(spec, log=Recorder())
    assert second.succeeded and len(fake.calls_to("create_custom_object")) == 1


# --- failure ---------------------------------------------------------------------------------


def test_failure_returns_condition_message_and_trainpipe_error_line() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, failure_steps())
    sink = Recorder()
    result = backend(fake).run(make_spec(), log=sink)
    assert not result.succeeded
    assert result.exit_codes == [1, 137]
    assert "is failed because 1 Master replica(s) failed" in result.error
    assert result.error.endswith("TrainingError: loss diverged at epoch 3 (nan); lower train.lr")
    assert sink.pod_lines("master-0")[-1] == ERROR
    assert any("failed:" in line and NAME in line for line in sink.lines)


def test_failure_error_line_is_found_in_a_worker_log_too() -> None:
    fake = FakeKubeApi()
    steps = failure_steps()
    steps[2] = Step(logs={"worker-0": [ERROR]}, exit_codes={"master-0": 1, "worker-0": 1})
    fake.script(NAME, steps)
    result = backend(fake).run(make_spec(), log=Recorder())
    assert "TrainingError: loss diverged" in result.error


def test_failure_without_any_message_reports_exit_codes() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Running", logs={"master-0": ["boom"]}),
        Step(exit_codes={"master-0": 3}),
        Step("Failed"),
    ])  # fmt: skip
    result = backend(fake).run(make_spec(nnodes=1), log=Recorder())
    assert not result.succeeded and result.exit_codes == [3]
    assert result.error == "Failed (Failed); pod exit codes [3]"


# --- timeout ---------------------------------------------------------------------------------


def test_timeout_deletes_the_job_and_raises() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [Step("Created"), Step("Running", logs={"master-0": ["epoch 1"]})])
    sink = Recorder()
    with pytest.raises(
        TrainingError,
        match=r"(?s)did not finish within train\.timeout_seconds=60.*timeout.*deleted",
    ):
        backend(fake).run(make_spec(timeout_seconds=60), log=sink)
    (delete,) = fake.calls_to("delete_custom_object")
    assert delete["name"] == NAME and delete["namespace"] == NS
    assert fake.get_object("pytorchjobs", NAME) is None
    assert fake.clock.now - 1000 <= 60 + 5  # bounded by the timeout plus one poll interval
    assert sink.pod_lines("master-0") == ["epoch 1"]


def test_timeout_with_cleanup_never_leaves_the_job_running() -> None:
    fake = FakeKubeApi()
    with pytest.raises(TrainingError, match="left running"):
        backend(fake).run(make_spec(timeout_seconds=30, cleanup="never"), log=Recorder())
    assert fake.calls_to("delete_custom_object") == []
    assert fake.get_object("pytorchjobs", NAME) is not None


def test_timeout_copies_pod_logs_before_deleting(tmp_path: Path) -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [Step("Running", logs={"master-0": ["still going"]})])
    store = LocalStore(tmp_path)
    with pytest.raises(TrainingError):
        backend(fake, log_store=store).run(make_spec(timeout_seconds=30), log=Recorder())
    assert store.read_text(f"logs/{NAME}/{MASTER}.log") == "still going\n"


# --- cleanup ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cleanup", "succeeds", "deleted"),
    [
        ("always", True, True),
        ("always", False, True),
        ("on_success", True, True),
        ("on_success", False, False),
        ("never", True, False),
        ("never", False, False),
    ],
)
def test_cleanup_policy(cleanup: str, succeeds: bool, deleted: bool) -> None:
    fake = FakeKubeApi()
    fake.script(NAME, success_steps() if succeeds else failure_steps())
    result = backend(fake).run(make_spec(cleanup=cleanup), log=Recorder())
    assert result.succeeded is succeeds
    assert bool(fake.calls_to("delete_custom_object")) is deleted
    assert (fake.get_object("pytorchjobs", NAME) is None) is deleted


def test_unknown_cleanup_policy_is_refused_before_anything_is_created() -> None:
    fake = FakeKubeApi()
    with pytest.raises(LaunchError, match=r"cleanup policy 'sometimes'.*always, on_success, never"):
        backend(fake).run(make_spec(cleanup="sometimes"), log=Recorder())
    assert fake.calls == []


# --- logs ------------------------------------------------------------------------------------


def test_every_pod_log_is_copied_to_the_store(tmp_path: Path) -> None:
    fake = FakeKubeApi()
    fake.script(NAME, failure_steps())
    store = LocalStore(tmp_path / "logs-store")
    backend(fake, log_store=store).run(make_spec(nnodes=3), log=Recorder())
    assert store.list(f"logs/{NAME}") == [
        f"logs/{NAME}/{NAME}-master-0.log",
        f"logs/{NAME}/{NAME}-worker-0.log",
        f"logs/{NAME}/{NAME}-worker-1.log",
    ]
    master = store.read_text(f"logs/{NAME}/{MASTER}.log")
    assert master.splitlines() == ["epoch 1 loss 0.9", "Traceback (most recent call last):", ERROR]
    # The job was kept (on_success + failure), but the logs would now survive its deletion too.
    assert fake.get_object("pytorchjobs", NAME) is not None


def test_a_restarted_container_streams_its_new_log_from_the_start() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Running", logs={"master-0": ["attempt 1 line 1", "attempt 1 line 2"]}),
        Step("Restarting", restarts=["master-0"], logs={"master-0": ["attempt 2 line 1"]}),
        Step("Running", logs={"master-0": ["attempt 2 line 2", "attempt 2 line 3"]},
             exit_codes={"master-0": 0, "worker-0": 0}),
        Step("Succeeded"),
    ])  # fmt: skip
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    lines = sink.pod_lines("master-0")
    assert [line for line in lines if "attempt" in line] == [
        "attempt 1 line 1",
        "attempt 1 line 2",
        "attempt 2 line 1",
        "attempt 2 line 2",
        "attempt 2 line 3",
    ]
    assert any("container restarted" in line for line in lines)


def long_run(polls: int, lines_per_poll: int) -> tuple[list[Step], list[str]]:
    """A job whose master prints ``lines_per_poll`` numbered lines at each of ``polls`` polls."""
    steps = [Step("Running")]
    printed: list[str] = []
    for poll in range(polls):
        lines = [f"poll {poll:03d} line {i:02d} " + "x" * 40 for i in range(lines_per_poll)]
        printed += lines
        steps.append(Step(logs={"master-0": lines}))
    steps += [Step(exit_codes={"master-0": 0, "worker-0": 0}), Step("Succeeded")]
    return steps, printed


def streaming_reads(fake: FakeKubeApi) -> list[int]:
    """Bytes of each read the log streamer made (the end-of-job copies read plain logs)."""
    return [r.size for r in fake.log_reads if r.timestamps and r.pod == MASTER]


def test_each_poll_reads_only_the_new_stretch_of_the_log() -> None:
    """Bytes per poll stay bounded by recent output while the log grows; no line is lost or
    repeated."""
    fake = FakeKubeApi()
    steps, printed = long_run(polls=60, lines_per_poll=20)
    fake.script(NAME, steps)
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    assert sink.pod_lines("master-0") == printed

    per_poll = len("".join(f"2025-01-01T00:00:00.000000000Z {line}\n" for line in printed[:20]))
    total = len("".join(line + "\n" for line in printed))
    reads = streaming_reads(fake)
    assert len(reads) >= 60
    # A poll reads back one poll interval (5 s) plus the 10 s overlap: 4 polls' output at most,
    # however long the log has grown.
    assert max(reads) <= 4 * per_poll < total / 8
    windows = [r.since_seconds for r in fake.log_reads if r.timestamps and r.pod == MASTER]
    # The first read takes the whole (new) log, the final one comes at the last poll's instant.
    assert windows[0] is None and windows[-1] == 10
    assert windows[1:-1] == [15] * (len(windows) - 2)


@pytest.mark.parametrize("skew", [-3600.5, 0.25, 86_400.0])
def test_a_clock_skew_between_launcher_and_node_loses_and_repeats_nothing(skew: float) -> None:
    fake = FakeKubeApi(node_skew=skew)
    steps, printed = long_run(polls=12, lines_per_poll=3)
    steps[5:5] = [
        Step(partial={"master-0": "half a li"}),
        Step(),
        Step(partial={"master-0": "ne at last\n"}),
    ]
    fake.script(NAME, steps)
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    expected = [*printed[:12], "half a line at last", *printed[12:]]
    assert sink.pod_lines("master-0") == expected


def test_a_failed_log_read_is_read_again_at_the_next_poll() -> None:
    fake = FakeKubeApi()
    steps, printed = long_run(polls=10, lines_per_poll=2)
    fake.script(NAME, steps)
    sink = Recorder()

    class FailMidway(Recorder):
        def __call__(self, line: str) -> None:
            sink(line)
            if line.endswith("poll 003 line 01 " + "x" * 40):
                fake.fail_next("read_pod_log", KubeApiError("HTTP 500", status=500), times=2)

    assert backend(fake).run(make_spec(), log=FailMidway()).succeeded
    assert sink.pod_lines("master-0") == printed
    assert sum("cannot stream the logs" in line for line in sink.lines) == 1


def test_the_last_lines_before_a_restart_come_from_the_previous_container() -> None:
    """What the container printed between the last poll and its crash is read with previous."""
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Running", logs={"master-0": ["attempt 1 line 1"]}),
        Step("Restarting", last_words={"master-0": ["attempt 1 last words", ERROR]},
             restarts=["master-0"], logs={"master-0": ["attempt 2 line 1"]}),
        Step("Running", logs={"master-0": ["attempt 2 line 2"]}),
        Step(exit_codes={"master-0": 0, "worker-0": 0}),
        Step("Succeeded"),
    ])  # fmt: skip
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    assert sink.pod_lines("master-0") == [
        "attempt 1 line 1",
        "attempt 1 last words",
        ERROR,
        "--- container restarted (restart 1) ---",
        "attempt 2 line 1",
        "attempt 2 line 2",
    ]
    assert any(r.previous for r in fake.log_reads)


def test_a_restart_between_listing_the_pods_and_reading_the_log_repeats_nothing() -> None:
    """The race the launcher cannot see: the read after the list already hit the new container.

    Every line still appears exactly once; only the old container's last words come after the
    new container's first line, since that line was already shown when the restart was seen.
    """
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Running", logs={"master-0": ["attempt 1 line 1"]}),
        Step(),
        Step(logs={"master-0": ["attempt 2 line 2"]}),
        Step(exit_codes={"master-0": 0, "worker-0": 0}),
        Step("Succeeded"),
    ])  # fmt: skip

    def crash_and_restart() -> None:
        fake.print(NAME, "master-0", ["attempt 1 last words"])
        fake.restart(NAME, "master-0")
        fake.print(NAME, "master-0", ["attempt 2 line 1"])

    class RestartBeforeSecondRead(Recorder):
        def __call__(self, line: str) -> None:
            super().__call__(line)
            if line.endswith("attempt 1 line 1"):
                fake.before_next("read_pod_log", crash_and_restart)

    sink = RestartBeforeSecondRead()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    lines = [line for line in sink.pod_lines("master-0") if "attempt" in line]
    assert sorted(lines) == [
        "attempt 1 last words",
        "attempt 1 line 1",
        "attempt 2 line 1",
        "attempt 2 line 2",
    ]
    assert lines[0] == "attempt 1 line 1" and lines[-1] == "attempt 2 line 2"


def test_two_restarts_between_polls_say_that_a_log_is_gone() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Running", logs={"master-0": ["attempt 1"]}),
        Step(restarts=["master-0", "master-0"], logs={"master-0": ["attempt 3"]}),
        Step(exit_codes={"master-0": 0, "worker-0": 0}),
        Step("Succeeded"),
    ])  # fmt: skip
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    assert sink.pod_lines("master-0") == [
        "attempt 1",
        "--- container restarted (restart 2; the logs of 1 attempt(s) in between are gone) ---",
        "attempt 3",
    ]


def test_transient_api_failures_are_retried_then_reported() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, success_steps())
    fake.fail_next("get_custom_object", KubeApiError("HTTP 503", status=503), times=1)
    fake.fail_next("list_pods", KubeApiError("HTTP 500", status=500), times=2)
    sink = Recorder()
    assert backend(fake).run(make_spec(), log=sink).succeeded
    assert any(line.startswith("warning:") for line in sink.lines)

    # Starting: the API never answers; nothing was created, and a re-run is safe.
    fake = FakeKubeApi()
    fake.fail_next("get_custom_object", KubeApiError("no answer", status=None), times=3)
    with pytest.raises(LaunchError, match=r"lost the Kubernetes API while starting.*Re-run"):
        backend(fake, max_api_failures=3).run(make_spec(), log=Recorder())
    assert len(fake.calls_to("get_custom_object")) == 3 and fake.objects == {}

    # Watching: the API goes away after the job started; the job is left running.
    fake = FakeKubeApi()
    fake.script(NAME, [Step("Running")])

    class FailAfterStart(Recorder):
        def __call__(self, line: str) -> None:
            super().__call__(line)
            if line.startswith("created "):
                fake.fail_next("get_custom_object", KubeApiError("HTTP 502", status=502), times=3)

    with pytest.raises(LaunchError, match=r"lost the Kubernetes API while watching.*left running"):
        backend(fake, max_api_failures=3).run(make_spec(), log=FailAfterStart())
    assert fake.calls_to("delete_custom_object") == []
    assert fake.get_object("pytorchjobs", NAME) is not None


def test_rbac_errors_are_not_retried() -> None:
    fake = FakeKubeApi()
    fake.fail_next("create_custom_object", LaunchError("forbidden: cannot create pytorchjobs"))
    with pytest.raises(LaunchError, match="forbidden"):
        backend(fake).run(make_spec(), log=Recorder())
    assert len(fake.calls_to("create_custom_object")) == 1


def test_a_job_deleted_while_watched_is_a_training_error() -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [Step("Running")])
    original_sleep = fake.clock.sleep

    def deleting_sleep(seconds: float) -> None:
        fake.objects.clear()
        original_sleep(seconds)

    b = KubeflowJobBackend(fake, clock=fake.clock, sleep=deleting_sleep, poll_interval=5)
    with pytest.raises(TrainingError, match=rf"{NAME} in namespace {NS} disappeared"):
        b.run(make_spec(), log=Recorder())


# --- TrainJob --------------------------------------------------------------------------------


def test_trainjob_backend_watches_complete_and_streams_rank_zero(tmp_path: Path) -> None:
    fake = FakeKubeApi()
    fake.script(NAME, [
        Step("Created", "JobsCreationSucceeded"),
        Step(logs={"node-0-0": ["rank0 epoch 1"], "node-0-1": ["rank1 epoch 1"]}),
        Step(exit_codes={"node-0-0": 0, "node-0-1": 0}),
        Step("Complete", "JobsCompleted", "TrainJob is completed"),
    ])  # fmt: skip
    store = LocalStore(tmp_path)
    sink = Recorder()
    result = backend(fake, kind="trainjob", log_store=store).run(make_spec(), log=sink)
    assert result.succeeded and result.exit_codes == [0, 0]
    (create,) = fake.calls_to("create_custom_object")
    assert (create["group"], create["version"], create["plural"]) == (
        "trainer.kubeflow.org", "v1alpha1", "trainjobs",
    )  # fmt: skip
    # The body is the Trainer v2.3 TrainJob the renderer makes, valid for its CRD.
    assert create["body"] == render_trainjob(make_spec())
    assert "runtimePatches" in create["body"]["spec"]
    validate_custom_resource(create["body"], crd_path("trainer.kubeflow.org_trainjobs.yaml"))
    assert sink.pod_lines("node-0-0-aaaaa") == ["rank0 epoch 1"]
    assert sink.pod_lines("node-0-1-bbbbb") == []
    assert len(store.list(f"logs/{NAME}")) == 2


def test_elastic_pytorchjob_streams_worker_zero() -> None:
    fake = FakeKubeApi()
    spec = make_spec(nnodes=2, elastic_min_nodes=1, elastic_max_nodes=3)
    fake.script(NAME, [
        Step("Running", logs={"worker-0": ["rdzv host"], "worker-1": ["other"]}),
        Step("Succeeded"),
    ])  # fmt: skip
    sink = Recorder()
    assert backend(fake).run(spec, log=sink).succeeded
    assert sink.pod_lines("worker-0") == ["rdzv host"]
    assert kind_info("pytorchjob").lead_selector(spec).endswith("replica-index=0")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(LaunchError, match="unknown Kubeflow job kind"):
        KubeflowJobBackend(FakeKubeApi(), kind="tfjob")  # type: ignore[arg-type]


# --- the KubernetesApi adapter ---------------------------------------------------------------

kubernetes = pytest.importorskip("kubernetes")
ApiException = kubernetes.client.ApiException


class StubCustom:
    """A CustomObjectsApi stand-in that raises ``error`` (or returns ``result``) on every call."""

    def __init__(self, error: Exception | None = None, result: Any = None) -> None:
        self.error = error
        self.result = result
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, args, kwargs))
        if self.error is not None:
            raise self.error
        return self.result

    def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("create", *args, **kwargs)

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get", *args, **kwargs)

    def delete_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("delete", *args, **kwargs)


class StubCore:
    def __init__(self, error: Exception | None = None, pods: Any = None, log: str = "") -> None:
        self.error = error
        self.pods = pods
        self.log = log
        self.api_client = kubernetes.client.ApiClient()
        self.log_calls: list[dict[str, Any]] = []

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        return self.pods

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> str:
        self.log_calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return self.log


def forbidden() -> Exception:
    return ApiException(status=403, reason="Forbidden")


def test_adapter_403_on_create_names_the_missing_verb_and_the_fix() -> None:
    api = KubernetesApi(StubCustom(forbidden()), StubCore())
    spec = make_spec()
    b = KubeflowJobBackend(api, clock=FakeClock(), sleep=lambda _: None)
    # The first call (GET) is forbidden: verb get.
    with pytest.raises(LaunchError) as info:
        b.run(spec, log=Recorder())
    message = str(info.value)
    assert "verb 'get'" in message and "'pytorchjobs'" in message
    assert "namespace 'trainpipe'" in message and NAME in message
    assert "manifests/base" in message and "trainpipe-launcher" in message

    with pytest.raises(LaunchError, match=r"verb 'create' on resource 'trainjobs'"):
        api.create_custom_object("trainer.kubeflow.org", "v1alpha1", NS, "trainjobs",
                                 {"metadata": {"name": NAME}})  # fmt: skip


def test_adapter_creates_with_strict_field_validation() -> None:
    # An older operator's CRD (say Trainer v2.1, without spec.runtimePatches) then refuses the
    # object instead of pruning the fields it does not know.
    custom = StubCustom()
    body = {"metadata": {"name": NAME}, "spec": {"runtimePatches": []}}
    KubernetesApi(custom, StubCore()).create_custom_object(
        "trainer.kubeflow.org", "v1alpha1", NS, "trainjobs", body
    )
    ((method, args, kwargs),) = custom.calls
    assert method == "create" and args[-1] is body
    assert kwargs["field_validation"] == "Strict"


def test_adapter_403_on_pod_logs_names_the_core_resource() -> None:
    api = KubernetesApi(StubCustom(), StubCore(error=forbidden()))
    with pytest.raises(LaunchError, match=r"verb 'get' on resource 'pods/log'.*core"):
        api.read_pod_log(MASTER, NS, "pytorch")
    with pytest.raises(LaunchError, match=r"verb 'list' on resource 'pods'"):
        api.list_pods(NS, f"training.kubeflow.org/job-name={NAME}")


def test_adapter_translates_404_409_and_other_statuses() -> None:
    assert (
        KubernetesApi(StubCustom(ApiException(status=404)), StubCore()).get_custom_object(
            "kubeflow.org", "v1", NS, "pytorchjobs", NAME
        )
        is None
    )
    assert (
        KubernetesApi(StubCustom(ApiException(status=409)), StubCore()).create_custom_object(
            "kubeflow.org", "v1", NS, "pytorchjobs", {"metadata": {"name": NAME}}
        )
        is False
    )
    KubernetesApi(StubCustom(ApiException(status=404)), StubCore()).delete_custom_object(
        "kubeflow.org", "v1", NS, "pytorchjobs", NAME
    )
    assert (
        KubernetesApi(StubCustom(), StubCore(error=ApiException(status=400))).read_pod_log(
            MASTER, NS
        )
        == ""
    )
    with pytest.raises(KubeApiError) as info:
        KubernetesApi(StubCustom(ApiException(status=503)), StubCore()).get_custom_object(
            "kubeflow.org", "v1", NS, "pytorchjobs", NAME
        )
    assert info.value.status == 503 and info.value.transient
    with pytest.raises(KubeApiError, match="CRD installed") as info:
        KubernetesApi(StubCustom(ApiException(status=404)), StubCore()).create_custom_object(
            "kubeflow.org", "v1", NS, "pytorchjobs", {"metadata": {"name": NAME}}
        )
    assert not info.value.transient
    # Programming errors are not disguised as API errors.
    with pytest.raises(TypeError):
        KubernetesApi(StubCustom(TypeError("bug")), StubCore()).get_custom_object(
            "kubeflow.org", "v1", NS, "pytorchjobs", NAME
        )


def test_adapter_passes_calls_through_and_returns_api_shaped_pods() -> None:
    custom = StubCustom(result={"kind": "PyTorchJob", "metadata": {"name": NAME}})
    pod = kubernetes.client.V1Pod(
        metadata=kubernetes.client.V1ObjectMeta(name=MASTER, labels={"a": "b"}),
        status=kubernetes.client.V1PodStatus(
            container_statuses=[
                kubernetes.client.V1ContainerStatus(
                    name="pytorch",
                    image="img",
                    image_id="",
                    ready=False,
                    restart_count=1,
                    state=kubernetes.client.V1ContainerState(
                        terminated=kubernetes.client.V1ContainerStateTerminated(exit_code=3)
                    ),
                )
            ]
        ),
    )
    core = StubCore(pods=kubernetes.client.V1PodList(items=[pod]), log="a\nb\n")
    api = KubernetesApi(custom, core, request_timeout=7)
    assert api.create_custom_object("kubeflow.org", "v1", NS, "pytorchjobs", {"metadata": {}})
    assert api.get_custom_object("kubeflow.org", "v1", NS, "pytorchjobs", NAME) == custom.result
    api.delete_custom_object("kubeflow.org", "v1", NS, "pytorchjobs", NAME)
    method, args, kwargs = custom.calls[-1]
    assert method == "delete" and args == ("kubeflow.org", "v1", NS, "pytorchjobs", NAME)
    assert kwargs == {"propagation_policy": "Background", "_request_timeout": 7}
    (as_dict,) = api.list_pods(NS, "a=b")
    status = as_dict["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1 and status["state"]["terminated"]["exitCode"] == 3
    assert api.read_pod_log(MASTER, NS, "pytorch") == "a\nb\n"


def test_adapter_asks_the_api_for_the_stretch_of_log_the_follower_wants() -> None:
    """The keyword arguments are the official client's: ``read_namespaced_pod_log`` accepts
    ``since_seconds``, ``timestamps`` and ``previous`` (it has no ``since_time``)."""
    import inspect

    core = StubCore(log="2025-01-01T00:00:00.000000001Z a\n")
    api = KubernetesApi(StubCustom(), core, request_timeout=7)
    assert api.read_pod_log(MASTER, NS, "pytorch", since_seconds=15, timestamps=True) == (
        "2025-01-01T00:00:00.000000001Z a\n"
    )
    api.read_pod_log(MASTER, NS, previous=True)
    assert core.log_calls == [
        {"_request_timeout": 7, "container": "pytorch", "since_seconds": 15, "timestamps": True},
        {"_request_timeout": 7, "previous": True},
    ]
    real = inspect.getsource(kubernetes.client.CoreV1Api.read_namespaced_pod_log_with_http_info)
    for name in ("since_seconds", "timestamps", "previous"):
        assert f"'{name}'" in real


@pytest.mark.parametrize(
    ("line", "stamp", "text"),
    [
        ("2025-01-01T00:00:01.000000002Z hello world", 1735689601_000000002, "hello world"),
        ("2025-01-01T00:00:01.5Z x", 1735689601_500000000, "x"),
        ("2025-01-01T02:00:01.000000002+02:00 ", 1735689601_000000002, ""),
        ("2025-01-01T00:00:01Z  two spaces", 1735689601_000000000, " two spaces"),
        ("no stamp here", None, "no stamp here"),
    ],
)
def test_log_lines_are_split_into_nanosecond_stamp_and_text(
    line: str, stamp: int | None, text: str
) -> None:
    from trainpipe.launch.pod_logs import parse_log_line

    assert parse_log_line(line) == (stamp, text)


def test_kube_clients_from_env_without_any_configuration_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainpipe.launch.kube import kube_clients_from_env

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LaunchError, match=r"trainpipe-launcher or set KUBECONFIG"):
        kube_clients_from_env()


def test_kube_clients_from_env_with_a_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainpipe.launch.kube import kube_clients_from_env

    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: trainpipe}}]\n"
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(config))
    api = kube_clients_from_env(request_timeout=3)
    assert isinstance(api, KubernetesApi) and api.request_timeout == 3


def _protocol_conformance() -> None:
    """Checked by mypy: the fake and the adapter are KubeApis; the backend is a JobBackend."""
    from trainpipe.launch.base import JobBackend
    from trainpipe.launch.kube import KubeApi

    fake: KubeApi = FakeKubeApi()
    adapter: KubeApi = KubernetesApi(StubCustom(), StubCore())
    job_backend: JobBackend = KubeflowJobBackend(fake)
    del adapter, job_backend

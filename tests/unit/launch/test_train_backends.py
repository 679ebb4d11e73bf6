"""The train stage picks its backend from the config, and a failed cluster job is diagnosed."""

from pathlib import Path

import pytest
import yaml

from fake_kube import FakeKubeApi, Step
from trainpipe.cli import main
from trainpipe.config import RunConfig
from trainpipe.errors import TrainingError
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.pytorchjob import KubeflowJobBackend
from trainpipe.launch.spec import job_name
from trainpipe.launch.train_job import backend_for, train_model
from trainpipe.train.spec import SPEC_ENV, TrainSpec

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]


def config(**train: object) -> RunConfig:
    return RunConfig.from_dict(
        {"name": "iris", "data": {"source": "builtin:iris"}, "train": {"epochs": 1, **train}}
    )


def test_local_backend_by_default() -> None:
    assert isinstance(backend_for(config()), LocalJobBackend)


@pytest.mark.parametrize(
    ("reason", "kind", "action"),
    [
        ("OOMKilled", "host_oom", "raise job.memory"),
        ("Error", "killed", "out of memory or an outside kill"),  # 137 without OOMKilled
    ],
)
def test_failed_pytorchjob_is_diagnosed(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reason: str,
    kind: str,
    action: str,
) -> None:
    import trainpipe.launch.preflight as preflight_module
    from trainpipe.storage.local import LocalStore
    from trainpipe.storage.uri import parse_uri

    # Pods get object-store URIs only; the preflight probes them offline here.
    def open_store(uri: str) -> LocalStore:
        parsed = parse_uri(uri)
        local = iris_splits.get(parsed.prefix) if parsed.bucket == "data" else None
        return LocalStore(local or tmp_path / parsed.bucket / parsed.prefix)

    monkeypatch.setattr(preflight_module, "open_store", open_store)
    cfg = config(backend="pytorchjob", nproc_per_node=1)
    fake = FakeKubeApi()
    name = job_name("run-7", "train")
    fake.script(
        name,
        [
            Step("Running", logs={"master-0": ["[trainpipe] epoch 1/1 ..."]}),
            Step(
                logs={"master-0": ["Killed"]},
                exit_codes={"master-0": 137},
                termination_reasons={"master-0": reason},
            ),
            Step("Failed"),
        ],
    )
    backend = KubeflowJobBackend(fake, kind="pytorchjob", poll_interval=1.0, sleep=lambda s: None)
    lines: list[str] = []
    with pytest.raises(TrainingError, match=rf"failed \({kind}\).*{action}"):
        train_model(
            cfg,
            train_data="s3://data/train",
            validation_data="s3://data/validation",
            output="s3://models/model",
            run_id="run-7",
            log=lines.append,
            backend=backend,
        )
    assert any(line.startswith(f"[trainpipe] failure class: {kind}") for line in lines)
    (created,) = fake.calls_to("create_custom_object")
    env = created["body"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
        "containers"
    ][0]["env"]
    spec = TrainSpec.from_json(next(e["value"] for e in env if e["name"] == SPEC_ENV))
    assert spec.output == "s3://models/model"


def test_job_render_prints_a_valid_pytorchjob(capsys: pytest.CaptureFixture[str]) -> None:
    from k8s_validation import crd_path, validate_custom_resource

    code = main([
        "job", "render", "--config", str(REPO / "pipelines/configs/digits.yaml"),
        "--set", "train.nnodes=3", "--set", "train.nproc_per_node=2",
        "--set", "train.batch_size=60",
        "--output", "minio://models/digits",
    ])  # fmt: skip
    assert code == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["kind"] == "PyTorchJob"
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    validate_custom_resource(job, crd_path("kubeflow.org_pytorchjobs.yaml"))


def test_job_render_trainjob(capsys: pytest.CaptureFixture[str]) -> None:
    from k8s_validation import crd_path, validate_custom_resource

    config_path = str(REPO / "pipelines/configs/breast_cancer.yaml")
    assert main(["job", "render", "--backend", "trainjob", "--config", config_path]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["kind"] == "TrainJob" and job["spec"]["trainer"]["numProcPerNode"] == 2
    validate_custom_resource(job, crd_path("trainer.kubeflow.org_trainjobs.yaml"))


def test_the_training_time_counts_every_start_of_the_job(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    """``train_model``'s seconds are the wall clock of the whole job, where ``metrics.json``'s
    are the last start's: a job restarted after a lost start took longer than its last start."""
    import json
    import time

    from trainpipe.launch.base import JobResult
    from trainpipe.launch.spec import JobSpec
    from trainpipe.train.distributed import DistContext
    from trainpipe.train.loop import run_training

    class RestartedJob:
        """A first start lost after 0.5 s, then a second that trains (in this process)."""

        def run(self, spec: JobSpec, *, log: object = None, stop: object = None) -> JobResult:
            time.sleep(0.5)
            path = spec.args[spec.args.index("--spec") + 1]
            training = TrainSpec.from_json(Path(path).read_text())
            run_training(training, DistContext(), log=lambda line: None)
            return JobResult(name=spec.name, succeeded=True, attempts=2)

    cfg = config(backend="local", nproc_per_node=1, num_threads=1)
    out = tmp_path / "model"
    result = train_model(
        cfg,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(out),
        backend=RestartedJob(),
        log=lambda line: None,
    )
    last_start = json.loads((out / "metrics.json").read_text())["seconds"]
    assert result.seconds >= last_start + 0.5

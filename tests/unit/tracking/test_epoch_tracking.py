"""Rank 0 of a training job logs each epoch to the pipeline's MLflow run; a tracking server that
fails never fails training, and the stage's record counts what it could not log."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from fake_mlflow import FakeMlflowClient
from trainpipe.config import RunConfig
from trainpipe.launch.train_job import train_model
from trainpipe.tracking import mlflow_run
from trainpipe.tracking.stages import log_training, recorded_run, tracked_stage
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.model_files import METRICS_KEY
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def make_config(uri: str) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris",
            "seed": 3,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16]},
            "train": {
                "epochs": 3,
                "batch_size": 16,
                "nproc_per_node": 1,
                "backend": "inprocess",
                "num_threads": 1,
                "sanity_checks": False,
            },
            "evaluate": {"require_beat_baseline": False},
            "tracking": {"mlflow": uri},
        }
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tracked_spec(
    client: FakeMlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    splits: dict[str, str],
    output: Path,
) -> tuple[TrainSpec, str]:
    """A training spec whose rank 0 logs to a pipeline run ``client`` holds, and that run."""
    monkeypatch.setattr(mlflow_run, "mlflow_client", lambda uri: client)
    config = make_config("http://127.0.0.1:5000")
    with tracked_stage(config, "train", run_id="kfp-1") as tracking:
        run = tracking.mlflow_run_id
    spec = TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(output),
        run_id="kfp-1",
        tracking_run=run,
    )
    return spec, run


def test_the_spec_carries_the_mlflow_run_to_the_job() -> None:
    config = make_config("http://127.0.0.1:5000")
    spec = TrainSpec(
        config=config, train_data="t", validation_data="v", output="o", tracking_run="abc"
    )
    assert TrainSpec.from_json(spec.to_json()).tracking_run == "abc"
    old = json.loads(spec.to_json())
    del old["tracking_run"]  # a spec written before tracking existed
    assert TrainSpec.from_json(json.dumps(old)).tracking_run == ""


def test_rank_0_logs_every_epoch_at_its_step_and_the_model_records_the_run(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeMlflowClient()
    spec, run = tracked_spec(client, monkeypatch, iris_splits, tmp_path / "model")
    run_training(spec, DistContext(), log=lambda line: None)
    metrics = json.loads((tmp_path / "model" / METRICS_KEY).read_text())
    history = metrics["history"]
    for key in ("train_loss", "val_loss", "val_accuracy", "learning_rate"):
        assert client.history(run, key) == [(i + 1, row[key]) for i, row in enumerate(history)]
    assert "epoch" not in client.runs[run].data.metrics
    assert metrics["tracking"] == {
        "mlflow_run_id": run,
        "experiment": "iris",
        "uri": "http://127.0.0.1:5000",
        "failures": 0,
    }
    assert recorded_run(str(tmp_path / "model")) == run


def test_an_epoch_trained_again_after_a_restart_is_logged_once(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeMlflowClient()
    spec, run = tracked_spec(client, monkeypatch, iris_splits, tmp_path / "model")
    run_training(spec, DistContext(), log=lambda line: None)
    # the process was killed after logging epoch 3, before its checkpoint was stored
    checkpoints = sorted((tmp_path / "model" / "checkpoints").glob("step-*.pt"))
    checkpoints[-1].unlink()
    lines: list[str] = []
    run_training(spec, DistContext(), log=lines.append)
    assert any("resumed from checkpoint at epoch 3" in line for line in lines)
    assert "[trainpipe] tracking: epoch 3 is in the MLflow run already" in "\n".join(lines)
    history = json.loads((tmp_path / "model" / METRICS_KEY).read_text())["history"]
    for key in ("train_loss", "val_loss"):
        assert client.history(run, key) == [(i + 1, row[key]) for i, row in enumerate(history)]


def test_training_without_a_run_to_log_to_records_none(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config("http://127.0.0.1:5000")
    spec = TrainSpec(
        config=config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
    )
    run_training(spec, DistContext(), log=lambda line: None)
    assert "tracking" not in json.loads((tmp_path / "model" / METRICS_KEY).read_text())


def test_a_failing_tracking_server_never_fails_training_and_failures_are_counted(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stage opens the run; then the server goes away: the job's rank 0 reaches nothing.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{closed_port()}"
    config = make_config(uri)
    client = FakeMlflowClient()
    outputs: dict[str, Any] = {}
    lines: list[str] = []
    with tracked_stage(
        config, "train", run_id="kfp-1", outputs=outputs, client=client, log=lines.append
    ) as tracking:
        result = train_model(
            config,
            train_data=iris_splits["train"],
            validation_data=iris_splits["validation"],
            output=str(tmp_path / "model"),
            run_id="kfp-1",
            log=lines.append,
            tracking_run=tracking.mlflow_run_id,
        )
        log_training(tracking, result)
    assert (tmp_path / "model" / "model.json").is_file()  # trained and written
    assert len(result.history) == 3
    # epoch 1 and 2 failed, then rank 0 gave up; epoch 3 was skipped: three counted
    assert result.tracking["failures"] == 3
    assert result.tracking["mlflow_run_id"] == tracking.mlflow_run_id
    assert outputs["tracking"]["failures"] == 3
    first = result.tracking["errors"][0]
    assert first.startswith("log metrics: ")
    assert outputs["notices"] == [
        f"tracking: 3 MLflow call(s) of train failed or were skipped (first: {first})"
    ]
    warnings = [line for line in lines if "warning: tracking" in line]
    assert any(f"MLflow could not log metrics ({uri})" in line for line in warnings)
    assert any("skipped for the rest of this process" in line for line in warnings)
    assert client.runs[tracking.mlflow_run_id].data.tags["trainpipe.stage.train"] == "succeeded"

"""What each stage logs to the pipeline's MLflow run, and a stage's tracking in its record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fake_mlflow import FakeMlflowClient
from model_factory import write_model
from trainpipe.config import RunConfig
from trainpipe.evaluate.gate import evaluate_gate
from trainpipe.evaluate.stages import Diagnosis, Evaluation
from trainpipe.launch.train_job import TrainResult
from trainpipe.registry.register import register_model
from trainpipe.registry.registry import ModelRegistry
from trainpipe.tracking.mlflow_run import KFP_RUN_TAG
from trainpipe.tracking.stages import (
    config_params,
    log_config,
    log_evaluation,
    log_registration,
    log_training,
    log_tuning,
    log_validation,
    recorded_run,
    tracked_stage,
)

pytestmark = pytest.mark.unit


def config(tmp_path: Path, **extra: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris",
            "data": {"source": "builtin:iris"},
            "registry": {"uri": str(tmp_path / "registry"), "model_name": "iris"},
            "tracking": {"mlflow": "http://127.0.0.1:5000"},
            **extra,
        }
    )


def test_a_stage_records_its_tracking_and_tags_the_run(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    outputs: dict[str, Any] = {}
    with tracked_stage(
        config(tmp_path), "tune-setup", run_id="kfp-1", outputs=outputs, client=client
    ) as tracking:
        assert tracking.mlflow_run_id
    (run,) = client.active()
    assert run.data.tags[KFP_RUN_TAG] == "kfp-1" and run.data.tags["trainpipe.name"] == "iris"
    assert run.data.tags["trainpipe.stage.tune-setup"] == "succeeded"
    assert run.info.status == "RUNNING"  # later stages append to it
    assert outputs["tracking"] == {
        "mlflow_run_id": run.info.run_id,
        "experiment": "iris",
        "uri": "http://127.0.0.1:5000",
        "failures": 0,
    }
    assert "notices" not in outputs


def test_a_failing_stage_marks_the_run_failed_and_raises_its_own_error(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    outputs: dict[str, Any] = {}
    with (
        pytest.raises(ValueError, match="bad data"),
        tracked_stage(config(tmp_path), "train", run_id="kfp-1", outputs=outputs, client=client),
    ):
        raise ValueError("bad data")
    (run,) = client.active()
    assert run.info.status == "FAILED"
    assert run.data.tags["trainpipe.failed_stage"] == "train"
    assert run.data.tags["trainpipe.stage.train"] == "failed"
    assert run.data.tags["trainpipe.error"] == "ValueError: bad data"
    assert outputs["tracking"]["failures"] == 0


def test_a_failing_tracking_server_never_fails_a_stage_and_its_record_counts_it(
    tmp_path: Path,
) -> None:
    client = FakeMlflowClient()
    client.fail = True
    outputs: dict[str, Any] = {"notices": ["ingest said something"]}
    lines: list[str] = []
    done = False
    with tracked_stage(
        config(tmp_path), "train", run_id="kfp-1", outputs=outputs, client=client, log=lines.append
    ) as tracking:
        log_config(tracking, config(tmp_path), best_params='{"train.learning_rate": 0.01}')
        tracking.log_metrics({"val_loss": 0.1}, step=1)
        done = True
    assert done
    summary = outputs["tracking"]
    assert summary["failures"] == 5  # open, then params, tags, metrics and the stage tag skipped
    assert summary["mlflow_run_id"] == ""
    assert outputs["notices"][0] == "ingest said something"
    assert outputs["notices"][1].startswith("tracking: 5 MLflow call(s) of train failed")
    assert "connection refused" in outputs["notices"][1]
    assert any(line.startswith("[trainpipe] warning: tracking: 5 MLflow") for line in lines)


def test_tracking_off_leaves_the_record_as_it_was(tmp_path: Path) -> None:
    off = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    outputs: dict[str, Any] = {}
    with tracked_stage(off, "train", run_id="kfp-1", outputs=outputs) as tracking:
        log_config(tracking, off)
    assert outputs == {}


def test_stages_after_training_find_the_run_the_model_recorded(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    model = write_model(tmp_path / "model")
    assert recorded_run(model) == ""  # trained without tracking
    lines: list[str] = []
    outputs: dict[str, Any] = {}
    with tracked_stage(
        config(tmp_path), "evaluate", model=model, outputs=outputs, client=client, log=lines.append
    ):
        pass
    assert client.runs == {}  # nothing to append to: not tracked, and counted
    assert outputs["tracking"]["failures"] == 2
    assert "records no MLflow run" in lines[0]

    with tracked_stage(config(tmp_path), "train", run_id="kfp-1", client=client) as tracking:
        pass
    metrics_path = Path(model) / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["tracking"] = {"mlflow_run_id": tracking.mlflow_run_id, "failures": 0}
    metrics_path.write_text(json.dumps(metrics))
    assert recorded_run(model) == tracking.mlflow_run_id
    with tracked_stage(config(tmp_path), "evaluate", model=model, client=client) as later:
        assert later.mlflow_run_id == tracking.mlflow_run_id
    assert recorded_run(str(tmp_path / "nowhere")) == ""


def test_the_config_as_params_and_the_tuned_values_as_a_tag(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    tuned = config(tmp_path).with_overrides({"train.learning_rate": 0.02})
    params = config_params(tuned)
    assert params["train.learning_rate"] == 0.02 and params["name"] == "iris"
    assert params["tracking.mlflow"] == "http://127.0.0.1:5000"
    assert params["data.source"] == "builtin:iris"
    assert not any(isinstance(value, dict) and value for value in params.values())
    with tracked_stage(tuned, "train", run_id="kfp-1", client=client) as tracking:
        log_config(tracking, tuned, best_params='{"train.learning_rate": 0.02}')
        log_training(
            tracking,
            TrainResult(
                output="m", config=tuned, world_size=2, tracking={"failures": 2, "errors": ["x"]}
            ),
        )
    (run,) = client.active()
    assert run.data.params["train.learning_rate"] == "0.02"
    assert run.data.params["train.epochs"] == str(tuned.train.epochs)
    assert json.loads(run.data.tags["trainpipe.best_params"]) == {"train.learning_rate": 0.02}
    assert run.data.tags["trainpipe.world_size"] == "2"
    assert tracking.failures == 2 and tracking.errors == ["x"]  # the training job's


def test_evaluation_metrics_report_and_an_unblessed_model_ends_the_run(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    metrics = {"accuracy": 0.5, "f1_macro": 0.4, "labels": ["a", "b"]}
    gate = evaluate_gate(metrics, {"accuracy_min": 0.9})
    evaluation = Evaluation(split="test", metrics=metrics, gate=gate)
    with tracked_stage(config(tmp_path), "evaluate", run_id="kfp-1", client=client) as tracking:
        log_evaluation(tracking, evaluation, report_html="<html>report</html>")
    (run,) = client.active()
    assert run.data.metrics == {"test_accuracy": [(0, 0.5)], "test_f1_macro": [(0, 0.4)]}
    assert run.data.tags["trainpipe.blessed"] == "false"
    assert run.data.tags["trainpipe.gate"] == gate.reason
    assert run.artifacts == {"reports/evaluation.html": "<html>report</html>"}
    assert run.info.status == "FINISHED"  # nothing is registered after it


def test_validation_metrics_diagnosis_and_curves(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    diagnosis = Diagnosis(verdict="overfitting", reasons=["val_loss rose for 3 epochs"])
    evaluation = Evaluation(
        split="validation", metrics={"accuracy": 0.8, "labels": ["a"]}, diagnosis=diagnosis
    )
    with tracked_stage(config(tmp_path), "validate", run_id="kfp-1", client=client) as tracking:
        log_validation(tracking, evaluation, report_html="<html>curves</html>")
    (run,) = client.active()
    assert run.data.metrics == {"validation_accuracy": [(0, 0.8)]}
    assert run.data.tags["trainpipe.diagnosis"] == "overfitting"
    assert json.loads(run.data.tags["trainpipe.diagnosis.reasons"]) == diagnosis.reasons
    assert run.artifacts == {"reports/validation.html": "<html>curves</html>"}
    assert run.info.status == "RUNNING"  # evaluate and register come after it


def test_tuning_counts_and_report(tmp_path: Path) -> None:
    client = FakeMlflowClient()
    table = {"n_complete": 3, "n_pruned": 1, "n_failed": 0, "total_epochs": 9, "best_value": 0.2}
    with tracked_stage(config(tmp_path), "tune-select", run_id="kfp-1", client=client) as tracking:
        log_tuning(tracking, table, report_html="<html>tuning</html>")
        log_tuning(tracking, {"n_complete": 0}, report_html="<html>none</html>")  # no trial
    (run,) = client.active()
    assert {k: v[0][1] for k, v in run.data.metrics.items()} == {
        "tune_n_complete": 3,
        "tune_n_pruned": 1,
        "tune_n_failed": 0,
        "tune_total_epochs": 9,
        "tune_best_value": 0.2,
    }
    assert run.artifacts == {"reports/tuning.html": "<html>tuning</html>"}


def test_registration_tags_the_version_and_lineage_digest_stores_the_card_and_ends_the_run(
    tmp_path: Path,
) -> None:
    client = FakeMlflowClient()
    settings = config(tmp_path)
    registry = ModelRegistry.open(settings.registry.uri)
    registered = register_model(
        registry, write_model(tmp_path / "model"), config=settings, run_id="kfp-1"
    )
    with tracked_stage(settings, "register", run_id="kfp-1", client=client) as tracking:
        log_registration(tracking, registered, registry=registry)
    (run,) = client.active()
    version_dir = Path(registry.get("iris", registered.version).uri)
    digest = hashlib.sha256((version_dir / "lineage.json").read_bytes()).hexdigest()
    tags = run.data.tags
    assert tags["trainpipe.lineage_digest"] == f"sha256:{digest}"
    assert (tags["trainpipe.registry.model"], tags["trainpipe.registry.version"]) == ("iris", "1")
    assert tags["trainpipe.registry.ref"] == "iris:1"
    assert tags["trainpipe.registry.uri"] == registered.uri
    assert run.artifacts["registry/MODEL_CARD.md"] == (version_dir / "MODEL_CARD.md").read_text()
    assert run.info.status == "FINISHED"
    assert tracking.failures == 0


def test_the_run_summary_adds_up_every_stages_tracking() -> None:
    from trainpipe_pipelines.local_run import print_summary

    from trainpipe.runs.stages import StageRecord
    from trainpipe.runs.summary import RunSummary, summarize

    def record(stage: str, worker: int | None = None, **tracking: Any) -> StageRecord:
        outputs = {"tracking": tracking} if tracking else {}
        return StageRecord(
            stage=stage, worker=worker, status="succeeded", started_at=0.0, outputs=outputs
        )

    found = {"mlflow_run_id": "r1", "experiment": "iris", "uri": "http://h:5000"}
    records = [
        record("ingest"),
        record("tune-setup", **found, failures=0),
        record("tune-worker", 0, **found, failures=2, errors=["start trial-0: refused"]),
        record("tune-worker", 1, **found, failures=0),
        record("train", **found, failures=1, errors=["log metrics: refused"]),
    ]
    summary = summarize(records, run="iris", run_dir="/tmp/x", seconds=1.0)
    assert summary.tracking == {
        **found,
        "failures": 3,
        "errors": ["tune-worker[0]: start trial-0: refused", "train: log metrics: refused"],
    }
    assert RunSummary.from_dict(summary.to_dict()).tracking == summary.tracking
    assert summarize(records[:1], run="iris", run_dir="/tmp/x", seconds=1.0).tracking == {}
    lines: list[str] = []
    print_summary(summary, lines.append)
    assert (
        "  tracking: MLflow run r1 in experiment iris at http://h:5000 "
        "(3 MLflow call(s) failed or were skipped)" in lines
    )

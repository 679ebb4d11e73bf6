"""A pipeline run tracked in a real MLflow server, read back with MLflow's own client.

The server (``mlflow server``: SQLite backend store, artifacts served from a local folder) runs
on loopback for the module. The pipeline's tuning, train, evaluate and register components run
one after another on iris, each calling its tracking as it does in its own KFP pod; the train
step's job runs as torchrun processes, so the epochs reach MLflow from another process. Then
MlflowClient reads everything back: one run for the pipeline run with the config as params,
each epoch's metrics at their steps, the test metrics, the reports and the model card, the
registry tags, and one nested run per trial.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trainpipe.config import RunConfig
from trainpipe.registry.registry import ModelRegistry
from trainpipe.runs.stages import read_records
from trainpipe.runs.summary import summarize

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_ID = "kfp-run-7f3a"
EXPERIMENT = "trainpipe-tracking-it"
STAGES = ("tune-setup", "tune-worker", "tune-select", "train", "validate", "evaluate", "register")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MLflow tracking server on 127.0.0.1 (SQLite store, local artifacts): its URL."""
    pytest.importorskip("mlflow", reason="the mlflow package is not installed")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
            *("--artifacts-destination", str(root / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:  # an API call, not only /health: the first one sets up the store
                with urllib.request.urlopen(
                    f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=5
                ) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                pytest.fail(f"mlflow server did not become ready: {err[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_config(url: str, tmp: Path) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris-tracked",
            "seed": 5,
            "data": {"source": "builtin:iris"},
            "model": {"kind": "mlp", "hidden": [16]},
            "train": {
                "epochs": 3,
                "batch_size": 16,
                "learning_rate": 0.02,
                "backend": "local",
                "nproc_per_node": 1,
                "num_threads": 1,
                "sanity_checks": False,
            },
            "tune": {
                "max_trials": 2,
                "parallel_trials": 1,
                "epochs": 2,
                "pruner": "none",
                "storage": f"sqlite:///{tmp / 'study.db'}",
                "search_space": {
                    "train.learning_rate": {"type": "float", "low": 0.005, "high": 0.05}
                },
            },
            "evaluate": {"require_beat_baseline": False},
            "registry": {"uri": str(tmp / "registry"), "model_name": "iris-tracked"},
            "tracking": {"mlflow": url, "experiment": EXPERIMENT},
            "stage_records": str(tmp / "stages"),
        }
    )


def run_pipeline(config: RunConfig, splits: dict[str, str], tmp: Path) -> dict[str, Any]:
    """The tuning, train, evaluate and register components, as the pipeline wires them."""
    from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model
    from trainpipe_components.evaluate import evaluate_op
    from trainpipe_components.register import register_op
    from trainpipe_components.train import train_op
    from trainpipe_components.tune import tune_select_op, tune_setup_op, tune_worker_op
    from trainpipe_components.validate import validate_op

    out = tmp / "artifacts"
    out.mkdir()
    data = {name: Dataset(uri=path) for name, path in splits.items()}
    config_json = config.to_json()
    (worker,) = tune_setup_op.python_func(config_json=config_json, run_id=RUN_ID)
    tune_worker_op.python_func(
        config_json=config_json,
        worker=worker,
        run_id=RUN_ID,
        train=data["train"],
        validation=data["validation"],
    )
    best = tune_select_op.python_func(
        config_json=config_json,
        run_id=RUN_ID,
        trials=Artifact(uri=str(out / "trials.json")),
        metrics=Metrics(uri=str(out / "tune-metrics")),
        report=HTML(uri=str(out / "tuning")),
    )
    model = Model(uri=str(out / "model"))
    train_op.python_func(
        config_json=config_json,
        best_params=best,
        run_id=RUN_ID,
        train=data["train"],
        validation=data["validation"],
        model=model,
        metrics=Metrics(uri=str(out / "train-metrics")),
    )
    verdict = validate_op.python_func(
        config_json=config_json,
        model=Model(uri=model.uri),
        validation=data["validation"],
        metrics=Metrics(uri=str(out / "validation-metrics")),
        confusion=ClassificationMetrics(uri=str(out / "validation-confusion")),
        curves=HTML(uri=str(out / "curves")),
    )
    report = HTML(uri=str(out / "report"))
    evaluation = Artifact(uri=str(out / "evaluation.json"))
    blessed = evaluate_op.python_func(
        config_json=config_json,
        model=Model(uri=model.uri),
        validation=data["validation"],
        test=data["test"],
        metrics=Metrics(uri=str(out / "test-metrics")),
        confusion=ClassificationMetrics(uri=str(out / "confusion")),
        report=report,
        evaluation=evaluation,
        summary=Markdown(uri=str(out / "summary.md")),
    )
    assert blessed
    registered = register_op.python_func(
        config_json=config_json,
        best_params=best,
        run_id=RUN_ID,
        dataset=Dataset(uri=splits["train"]),
        model=Model(uri=model.uri),
        evaluation=evaluation,
    )
    return {
        "best": json.loads(best),
        "model": Path(model.uri),
        "report": Path(report.uri),
        "tuning_report": out / "tuning.html",
        "evaluation": json.loads(Path(evaluation.uri).read_text()),
        "registered": registered,
        "verdict": verdict,
    }


def test_a_pipeline_run_is_one_mlflow_run_with_nested_trials(
    mlflow_server: str, iris_splits: dict[str, str], tmp_path: Path
) -> None:
    import mlflow.artifacts
    import optuna
    from mlflow.tracking import MlflowClient

    config = run_config(mlflow_server, tmp_path)
    done = run_pipeline(config, iris_splits, tmp_path)
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    everything = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in everything if "mlflow.parentRunId" not in run.data.tags]
    trials = [run for run in everything if "mlflow.parentRunId" in run.data.tags]
    run_id = parent.info.run_id

    # one run for the whole pipeline run, found by every stage, ended by the last one
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == f"iris-tracked-{RUN_ID}"
    tags = parent.data.tags
    assert tags["kfp.run_id"] == RUN_ID
    assert {stage: tags[f"trainpipe.stage.{stage}"] for stage in STAGES} == dict.fromkeys(
        STAGES, "succeeded"
    )

    # the config the model trained with, tuned value included, as params
    params = parent.data.params
    best_rate = done["best"]["train.learning_rate"]
    assert params["train.learning_rate"] == str(best_rate)
    assert params["train.epochs"] == "3" and params["model.kind"] == "mlp"
    assert params["name"] == "iris-tracked" and params["data.source"] == "builtin:iris"
    assert json.loads(tags["trainpipe.best_params"]) == done["best"]

    # each epoch's row, logged by the training job's rank 0 (another process), at step = epoch
    history = json.loads((done["model"] / "metrics.json").read_text())["history"]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        logged = client.get_metric_history(run_id, key)
        assert [m.step for m in sorted(logged, key=lambda m: m.step)] == [1, 2, 3]
        assert [m.value for m in sorted(logged, key=lambda m: m.step)] == pytest.approx(
            [row[key] for row in history]
        )

    # the test metrics, the gate and the HTML reports
    test_metrics = done["evaluation"]["metrics"]
    assert parent.data.metrics["test_accuracy"] == pytest.approx(test_metrics["accuracy"])
    assert parent.data.metrics["test_f1_macro"] == pytest.approx(test_metrics["f1_macro"])
    assert tags["trainpipe.blessed"] == "true"
    assert parent.data.metrics["tune_n_complete"] == 2
    reports = {a.path for a in client.list_artifacts(run_id, "reports")}
    assert reports == {"reports/evaluation.html", "reports/tuning.html", "reports/validation.html"}
    assert tags["trainpipe.diagnosis"] == done["verdict"]
    assert 0 < parent.data.metrics["validation_accuracy"] <= 1
    fetched = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="reports/evaluation.html",
            dst_path=str(tmp_path / "fetched"),
            tracking_uri=mlflow_server,
        )
    )
    assert fetched.read_text() == done["report"].read_text()

    # the registered version, its lineage digest and its model card
    registry = ModelRegistry.open(config.registry.uri)
    version = registry.get("iris-tracked", done["registered"].version)
    version_dir = Path(version.uri)
    lineage = (version_dir / "lineage.json").read_bytes()
    assert tags["trainpipe.registry.model"] == "iris-tracked"
    assert tags["trainpipe.registry.version"] == str(version.version) == "1"
    assert tags["trainpipe.lineage_digest"] == f"sha256:{hashlib.sha256(lineage).hexdigest()}"
    assert json.loads(lineage)["pipeline_run_id"] == RUN_ID
    card = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="registry/MODEL_CARD.md",
        dst_path=str(tmp_path / "fetched"),
        tracking_uri=mlflow_server,
    )
    assert Path(card).read_text() == (version_dir / "MODEL_CARD.md").read_text()
    # the version's metrics.json names the run: from a registered model back to its run
    assert json.loads((version_dir / "metrics.json").read_text())["tracking"]["mlflow_run_id"] == (
        run_id
    )

    # each trial a nested run: its parameters, its value after each epoch, its final state
    study = optuna.load_study(study_name=f"iris-tracked-{RUN_ID}", storage=config.tune.storage)
    assert len(trials) == len(study.trials) == 2
    for run in trials:
        trial = study.trials[int(run.data.tags["trainpipe.trial"])]
        assert run.data.tags["mlflow.parentRunId"] == run_id
        assert run.info.run_name == f"trial-{trial.number}"
        assert run.info.status == "FINISHED"
        assert run.data.tags["trainpipe.trial.state"] == "COMPLETE"
        assert run.data.params == {"train.learning_rate": str(trial.params["train.learning_rate"])}
        values = sorted(
            client.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.step
        )
        assert [(m.step, m.value) for m in values] == [
            (step + 1, pytest.approx(value))
            for step, value in sorted(trial.intermediate_values.items())
        ]
        assert len(values) == 2

    # no stage failed to reach MLflow, as the run summary says
    records = read_records(config.stage_records)
    summary = summarize(records, run=config.name, run_dir=str(tmp_path), seconds=1.0)
    assert summary.tracking == {
        "mlflow_run_id": run_id,
        "experiment": EXPERIMENT,
        "uri": mlflow_server,
        "failures": 0,
    }

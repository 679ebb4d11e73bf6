"""Injected faults really happen and each produces its event, log line, counter and doctor
explanation.

A divergence (the learning rate multiplied by 1000 from a step on) and a data-loader stall (the
batch fetch sleeps) run through the real training loop (in-process, one rank), watched by the
monitor a training job uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainpipe.cli import main as trainpipe
from trainpipe.config import RunConfig
from trainpipe.monitor.training import TrainingMonitor
from trainpipe.train.distributed import DistContext
from trainpipe.train.faults import (
    INJECT_DIVERGENCE_ENV,
    INJECT_STALL_ENV,
    INJECT_STALL_SECONDS_ENV,
)
from trainpipe.train.loop import run_training
from trainpipe.train.model_files import METRICS_KEY
from trainpipe.train.spec import TrainSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def train(
    splits: dict[str, str],
    out: Path,
    monitor_settings: dict[str, Any],
    *,
    epochs: int = 4,
    checkpoints: str = "",
) -> tuple[dict[str, Any], list[str], TrainingMonitor]:
    config = RunConfig.from_dict(
        {
            "seed": 3,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16]},
            "train": {
                "epochs": epochs,
                "batch_size": 16,
                "learning_rate": 0.02,
                "nproc_per_node": 1,
                "backend": "inprocess",
                "num_threads": 1,
            },
            "monitor": {"warmup_steps": 5, "window_steps": 5, **monitor_settings},
        }
    )
    spec = TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out),
        run_id="drill-1",
        checkpoints=checkpoints,
    )
    lines: list[str] = []
    monitor = TrainingMonitor.for_job(
        config, run="drill-1", rank=0, local_rank=0, output=str(out), serve=False, log=lines.append
    )
    run_training(spec, DistContext(), log=lines.append, monitor=monitor)
    metrics = json.loads((out / METRICS_KEY).read_text())
    return metrics, lines, monitor


def doctor(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    """``trainpipe doctor MODEL_DIR --json``: the findings by kind."""
    capsys.readouterr()
    assert trainpipe(["doctor", str(model_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is False
    return {finding["kind"]: finding for finding in report["findings"]}


def anomalies(metrics: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in metrics["events"] if e["type"] == "anomaly" and e["kind"] == kind]


def logged(lines: list[str], kind: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in lines if line.startswith('{"event": "anomaly"')]
    return [event for event in found if event["kind"] == kind]


def test_injected_divergence(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(INJECT_DIVERGENCE_ENV, "14")
    metrics, lines, monitor = train(iris_splits, tmp_path / "model", {})
    history = metrics["history"]
    assert history[2]["train_loss"] > 10 * history[1]["train_loss"], "the loss did not diverge"
    events = anomalies(metrics, "divergence")
    assert events, metrics["events"]
    first = events[0]
    assert first["global_step"] > 14 and first["rank"] == 0 and first["run"] == "drill-1"
    assert first["task"] == "train" and first["value"] > first["threshold"] > 0
    assert logged(lines, "divergence")[0] == {
        "event": "anomaly",
        **{k: v for k, v in first.items() if k != "type"},
    }
    counted = monitor.metrics.value("trainpipe_anomalies_total", kind="divergence")
    assert counted == len(events)
    assert monitor.metrics.value("trainpipe_anomalies_total", kind="loader_starvation") == 0

    finding = doctor(tmp_path / "model", capsys)["divergence"]
    assert finding["severity"] == "error"
    assert finding["evidence"]["first_step"] == first["global_step"]
    assert "lower train.learning_rate" in finding["next_step"]


def test_injected_data_loader_stall(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(INJECT_STALL_ENV, "3")
    monkeypatch.setenv(INJECT_STALL_SECONDS_ENV, "1.5")
    settings = {"stall_seconds": 0.5, "warmup_steps": 3}  # the stall comes after the warm-up
    metrics, lines, monitor = train(iris_splits, tmp_path / "model", settings)
    # The wait really happened, in the batch fetch of the first epoch.
    assert metrics["history"][0]["data_wait_seconds"] >= 1.5
    assert metrics["history"][1]["data_wait_seconds"] < 1.0
    (starved,) = anomalies(metrics, "loader_starvation")
    assert starved["global_step"] == 4 and starved["epoch"] == 1
    assert starved["value"] > starved["threshold"] == 0.5
    (stalled,) = anomalies(metrics, "stall")  # the watchdog saw no step for > 0.5 s
    assert stalled["value"] > stalled["threshold"] == 0.5
    assert len(logged(lines, "loader_starvation")) == 1 and len(logged(lines, "stall")) == 1
    assert monitor.metrics.value("trainpipe_anomalies_total", kind="loader_starvation") == 1
    assert monitor.metrics.value("trainpipe_anomalies_total", kind="stall") == 1
    assert monitor.metrics.value("trainpipe_dataloader_wait_seconds_sum") >= 1.5

    findings = doctor(tmp_path / "model", capsys)
    assert findings["loader_starvation"]["evidence"]["first_step"] == 4
    assert "input pipeline" in findings["loader_starvation"]["title"]
    assert findings["stall"]["severity"] == "warning"
    assert "data source" in findings["stall"]["next_step"]


def test_anomaly_events_outlive_a_restart(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events go into the checkpointed state: a job that restarts (a preempted pod) and
    resumes still reports what its first attempt saw."""
    checkpoints = str(tmp_path / "checkpoints")
    monkeypatch.setenv(INJECT_STALL_ENV, "3")
    monkeypatch.setenv(INJECT_STALL_SECONDS_ENV, "1.5")
    settings = {"stall_seconds": 0, "warmup_steps": 3}
    first, _, _ = train(
        iris_splits, tmp_path / "first", settings, epochs=1, checkpoints=checkpoints
    )
    (starved,) = anomalies(first, "loader_starvation")

    monkeypatch.delenv(INJECT_STALL_ENV)
    metrics, lines, monitor = train(
        iris_splits, tmp_path / "second", settings, epochs=3, checkpoints=checkpoints
    )
    assert any("resumed from checkpoint" in line for line in lines)
    assert monitor.events == []  # the second process saw nothing itself...
    assert anomalies(metrics, "loader_starvation") == [starved]  # ...and still reports it

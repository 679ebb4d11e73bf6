"""A local run's summary.json carries the training job's events and, apart, its anomalies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from trainpipe_pipelines.local_run import LogWatcher, summarize_run

from trainpipe.config import RunConfig

pytestmark = pytest.mark.unit

ROLLBACK = {"type": "non_finite", "at": "epoch 1 step 3", "global_step": 2, "action": "rollback"}
DIVERGENCE = {
    "type": "anomaly",
    "kind": "divergence",
    "run": "run-1",
    "task": "train",
    "rank": 1,
    "epoch": 2,
    "global_step": 30,
    "value": 9.0,
    "threshold": 2.0,
    "message": "training loss diverges",
    "time": "2026-01-01T00:00:00.000000Z",
}


def summary_of(run_dir: Path) -> dict[str, object]:
    watcher = LogWatcher(sink=io.StringIO(), echo=lambda line: None)
    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    return summarize_run(run_dir, watcher, config, seconds=1.0)


def test_events_and_anomalies_come_from_the_model_metrics(tmp_path: Path) -> None:
    model = tmp_path / "artifacts" / "training-pipeline-123" / "train-op" / "model"
    model.mkdir(parents=True)
    metrics = {"history": [], "events": [ROLLBACK, DIVERGENCE], "resources": []}
    (model / "metrics.json").write_text(json.dumps(metrics))
    summary = summary_of(tmp_path)
    assert summary["events"] == [ROLLBACK, DIVERGENCE]
    assert summary["anomalies"] == [DIVERGENCE]


def test_a_run_that_never_trained_has_no_events(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    summary = summary_of(tmp_path)
    assert summary["events"] == [] and summary["anomalies"] == []

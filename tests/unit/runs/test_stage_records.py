"""Stage records: written as the stage starts and ends, with its times, error and outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from trainpipe.errors import TrainingError
from trainpipe.runs.stages import (
    StageRecord,
    process_started_at,
    read_records,
    record_key,
    record_stage,
)

pytestmark = pytest.mark.unit


def test_a_stage_is_recorded_running_then_succeeded(tmp_path: Path) -> None:
    with record_stage(str(tmp_path), "ingest") as stage:
        running = json.loads((tmp_path / "ingest.json").read_text())
        with stage.core():
            time.sleep(0.05)
        stage.outputs.update(dataset="/data/x", rows=3)
    assert running["status"] == "running" and running["finished_at"] is None
    (record,) = read_records(str(tmp_path))
    assert record.status == "succeeded" and record.error is None
    assert record.outputs == {"dataset": "/data/x", "rows": 3}
    assert 0.05 <= record.core_seconds <= record.seconds
    assert record.started_at == pytest.approx(process_started_at())
    assert record.overhead_seconds == pytest.approx(record.seconds - record.core_seconds)
    saved = json.loads((tmp_path / "ingest.json").read_text())
    assert saved["overhead_seconds"] == round(record.overhead_seconds, 3)


def test_a_failure_is_recorded_with_the_jobs_diagnosis_and_raised(tmp_path: Path) -> None:
    error = TrainingError("job x failed", failure_class="host_oom", action="raise job.memory")
    with pytest.raises(TrainingError), record_stage(str(tmp_path), "train"):
        raise error
    (record,) = read_records(str(tmp_path))
    assert record.status == "failed" and record.finished_at is not None
    assert record.error is not None
    assert (record.error.type, record.error.message) == ("TrainingError", "job x failed")
    assert (record.error.failure_class, record.error.action) == ("host_oom", "raise job.memory")


def test_workers_have_records_of_their_own_in_pipeline_order(tmp_path: Path) -> None:
    for stage, worker in (("train", None), ("tune-worker", 1), ("tune-worker", 0), ("split", None)):
        with record_stage(str(tmp_path), stage, worker=worker):
            pass
    assert record_key("tune-worker", 1) == "tune-worker-1.json"
    names = [r.name for r in read_records(str(tmp_path))]
    assert names == ["split", "tune-worker[0]", "tune-worker[1]", "train"]


def test_no_location_records_nothing_and_a_bad_one_never_fails_the_stage(tmp_path: Path) -> None:
    with record_stage("", "split") as stage, stage.core():
        pass
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    said: list[str] = []
    with record_stage(str(blocker / "stages"), "split", log=said.append):
        pass
    assert said and all("split stage record" in line or "cannot" in line for line in said)


def test_a_record_round_trips() -> None:
    record = StageRecord(stage="evaluate", started_at=1.0, seconds=2.0, core_seconds=0.5)
    again = StageRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record and again.overhead_seconds == 1.5

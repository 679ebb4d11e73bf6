"""`trainpipe train` leaves what `trainpipe doctor` needs when it fails: stage records and a
summary with the error, its failure class and action, and the events logged before it, but no
model files; a rerun that succeeds takes the failure's record away again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainpipe.cli import main
from trainpipe.errors import StorageError
from trainpipe.runs.summary import RunSummary
from trainpipe.storage.factory import open_store
from trainpipe.train.failure import FAILURE_KEY
from trainpipe.train.faults import INJECT_NAN_ENV
from trainpipe.train.model_files import MODEL_FILES, WEIGHTS_KEY

pytestmark = pytest.mark.unit


def _train(tmp_path: Path, *overrides: str) -> tuple[int, Path]:
    config = tmp_path / "iris.yaml"
    settings = {
        "name": "iris-fails",
        "seed": 3,
        "data": {"source": "builtin:iris"},
        "model": {"hidden": [8], "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 32, "backend": "inprocess", "num_threads": 1,
                  "sanity_checks": False, "max_rollbacks": 0},
        "evaluate": {"require_beat_baseline": False},
    }  # fmt: skip
    config.write_text(yaml.safe_dump(settings))
    out = tmp_path / "model"
    sets = [arg for item in overrides for arg in ("--set", item)]
    return main(["train", "--config", str(config), "--output", str(out), *sets]), out


def _doctor(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["doctor", str(out), "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_a_bad_label_fails_in_ingest_and_the_doctor_explains_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _train(tmp_path, "data.label=nope")
    assert code == 1 and "label column 'nope' not found" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["stages", "summary.json"]
    summary = RunSummary.load(out / "summary.json")
    assert summary.status == "failed" and summary.error is not None
    assert (summary.error.stage, summary.error.type) == ("ingest", "DataError")
    assert summary.error.failure_class == "user_error" and "fix what" in summary.error.action
    assert [(s.name, s.status) for s in summary.stages] == [
        ("ingest", "failed"),
        ("split", "skipped"),
        ("train", "skipped"),
    ]
    report = _doctor(out, capsys)
    assert report["status"] == "failed" and not report["healthy"]
    failure = report["findings"][0]
    assert failure["kind"] == "failure:user_error"
    assert failure["title"] == "the run failed in stage ingest (user_error)"
    assert "label column 'nope' not found" in failure["explanation"]


def test_a_training_failure_keeps_its_events_but_no_model_and_a_rerun_clears_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(INJECT_NAN_ENV, "3")  # with no rollback allowed, training fails
    code, out = _train(tmp_path)
    assert code == 1 and "non-finite loss" in capsys.readouterr().err
    assert not [key for key in MODEL_FILES if (out / key).exists()]
    assert (out / FAILURE_KEY).is_file() and any((out / "checkpoints").iterdir())
    summary = RunSummary.load(out / "summary.json")
    assert summary.error is not None and summary.error.stage == "train"
    assert summary.error.failure_class == "non_finite"
    assert "lower train.learning_rate" in summary.error.action
    assert [s.status for s in summary.stages] == ["succeeded", "succeeded", "failed"]
    # A loaded machine may add a throughput or data-wait finding; the injected fault is one event.
    (anomaly,) = [a for a in summary.anomalies if a["kind"] == "non_finite"]
    assert (anomaly["global_step"], anomaly["rank"]) == (3, 0)
    assert anomaly in summary.events

    report = _doctor(out, capsys)
    assert report["status"] == "failed"
    findings = {f["kind"]: f for f in report["findings"]}
    assert findings["failure:non_finite"]["title"] == "the run failed in stage train (non_finite)"
    assert findings["non_finite"]["evidence"]["first_step"] == 3

    monkeypatch.delenv(INJECT_NAN_ENV)
    code, out = _train(tmp_path)  # the same command again: resumes and succeeds
    assert code == 0
    assert not (out / "summary.json").exists() and not (out / FAILURE_KEY).exists()
    assert all((out / key).is_file() for key in MODEL_FILES)
    records = sorted(json.loads(p.read_text())["status"] for p in (out / "stages").iterdir())
    assert records == ["succeeded"] * 3
    assert _doctor(out, capsys)["status"] == "trained"


def test_a_save_that_stops_halfway_leaves_no_model_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def save_halfway(location: str, *args: object, **kwargs: object) -> None:
        open_store(location).write_bytes(WEIGHTS_KEY, b"the first bytes of the weights")
        raise StorageError(f"{location}: no space left on device")

    monkeypatch.setattr("trainpipe.train.loop.save_model", save_halfway)
    code, out = _train(tmp_path)
    said = capsys.readouterr()
    assert code == 1 and "no space left on device" in said.err
    assert f"removed the half-written model files {WEIGHTS_KEY} from {out}" in said.out
    assert not [key for key in MODEL_FILES if (out / key).exists()]
    failure = json.loads((out / FAILURE_KEY).read_text())
    assert len(failure["history"]) == 2  # both epochs had finished
    summary = RunSummary.load(out / "summary.json")
    assert summary.error is not None and summary.error.stage == "train"
    assert (summary.error.type, summary.error.failure_class) == ("StorageError", "user_error")


def test_with_tracking_the_training_is_an_mlflow_run_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_mlflow import FakeMlflowClient
    from trainpipe.tracking import mlflow_run

    client = FakeMlflowClient()
    monkeypatch.setattr(mlflow_run, "mlflow_client", lambda uri: client)
    code, out = _train(tmp_path, "tracking.mlflow=http://127.0.0.1:5000")
    assert code == 0
    (run,) = client.active()
    assert run.info.status == "FINISHED" and run.info.run_name == "iris-fails"
    assert run.data.params["train.epochs"] == "2"
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert client.history(run.info.run_id, "val_loss") == [
        (i + 1, row["val_loss"]) for i, row in enumerate(history)
    ]
    assert run.data.tags["trainpipe.stage.train"] == "succeeded"
    record = json.loads((out / "stages" / "train.json").read_text())
    assert record["outputs"]["tracking"]["mlflow_run_id"] == run.info.run_id

"""The run summary is built from the stage records and what they name, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainpipe.errors import DataError, TrainingError, TrainpipeError
from trainpipe.runs.stages import STAGES, read_records, record_stage
from trainpipe.runs.summary import RunSummary, summarize
from trainpipe.train.failure import failure_record, write_failure

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


def _stage(records: Path, stage: str, worker: int | None = None, **outputs: object) -> None:
    with record_stage(str(records), stage, worker=worker) as recorder:
        recorder.outputs.update(outputs)


def _summary(records: Path, **kwargs: object) -> RunSummary:
    return summarize(
        read_records(str(records)), run="run-1", run_dir=str(records.parent), seconds=9.0, **kwargs
    )


def test_a_whole_run(tmp_path: Path) -> None:
    records, store = tmp_path / "stages", tmp_path / "store"
    model, evaluation, trials = store / "model", store / "evaluation", store / "trials"
    model.mkdir(parents=True)
    metrics = {"history": [], "events": [ROLLBACK, DIVERGENCE], "resources": []}
    (model / "metrics.json").write_text(json.dumps(metrics))
    gate = {"blessed": True, "reason": "blessed: 1/1 thresholds hold", "checks": []}
    result = {"metrics": {"accuracy": 0.97}, "gate": gate, "promotion": {"promote": True}}
    evaluation.write_text(json.dumps(result))
    trials.write_text(json.dumps({"n_complete": 2, "trials": [{"number": 0}]}))
    _stage(records, "ingest", dataset=str(store / "dataset"), rows=100)
    _stage(records, "split")
    _stage(records, "tune-setup", workers=2)
    _stage(records, "tune-worker", 1, trials=1)
    _stage(records, "tune-worker", 0, trials=1)
    _stage(records, "tune-select", trials=str(trials), tuning_report=str(store / "tuning.html"))
    _stage(records, "train", model=str(model))
    _stage(records, "validate", metrics={"val_accuracy": 0.96}, diagnosis={"verdict": "good fit"})
    _stage(records, "evaluate", evaluation=str(evaluation), report=str(store / "report"))
    _stage(records, "register", name="digits-cnn", version=3, uri="/reg/3", alias="champion")
    summary = _summary(records)
    assert summary.status == "succeeded" and summary.error is None
    names = [s.name for s in summary.stages]
    assert names == [
        "ingest",
        "split",
        "tune-setup",
        "tune-worker[0]",
        "tune-worker[1]",
        "tune-select",
        "train",
        "validate",
        "evaluate",
        "register",
    ]
    assert all(s.status == "succeeded" and s.seconds >= s.core_seconds for s in summary.stages)
    assert summary.overhead_seconds == pytest.approx(
        sum(s.overhead_seconds for s in summary.stages), abs=0.05
    )
    assert summary.metrics == {"test": {"accuracy": 0.97}, "validation": {"val_accuracy": 0.96}}
    assert summary.blessed and summary.promotion == {"promote": True}
    assert summary.diagnosis == {"verdict": "good fit"}
    assert summary.tuning == {"n_complete": 2, "report": str(store / "tuning.html")}
    assert summary.model == {
        "name": "digits-cnn",
        "version": 3,
        "uri": "/reg/3",
        "alias": "champion",
    }
    assert summary.events == [ROLLBACK, DIVERGENCE] and summary.anomalies == [DIVERGENCE]
    assert summary.artifacts["model"] == str(model) and summary.report == str(store / "report")
    path = summary.write(tmp_path / "summary.json")
    assert RunSummary.load(path) == summary


def test_a_failed_stage_is_the_runs_error_and_later_stages_are_skipped(tmp_path: Path) -> None:
    records = tmp_path / "stages"
    _stage(records, "ingest")
    with pytest.raises(DataError), record_stage(str(records), "split"):
        raise DataError("data.csv: label column 'target' not found")
    summary = _summary(records, orchestrator_failed=True)
    assert summary.status == "failed" and summary.model is None and summary.events == []
    assert summary.error is not None
    assert (summary.error.stage, summary.error.type) == ("split", "DataError")
    assert "label column 'target' not found" in summary.error.message
    skipped = [s.name for s in summary.stages if s.status == "skipped"]
    assert skipped == list(STAGES[2:])


def test_a_failed_training_job_still_reports_the_events_it_logged(tmp_path: Path) -> None:
    """The job wrote no metrics.json, only its failure record: the summary's events and
    anomalies come from there, next to the train stage's diagnosed error."""
    records, model = tmp_path / "stages", tmp_path / "store" / "model"
    error = TrainingError("training job x failed (non_finite)", failure_class="non_finite")
    seen = failure_record(error, events=[ROLLBACK, DIVERGENCE], history=[{"train_loss": 0.9}])
    write_failure(str(model), seen, log=pytest.fail)
    for stage in STAGES[:5]:
        _stage(records, stage)
    with pytest.raises(TrainingError), record_stage(str(records), "train") as recorder:
        recorder.outputs["model"] = str(model)
        raise error
    summary = _summary(records, orchestrator_failed=True)
    assert summary.status == "failed" and summary.error is not None
    assert (summary.error.stage, summary.error.failure_class) == ("train", "non_finite")
    assert summary.events == [ROLLBACK, DIVERGENCE] and summary.anomalies == [DIVERGENCE]
    assert not (model / "metrics.json").exists()

    (model / "metrics.json").write_text(json.dumps({"events": [ROLLBACK]}))
    assert _summary(records).events == [ROLLBACK]  # a finished job's own metrics come first


def test_a_stage_that_died_before_recording_is_named(tmp_path: Path) -> None:
    records = tmp_path / "stages"
    _stage(records, "ingest")
    summary = _summary(records, orchestrator_failed=True)
    assert summary.error is not None and summary.error.stage == "split"
    assert "before stage split recorded anything" in summary.error.message


def test_a_newer_or_foreign_summary_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"version": 99, "status": "succeeded"}))
    with pytest.raises(TrainpipeError, match="summary version 99"):
        RunSummary.load(path)
    path.write_text(json.dumps({"version": 1, "status": "succeeded"}))
    with pytest.raises(TrainpipeError, match="is not a run summary"):
        RunSummary.load(path)


def test_the_console_says_which_version_the_champion_comparison_made_what() -> None:
    from trainpipe_pipelines.local_run import print_summary

    model = {"name": "digits-cnn", "version": 1, "uri": "/r/1", "alias": "champion"}
    first = RunSummary(
        run="r", run_dir="/r", seconds=1.0, status="succeeded", model=model,
        promotion={"promote": True, "reason": "there was no digits-cnn@champion yet"},
    )  # fmt: skip
    lines: list[str] = []
    print_summary(first, lines.append)
    assert (
        "  champion: digits-cnn:1 is now digits-cnn@champion "
        "(there was no digits-cnn@champion yet)" in lines
    )
    kept = RunSummary(
        run="r", run_dir="/r", seconds=1.0, status="succeeded",
        model={**model, "version": 2, "alias": "challenger"},
        promotion={"promote": False, "reason": "keep champion: identical predictions"},
    )  # fmt: skip
    lines.clear()
    print_summary(kept, lines.append)
    assert (
        "  champion: digits-cnn:2 is now digits-cnn@challenger "
        "(keep champion: identical predictions)" in lines
    )
    unregistered = RunSummary(
        run="r",
        run_dir="/r",
        seconds=1.0,
        status="succeeded",
        promotion={"promote": False, "reason": "disabled"},
    )
    lines.clear()
    print_summary(unregistered, lines.append)
    assert "  champion: disabled" in lines


def test_a_local_run_leaves_print_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kfp.local swaps builtins.print for each task; tasks in parallel threads can leave its
    indenting one behind, and the run's last console lines then start with four spaces."""
    import builtins

    import trainpipe_pipelines.training_pipeline as pipeline_module
    from trainpipe_pipelines.local_run import run_pipeline_locally

    from trainpipe.config import RunConfig

    def leaky_pipeline(config_json: str) -> None:
        found = builtins.print
        builtins.print = lambda *args, **kwargs: found("    ", *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "training_pipeline", leaky_pipeline)
    original = builtins.print
    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    config = config.with_overrides({"registry.uri": str(tmp_path / "registry")})
    try:
        run_pipeline_locally(config, run_dir=tmp_path / "run", echo=lambda line: None)
        assert builtins.print is original
    finally:
        builtins.print = original

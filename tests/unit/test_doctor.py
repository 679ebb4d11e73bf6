"""Unit tests for trainpipe.doctor on synthetic run directories that follow the run contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainpipe.cli import main
from trainpipe.data.row_accounting import RowAccount
from trainpipe.doctor import DoctorReport, examine
from trainpipe.errors import TrainpipeError

pytestmark = pytest.mark.unit


def _row(epoch: int, train_loss: float, val_loss: float, **extra: float) -> dict[str, float]:
    return {
        "epoch": float(epoch),
        "train_loss": train_loss,
        "val_loss": val_loss,
        "train_accuracy": 0.95,
        "val_accuracy": 0.94,
        "learning_rate": 0.001,
        "seconds": 2.0,
        "samples_per_second": 500.0,
        "data_wait_seconds": 0.1,
        **extra,
    }


GOOD_HISTORY = [_row(e, 1.0 / e, 1.05 / e) for e in range(1, 6)]
GOOD_HISTORY[-1]["train_loss"] = GOOD_HISTORY[-2]["train_loss"] * 0.95  # converged


def _anomaly(kind: str, step: int, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {
        "type": "anomaly",
        "kind": kind,
        "run": "r1",
        "task": "train-op",
        "rank": 0,
        "epoch": 2,
        "global_step": step,
        "value": value,
        "threshold": threshold,
        "message": message,
        "time": "2026-01-01T00:00:00.000000Z",
    }


def make_run(
    tmp_path: Path,
    *,
    summary: dict[str, Any] | None = None,
    history: list[dict[str, float]] | None = None,
    events: list[dict[str, Any]] | None = None,
    sanity: dict[str, Any] | None = None,
    balance: dict[str, int] | None = None,
    config: dict[str, Any] | None = None,
    log: str = "",
) -> Path:
    """A run directory with a summary.json as pipelines/local_run.py writes it (whose artifact
    URIs name the model and the dataset, wherever they are)."""
    run = tmp_path / "run"
    events = events or []
    model = tmp_path / "store" / "model"
    dataset = tmp_path / "store" / "dataset"
    base: dict[str, Any] = {
        "version": 1,
        "status": "succeeded",
        "seconds": 60.0,
        "artifacts": {"model": str(model), "dataset": str(dataset)},
        "run": "run",
        "run_dir": str(run),
        "metrics": {"test": {"accuracy": 0.95, "f1_macro": 0.95}, "validation": {}},
        "diagnosis": {"verdict": "good fit", "reasons": ["curves converged"]},
        "blessed": True,
        "gate": {"blessed": True, "reason": "blessed: 1/1 thresholds hold", "checks": []},
        "baseline": {"beats": True, "baseline": "majority", "message": "ok"},
        "events": events,
        "anomalies": [e for e in events if e.get("type") == "anomaly"],
    }
    base.update(summary or {})
    model.mkdir(parents=True)
    metrics = {
        "history": GOOD_HISTORY if history is None else history,
        "events": events,
        "resources": [],
        "sanity": sanity,
    }
    (model / "metrics.json").write_text(json.dumps(metrics))
    dataset.mkdir(parents=True)
    stats = {"rows": 100, "class_balance": balance or {"a": 50, "b": 50}}
    (dataset / "stats.json").write_text(json.dumps(stats))
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config or {"task": "classification"}))
    (run / "pipeline.log").write_text(log)
    (run / "summary.json").write_text(json.dumps(base))
    return run


def kinds(report: DoctorReport) -> dict[str, str]:
    return {f.kind: f.severity for f in report.findings}


def test_a_healthy_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = examine(make_run(tmp_path))
    assert report.healthy and kinds(report) == {"healthy": "info"}
    assert report.findings[0].evidence == {"accuracy": 0.95, "f1_macro": 0.95}
    assert main(["doctor", str(tmp_path / "run")]) == 0
    assert "run run: succeeded, looks healthy" in capsys.readouterr().out


def test_injected_divergence_is_explained_with_its_numbers(tmp_path: Path) -> None:
    history = [_row(1, 0.9, 0.9), _row(2, 0.5, 0.6), _row(3, 7.5, 8.0), _row(4, 40.0, 45.0)]
    events = [
        _anomaly("divergence", 40, 12.5, 2.0, "loss median 12.5 > 4 x best 0.5"),
        _anomaly("divergence", 60, 30.0, 2.0, "loss median 30 > 4 x best 0.5"),
    ]
    run = make_run(
        tmp_path,
        history=history,
        events=events,
        summary={"diagnosis": {"verdict": "underfitting", "reasons": ["x", "y"]}},
    )
    report = examine(run)
    first = report.findings[0]
    assert (first.kind, first.severity) == ("divergence", "error")
    assert first.evidence["events"] == 2
    assert (first.evidence["first_step"], first.evidence["value"]) == (40, 12.5)
    assert "loss median 12.5" in first.explanation
    assert "train.learning_rate" in first.next_step
    assert "TRAINPIPE_INJECT_DIVERGENCE_AT_STEP" in first.next_step
    assert not report.healthy
    # The monitor's event explains it: no second divergence finding from the history.
    assert [f.kind for f in report.findings].count("divergence") == 1


def test_divergence_read_from_the_history_alone(tmp_path: Path) -> None:
    history = [_row(1, 0.9, 0.9), _row(2, 0.4, 0.5), _row(3, float("nan"), 9.0)]
    run = make_run(tmp_path, history=history)
    # json.dumps writes NaN; the doctor must still read it as a number.
    finding = next(f for f in examine(run).findings if f.kind == "divergence")
    assert finding.severity == "error"
    assert finding.evidence["non_finite_epochs"] == [3]
    assert "epoch history" in finding.title


def test_injected_loader_stall_is_explained(tmp_path: Path) -> None:
    history = [_row(1, 1.0, 1.0), _row(2, 0.6, 0.7, seconds=12.0, data_wait_seconds=10.0)]
    events = [
        _anomaly("loader_starvation", 25, 0.83, 0.5, "waiting for data took 83% of step time"),
        _anomaly("stall", 26, 0.05, 0.2, "samples/s fell to 5% of the usual"),
    ]
    report = examine(make_run(tmp_path, history=history, events=events))
    found = kinds(report)
    assert found["loader_starvation"] == "warning" and found["stall"] == "warning"
    starving = next(f for f in report.findings if f.kind == "loader_starvation")
    assert starving.evidence["value"] == 0.83 and starving.evidence["threshold"] == 0.5
    assert "TRAINPIPE_INJECT_STALL_AT_STEP" in starving.next_step
    assert "slow_input" not in found  # the event already covers it


def test_slow_input_pipeline_from_the_history(tmp_path: Path) -> None:
    history = [
        _row(1, 1.0, 1.0),
        _row(2, 0.5, 0.6, seconds=10.0, data_wait_seconds=6.0),
        _row(3, 0.4, 0.5),
    ]
    finding = next(
        f for f in examine(make_run(tmp_path, history=history)).findings if f.kind == "slow_input"
    )
    assert finding.evidence["worst_epoch"] == 2.0
    assert finding.evidence["worst_epoch_share"] == 0.6
    assert finding.evidence["share"] == round(6.2 / 14.0, 3)
    assert "60% in epoch 2" in finding.explanation


def test_failure_class_from_the_summary_and_from_the_log(tmp_path: Path) -> None:
    error = {
        "stage": "train",
        "type": "TrainingError",
        "message": "job failed",
        "failure_class": "host_oom",
        "action": "raise job.memory",
    }
    report = examine(make_run(tmp_path, summary={"status": "failed", "error": error}))
    first = report.findings[0]
    assert (first.kind, first.severity, first.next_step) == (
        "failure:host_oom",
        "error",
        "raise job.memory",
    )
    assert first.evidence["stage"] == "train"

    other = tmp_path / "other"
    other.mkdir()
    run = make_run(
        other,
        summary={"status": "failed", "error": {"stage": "train", "message": "job failed"}},
        log="step 3\nRuntimeError: CUDA out of memory. Tried to allocate 2 GiB\n",
    )
    first = examine(run).findings[0]
    assert first.kind == "failure:cuda_oom"
    assert "CUDA out of memory" in first.evidence["log"]
    assert "batch_size" in first.next_step


def test_a_sigkilled_worker_in_the_log_is_killed_not_unknown(tmp_path: Path) -> None:
    """The log of a run whose summary carries no class: torchrun's report of a worker that got
    SIGKILL, and no sign of memory."""
    log = (
        "    [node 0] Root Cause (first observed failure):\n"
        "    [node 0]   exitcode  : -9 (pid: 4242)\n"
        "    [node 0]   traceback : Signal 9 (SIGKILL) received by PID 4242\n"
    )
    error = {"stage": "train", "message": "training job failed: worker exit codes [1]"}
    run = make_run(tmp_path, summary={"status": "failed", "error": error}, log=log)
    first = examine(run).findings[0]
    assert first.kind == "failure:killed"
    assert "out of memory or an outside kill" in first.next_step


def test_overfitting_and_underfitting(tmp_path: Path) -> None:
    diagnosis = {
        "verdict": "overfitting",
        "reasons": ["validation loss rose from 0.3 to 0.6", "try more dropout"],
    }
    finding = next(
        f
        for f in examine(make_run(tmp_path, summary={"diagnosis": diagnosis})).findings
        if f.kind == "overfitting"
    )
    assert finding.explanation == "validation loss rose from 0.3 to 0.6"
    assert finding.next_step == "try more dropout"

    other = tmp_path / "u"
    other.mkdir()
    history = [dict(_row(e, 2.0 / e, 2.0 / e), train_accuracy=0.3) for e in range(1, 5)]
    run = make_run(other, history=history, summary={"diagnosis": None})
    assert kinds(examine(run))["underfitting"] == "warning"  # diagnosed from the history


def test_imbalance_warns_unless_handled(tmp_path: Path) -> None:
    balance = {"a": 90, "b": 10}
    finding = next(
        f for f in examine(make_run(tmp_path, balance=balance)).findings if f.kind == "imbalance"
    )
    assert finding.severity == "warning" and finding.evidence["ratio"] == 9.0
    assert "class_weights" in finding.next_step
    other = tmp_path / "h"
    other.mkdir()
    run = make_run(
        other,
        balance=balance,
        config={"task": "classification", "train": {"imbalance": "class_weights"}},
    )
    report = examine(run)
    assert kinds(report)["imbalance"] == "info" and report.healthy


def test_a_class_without_test_rows_is_a_warning_not_a_zero_recall(tmp_path: Path) -> None:
    per_class = {
        "big": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 30},
        "rare": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }
    test = {"accuracy": 0.9, "per_class": per_class}
    run = make_run(
        tmp_path,
        balance={"big": 90, "rare": 3},
        summary={"metrics": {"test": test, "validation": {}}},
    )
    report = examine(run)
    findings = {f.kind: f for f in report.findings}
    untested = findings["untested_classes"]
    assert untested.severity == "warning" and untested.evidence == {"classes": ["rare"]}
    assert "split.stratify: true" in untested.next_step
    recall = findings["imbalance"].evidence["test recall of rare"]
    assert recall == "not measured (no test rows)"
    assert not report.healthy


def test_baseline_gate_sanity_and_training_events(tmp_path: Path) -> None:
    sanity = {
        "overfit_one_batch": {"passed": False, "message": "loss 0.69 -> 0.6", "steps": 100},
        "splits": {"overlap": {"validation": 4}, "warnings": ["4 validation rows also in train"]},
    }
    events = [
        {"type": "non_finite", "at": "epoch 2 step 3", "action": "rollback", "global_step": 9},
        {"type": "out_of_memory", "at": "epoch 1", "micro_batches": 4, "global_step": 2},
        *(
            {"type": "membership", "nodes": nodes, "world_size": nodes, "global_step": step}
            for nodes, step in ((2, 0), (1, 40), (2, 51))
        ),
    ]
    summary = {
        "baseline": {
            "beats": False,
            "baseline": "majority",
            "metric": "accuracy",
            "model": 0.3,
            "baseline_value": 0.5,
            "message": "0.3 is not above 0.5",
        },
        "blessed": False,
        "gate": {
            "blessed": False,
            "reason": "not blessed: accuracy 0.3 < 0.9",
            "checks": [
                {"metric": "accuracy", "passed": False, "description": "accuracy 0.3 < 0.9"}
            ],
        },
    }
    report = examine(make_run(tmp_path, summary=summary, sanity=sanity, events=events))
    found = kinds(report)
    for kind in ("baseline", "overfit_one_batch", "split", "gate", "non_finite", "out_of_memory"):
        assert found[kind] == "warning", kind
    by_kind = {f.kind: f for f in report.findings}
    assert by_kind["baseline"].evidence == {
        "metric": "accuracy",
        "model": 0.3,
        "baseline_value": 0.5,
    }
    assert by_kind["gate"].evidence["failed_checks"] == ["accuracy 0.3 < 0.9"]
    assert by_kind["split"].evidence["overlap"] == {"validation": 4}
    assert by_kind["out_of_memory"].evidence["micro_batches"] == 4
    assert found["membership"] == "info"
    assert by_kind["membership"].evidence == {"nodes": [2, 1, 2], "from_steps": [0, 40, 51]}
    assert by_kind["baseline"].title == "the model does worse than the majority baseline"
    summary["baseline"] = {**summary["baseline"], "model": 0.5, "worse": False}
    tie = next(f for f in examine(make_run(tmp_path / "tie", summary=summary)).findings
               if f.kind == "baseline")  # fmt: skip
    assert tie.severity == "info" and tie.title == "the model ties with the majority baseline"


def test_the_baseline_message_does_not_point_the_doctor_at_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainpipe.train.sanity import _baseline_message

    message = _baseline_message(
        0.3, "linear", 0.5, {"linear": 0.5}, metric="accuracy", beats=False, worse=True,
        classification=True, chosen="linear",
    )  # fmt: skip
    assert "trainpipe doctor" in message  # what the console and the gate show
    summary = {
        "baseline": {"beats": False, "baseline": "linear", "metric": "accuracy", "model": 0.3,
                     "baseline_value": 0.5, "message": message},
    }  # fmt: skip
    report = examine(make_run(tmp_path, summary=summary))
    (finding,) = [f for f in report.findings if f.kind == "baseline"]
    assert finding.explanation.endswith("check the labels, features, learning rate and epochs")
    main(["doctor", str(tmp_path / "run")])
    assert "trainpipe doctor" not in capsys.readouterr().out


def test_json_output_and_summary_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, balance={"a": 1, "b": 0})
    assert main(["doctor", str(run / "summary.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"] == "run" and data["healthy"] is False
    assert data["findings"][0]["kind"] == "imbalance"
    assert set(data["findings"][0]) == {
        "kind",
        "severity",
        "title",
        "explanation",
        "next_step",
        "evidence",
    }


def test_unreadable_runs_name_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(TrainpipeError, match=f"run {missing} does not exist"):
        examine(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainpipeError, match=f"no summary.json in {empty}"):
        examine(empty)
    broken = tmp_path / "summary.json"
    broken.write_text("{not json")
    with pytest.raises(TrainpipeError, match="is not valid JSON"):
        examine(broken)
    assert main(["doctor", str(empty)]) == 1
    assert f"no summary.json in {empty}" in capsys.readouterr().err


def test_a_large_source_read_into_memory_is_noted_with_the_reason(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    stats_path = tmp_path / "store" / "dataset" / "stats.json"
    stats = json.loads(stats_path.read_text())
    stats["ingest_mode"] = {
        "mode": "memory",
        "reason": "data.categorical needs whole columns",
        "size_bytes": 900 * 2**20,
        "threshold_mb": 512,
    }
    stats_path.write_text(json.dumps(stats))
    report = examine(run)
    finding = next(f for f in report.findings if f.kind == "ingest_memory")
    assert finding.severity == "info" and report.healthy
    assert finding.explanation == "data.categorical needs whole columns"
    assert finding.evidence == {"size_mib": 900.0, "data.stream_threshold_mb": 512}


def test_rows_removed_beyond_a_few_percent_are_a_warning_with_each_rule(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    stats_path = tmp_path / "store" / "dataset" / "stats.json"
    stats = json.loads(stats_path.read_text())
    account = RowAccount(rows_in=1000)
    account.remove("duplicate_rows", 160)
    account.remove("missing_values", 40)
    stats["row_accounting"] = account.to_dict()
    stats_path.write_text(json.dumps(stats))
    finding = next(f for f in examine(run).findings if f.kind == "rows_removed")
    assert finding.severity == "warning"
    assert finding.title == "ingest removed 20.0% of the rows"
    assert "kept 800 of 1000 rows: 160 exact repeats" in finding.explanation
    assert "data.drop_duplicates" in finding.explanation
    account = RowAccount(rows_in=1000)
    account.remove("missing_values", 20)
    stats["row_accounting"] = account.to_dict()
    stats_path.write_text(json.dumps(stats))
    assert not [f for f in examine(run).findings if f.kind == "rows_removed"]


def test_skipped_files_and_near_duplicates_are_explained(tmp_path: Path) -> None:
    train = tmp_path / "store" / "train"
    run = make_run(tmp_path, summary={"artifacts": {
        "model": str(tmp_path / "store" / "model"), "dataset": str(tmp_path / "store" / "dataset"),
        "train": str(train)}})  # fmt: skip
    stats_path = tmp_path / "store" / "dataset" / "stats.json"
    stats = json.loads(stats_path.read_text())
    stats["image"] = {"files": 90, "skipped_files": 10,
                      "skipped": [{"file": "photos/cat/7.png", "error": "truncated"}]}  # fmt: skip
    stats_path.write_text(json.dumps(stats))
    train.mkdir(parents=True)
    message = "12 of 270 test rows (4.4%) lie within 0.01 (RMS over ...) of a train row"
    (train / "quality.json").write_text(
        json.dumps([{"check": "near_duplicates", "severity": "warn", "message": message,
                     "columns": [], "rows": 12}])
    )  # fmt: skip
    findings = {f.kind: f for f in examine(run).findings}
    skipped = findings["files_skipped"]
    assert skipped.severity == "warning" and skipped.title.startswith("ingest skipped 10 of 100")
    assert "photos/cat/7.png" in skipped.explanation
    near = findings["near_duplicates"]
    assert near.title == "12 validation/test rows nearly copy a train row"
    assert near.explanation == message

"""The run summary: one typed document per pipeline run, built from its stage records.

:func:`summarize` turns the stage records (:mod:`trainpipe.runs.stages`) into a
:class:`RunSummary`: the status, every stage's wall, core and overhead seconds, the test and
validation metrics, the gate, the promotion, the tuning outcome, the registered version, the
training events (from the model's metrics, or from a failed job's failure record), the first
error, and the artifact URIs a later reader needs (the dataset, the model, the reports). It
reads only what the records name, through the storage layer.
``trainpipe run`` writes it as ``summary.json``; ``trainpipe doctor`` reads it back with
:meth:`RunSummary.load`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainpipe.errors import StorageError, TrainpipeError
from trainpipe.runs.stages import STAGES, StageRecord
from trainpipe.train.failure import FAILURE_KEY

__all__ = ["SUMMARY_VERSION", "RunError", "RunSummary", "StageSummary", "summarize"]

SUMMARY_VERSION = 1
"""Bumped when a field changes meaning; :meth:`RunSummary.from_dict` refuses newer versions."""
METRICS_KEY = "metrics.json"
"""The training job's metrics in the model artifact (history, events, resources, sanity)."""


@dataclass(kw_only=True)
class StageSummary:
    """One stage (or one worker of a fan-out) in the summary."""

    name: str
    status: Literal["running", "succeeded", "failed", "skipped"]
    seconds: float = 0.0
    """Wall time from the start of the stage's process to its end."""
    core_seconds: float = 0.0
    """Time inside the core function."""
    overhead_seconds: float = 0.0
    """``seconds - core_seconds``: interpreter start, imports, executor, marshalling."""

    @classmethod
    def of(cls, record: StageRecord) -> StageSummary:
        """The summary line of a stage record."""
        return cls(
            name=record.name,
            status=record.status,
            seconds=round(record.seconds, 3),
            core_seconds=round(record.core_seconds, 3),
            overhead_seconds=round(record.overhead_seconds, 3),
        )


@dataclass(kw_only=True)
class RunError:
    """The first error of a failed run."""

    stage: str
    message: str
    type: str = ""
    failure_class: str = ""
    action: str = ""


@dataclass(kw_only=True)
class RunSummary:
    """Everything a person or a tool wants to know about a finished run."""

    version: int = SUMMARY_VERSION
    status: Literal["succeeded", "failed"]
    run: str
    run_dir: str
    seconds: float
    stages: list[StageSummary] = field(default_factory=list)
    overhead_seconds: float = 0.0
    """Summed over the stages (workers of a fan-out overlap, so this can exceed the wall time)."""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``test`` (the evaluate step) and ``validation`` (the validate step) metrics."""
    diagnosis: dict[str, Any] | None = None
    blessed: bool = False
    gate: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    tuning: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    """The registered version: ``name``, ``version``, ``uri``, ``alias``."""
    report: str | None = None
    statistics: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    """URIs of the run's artifacts: dataset, train/validation/test, model, evaluation, ..."""
    events: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, Any] = field(default_factory=dict)
    """The MLflow run the pipeline run is tracked in (``mlflow_run_id``, ``experiment``,
    ``uri``) and ``failures``: every stage's MLflow calls that failed or were skipped (the
    training job's counted in the train stage's). Empty when ``tracking.mlflow`` is."""
    error: RunError | None = None
    log: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether every stage that ran succeeded."""
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "run summary") -> RunSummary:
        """Inverse of :meth:`to_dict`; raises TrainpipeError naming ``origin`` when it is not a
        summary this version of trainpipe understands."""
        version = data.get("version")
        if not isinstance(version, int) or version > SUMMARY_VERSION:
            raise TrainpipeError(
                f"{origin} has summary version {version!r}; this trainpipe reads versions up to "
                f"{SUMMARY_VERSION}: rerun the pipeline or upgrade trainpipe"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        try:
            values["stages"] = [StageSummary(**s) for s in values.get("stages", [])]
            if isinstance(values.get("error"), dict):
                values["error"] = RunError(**values["error"])
            return cls(**values)
        except TypeError as exc:
            raise TrainpipeError(f"{origin} is not a run summary: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> RunSummary:
        """Read ``summary.json``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TrainpipeError(f"run summary {path} is not valid JSON ({exc})") from exc
        except OSError as exc:
            raise TrainpipeError(f"cannot read run summary {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise TrainpipeError(f"run summary {path} must hold a JSON object")
        return cls.from_dict(data, origin=f"run summary {path}")

    def write(self, path: str | Path) -> Path:
        """Write ``summary.json`` (parents created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, default=str) + "\n"
        path.write_text(text, encoding="utf-8")
        return path


def summarize(
    records: Sequence[StageRecord],
    *,
    run: str,
    run_dir: str,
    seconds: float,
    orchestrator_failed: bool = False,
    expected: Sequence[str] = STAGES,
) -> RunSummary:
    """Build the summary of a run from its stage records.

    ``orchestrator_failed``: the orchestrator reported the run failed (a stage may have died
    before it could record anything). ``expected``: the stages the pipeline has, in order; those
    without a record are ``skipped`` (or, in a failed run, the first of them is where it stopped).
    """
    by_stage: dict[str, list[StageRecord]] = {}
    for record in records:
        by_stage.setdefault(record.stage, []).append(record)
    outputs = {stage: _merged_outputs(items) for stage, items in by_stage.items()}
    stages = [StageSummary.of(r) for r in records]
    stages += [
        StageSummary(name=stage, status="skipped") for stage in expected if stage not in by_stage
    ]
    order = {stage: i for i, stage in enumerate(expected)}
    stages.sort(key=lambda s: order.get(s.name.split("[")[0], len(order)))
    failed = [r for r in records if r.status != "succeeded"]
    status: Literal["succeeded", "failed"] = (
        "failed" if failed or orchestrator_failed else "succeeded"
    )
    summary = RunSummary(
        status=status,
        run=run,
        run_dir=run_dir,
        seconds=round(seconds, 2),
        stages=stages,
        overhead_seconds=round(sum(r.overhead_seconds for r in records), 2),
        artifacts=_artifacts(outputs),
    )
    _fill_results(summary, outputs)
    summary.tracking = _tracking(records)
    if status == "failed":
        summary.error = _first_error(failed, stages, run_dir)
    return summary


def _merged_outputs(records: list[StageRecord]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for record in records:
        merged.update(record.outputs)
    return merged


_ARTIFACTS = {
    "ingest": ("dataset", "statistics"),
    "split": ("train", "validation", "test"),
    "tune-select": ("trials", "tuning_report"),
    "train": ("model",),
    "validate": ("curves",),
    "evaluate": ("evaluation", "report"),
}


def _artifacts(outputs: dict[str, dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for stage, names in _ARTIFACTS.items():
        for name in names:
            uri = outputs.get(stage, {}).get(name)
            if isinstance(uri, str) and uri:
                found[name] = uri
    return found


def _fill_results(summary: RunSummary, outputs: dict[str, dict[str, Any]]) -> None:
    artifacts = summary.artifacts
    evaluation = _read_json(artifacts.get("evaluation"))
    validation = outputs.get("validate", {})
    summary.metrics = {
        "test": dict(evaluation.get("metrics") or {}),
        "validation": dict(validation.get("metrics") or {}),
    }
    summary.diagnosis = validation.get("diagnosis")
    summary.gate = evaluation.get("gate")
    summary.blessed = bool((summary.gate or {}).get("blessed", False))
    summary.promotion = evaluation.get("promotion")
    summary.baseline = evaluation.get("baseline")
    tuning = _read_json(artifacts.get("trials"))
    summary.tuning = {k: v for k, v in tuning.items() if k != "trials"}
    if "tuning_report" in artifacts:
        summary.tuning["report"] = artifacts["tuning_report"]
    summary.report = artifacts.get("report")
    summary.statistics = artifacts.get("statistics")
    registered = outputs.get("register", {})
    if registered.get("version") is not None:
        summary.model = {
            key: registered[key] for key in ("name", "version", "uri", "alias") if key in registered
        }
    model = (artifacts.get("model") or "").rstrip("/")
    # A training job that failed wrote no metrics, only its failure record of what it saw.
    training = _read_json(f"{model}/{METRICS_KEY}" if model else None) or _read_json(
        f"{model}/{FAILURE_KEY}" if model else None
    )
    summary.events = [e for e in training.get("events", []) if isinstance(e, dict)]
    summary.anomalies = [e for e in summary.events if e.get("type") == "anomaly"]


def _tracking(records: Sequence[StageRecord]) -> dict[str, Any]:
    """The stages' tracking summaries as one: the run they found, their failures added up."""
    found: dict[str, Any] = {}
    failures = 0
    for record in records:
        tracking = record.outputs.get("tracking")
        if not isinstance(tracking, dict):
            continue
        failures += int(tracking.get("failures", 0) or 0)
        for key in ("mlflow_run_id", "experiment", "uri"):
            if tracking.get(key):
                found[key] = tracking[key]
        for error in tracking.get("errors") or []:
            found.setdefault("errors", [])
            if len(found["errors"]) < 3:
                found["errors"].append(f"{record.name}: {error}")
    return {**found, "failures": failures} if found or failures else {}


def _first_error(failed: list[StageRecord], stages: list[StageSummary], run_dir: str) -> RunError:
    log = Path(run_dir) / "pipeline.log"
    for record in failed:
        if record.error is not None:
            return RunError(stage=record.name, **dataclasses.asdict(record.error))
    if failed:  # still "running": its process died without recording why
        name = failed[0].name
        return RunError(stage=name, message=f"stage {name} died before it finished; see {log}")
    missing = next((s.name for s in stages if s.status == "skipped"), "pipeline")
    return RunError(
        stage=missing,
        message=f"the orchestrator failed the run before stage {missing} recorded anything; "
        f"see {log}",
    )


def _read_json(uri: str | None) -> dict[str, Any]:
    """The JSON object at ``uri`` (a file path or URI), or ``{}`` when there is none."""
    if not uri:
        return {}
    from trainpipe.storage.factory import open_store

    parent, _, name = uri.rstrip("/").rpartition("/")
    try:
        store = open_store(parent or ".")
        data = store.read_json(name) if store.exists(name) else {}
    except (StorageError, json.JSONDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

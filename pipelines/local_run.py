"""Run the training pipeline on this machine with ``kfp.local`` and summarize it.

Components run as subprocesses of the current Python environment (``SubprocessRunner``); the train
step launches torchrun processes through the local job backend; artifacts land in the run directory;
tuning workers share a journal file. The full log goes to ``<run>/pipeline.log``; the console shows
one line per stage; ``summary.json`` records the outcome.
"""

import contextlib
import io
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from trainpipe.config import RunConfig
from trainpipe.storage import is_remote_uri

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXECUTING = re.compile(r"Executing task '([^']+)'")
FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
ERROR_LINE = re.compile(r"trainpipe\.errors\.(\w+Error): (.*)")
PIPELINE_DONE = re.compile(r"Pipeline '[^']+' finished with status (\w+)")
FAILURE_CLASS = re.compile(r"\[trainpipe\] failure class: (\w+); action: (.*)")

STAGES = {
    "ingest-op": "ingest",
    "split-op": "split",
    "tune-setup-op": "tune-setup",
    "tune-worker-op": "tune",
    "tune-select-op": "tune-select",
    "train-op": "train",
    "validate-op": "validate",
    "evaluate-op": "evaluate",
    "register-op": "register",
}


@dataclass
class StageRecord:
    """One stage's outcome as the local orchestrator reported it."""

    name: str
    status: str = "running"
    seconds: float = 0.0
    started: float = 0.0
    runs: int = 0
    active: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The summary's view of the stage."""
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "runs": self.runs,
        }


@dataclass
class LogWatcher:
    """Reads the orchestrator's output line by line: stage timings, errors, the final status."""

    sink: TextIO
    echo: Callable[[str], None]
    verbose: bool = False
    stages: dict[str, StageRecord] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    current: str = ""
    pipeline_status: str = ""
    failure: dict[str, str] = field(default_factory=dict)

    def line(self, raw: str) -> None:
        """Consume one line of output."""
        text = ANSI.sub("", raw)
        self.sink.write(text + "\n")
        if self.verbose:
            self.echo(text)
        if match := EXECUTING.search(text):
            self._start(STAGES.get(match.group(1), match.group(1)))
        elif match := FINISHED.search(text):
            self._finish(STAGES.get(match.group(1), match.group(1)), match.group(2))
        elif match := PIPELINE_DONE.search(text):
            self.pipeline_status = match.group(1)
        elif match := FAILURE_CLASS.search(text):
            self.failure = {"class": match.group(1), "action": match.group(2).strip()}
        elif match := ERROR_LINE.search(text):
            self.errors.append((self.current, f"{match.group(1)}: {match.group(2).strip()}"))

    def _start(self, name: str) -> None:
        record = self.stages.setdefault(name, StageRecord(name=name))
        if not record.runs:
            record.started = time.monotonic()
        record.runs += 1
        record.active += 1
        self.current = name

    def _finish(self, name: str, status: str) -> None:
        # Wall time from the first start to the last finish: parallel workers overlap.
        record = self.stages.setdefault(name, StageRecord(name=name))
        record.seconds = time.monotonic() - record.started if record.started else 0.0
        record.active -= 1
        succeeded = status.upper() == "SUCCESS"
        if record.status != "failed":
            record.status = "succeeded" if succeeded else "failed"
        if not self.verbose and record.active <= 0:
            succeeded = record.status == "succeeded"
            name = f"{name} x{record.runs}" if record.runs > 1 else name
            mark = "ok  " if succeeded else "FAIL"
            self.echo(f"  {mark} {name:<12} {record.seconds:7.1f}s")


class _LineTee(io.TextIOBase):
    """A stdout replacement that hands every complete line to a callback."""

    def __init__(self, on_line: Callable[[str], None]):
        self.on_line = on_line
        self.buffer_ = ""

    def write(self, text: str) -> int:
        self.buffer_ += text
        *lines, self.buffer_ = self.buffer_.split("\n")
        for line in lines:
            self.on_line(line)
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def _capture(watcher: LogWatcher) -> Iterator[None]:
    tee = _LineTee(watcher.line)
    with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
        yield
    if tee.buffer_:
        watcher.line(tee.buffer_)


def prepare_config(config: RunConfig, run_dir: Path) -> RunConfig:
    """Fill in what a laptop run needs: an absolute registry path and a journal for tuning."""
    overrides: dict[str, Any] = {}
    if not is_remote_uri(config.registry.uri):
        overrides["registry.uri"] = str(Path(config.registry.uri).expanduser().resolve())
    source = config.data.source
    if not source.startswith("builtin:") and not is_remote_uri(source):
        overrides["data.source"] = str(Path(source).expanduser().resolve())
    if not config.tune.storage:
        overrides["tune.storage"] = f"journal://{run_dir.resolve() / 'tuning' / 'study.journal'}"
    if not config.tune.study_name:
        overrides["tune.study_name"] = f"{config.name}-{run_dir.name}"
    return config.with_overrides(overrides, origin="local run") if overrides else config


def run_pipeline_locally(
    config: RunConfig,
    *,
    run_dir: Path,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run the pipeline with kfp.local in ``run_dir`` and return the run summary."""
    from kfp import local
    from trainpipe_pipelines.training_pipeline import training_pipeline

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "tuning").mkdir(exist_ok=True)
    config = prepare_config(config, run_dir)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    log_path = run_dir / "pipeline.log"
    console = sys.stdout
    if echo is print:
        echo = lambda text: print(text, file=console, flush=True)  # noqa: E731
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as sink:
        watcher = LogWatcher(sink=sink, echo=echo, verbose=verbose)
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(run_dir / "artifacts"),
            raise_on_error=False,
        )
        with _capture(watcher):
            training_pipeline(
                config_json=config.to_json(),
                tune_workers=list(range(config.tune.parallel_trials)),
            )
    summary = summarize_run(run_dir, watcher, config, seconds=time.monotonic() - started)
    summary["log"] = str(log_path)
    return summary


def _task_outputs(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Executor outputs of every task, keyed by task name (a ParallelFor task has several)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((run_dir / "artifacts").glob("**/executor_output.json")):
        found.setdefault(path.parent.name, []).append(json.loads(path.read_text()))
    return found


def _parameter(outputs: dict[str, list[dict[str, Any]]], task: str, name: str) -> Any:
    for output in outputs.get(task, []):
        if name in output.get("parameterValues", {}):
            return output["parameterValues"][name]
    return None


def _artifact_uri(run_dir: Path, task: str, name: str) -> Path | None:
    for path in (run_dir / "artifacts").glob(f"**/{task}/{name}"):
        return path
    return None


def summarize_run(
    run_dir: Path, watcher: LogWatcher, config: RunConfig, *, seconds: float
) -> dict[str, Any]:
    """Build ``summary.json`` from the orchestrator's log and the tasks' outputs."""
    outputs = _task_outputs(run_dir)
    failed = [s for s in watcher.stages.values() if s.status != "succeeded"]
    succeeded = watcher.pipeline_status.upper() == "SUCCESS" and not failed
    evaluation_path = _artifact_uri(run_dir, "evaluate-op", "evaluation")
    evaluation = json.loads(evaluation_path.read_text()) if evaluation_path else {}
    report = _artifact_uri(run_dir, "evaluate-op", "report")
    version = _parameter(outputs, "register-op", "version")
    stats_path = _artifact_uri(run_dir, "ingest-op", "statistics")
    trials_path = _artifact_uri(run_dir, "tune-select-op", "trials")
    tuning = json.loads(trials_path.read_text()) if trials_path else {}
    tuning_report = _artifact_uri(run_dir, "tune-select-op", "report")
    if tuning_report:
        tuning["report"] = str(tuning_report)
    validation = _artifact_metadata(outputs, "validate-op", "metrics")
    summary: dict[str, Any] = {
        "status": "succeeded" if succeeded else "failed",
        "run": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "seconds": round(seconds, 2),
        "stages": _stage_list(watcher),
        "metrics": {
            "test": evaluation.get("metrics", {}),
            "validation": {k: v for k, v in validation.items() if k != "diagnosis"},
        },
        "diagnosis": validation.get("diagnosis"),
        "blessed": bool((evaluation.get("gate") or {}).get("blessed", False)),
        "gate": evaluation.get("gate"),
        "promotion": evaluation.get("promotion"),
        "baseline": evaluation.get("baseline"),
        "tuning": {k: v for k, v in tuning.items() if k != "trials"},
        "model": None,
        "report": str(report) if report else None,
        "statistics": str(stats_path) if stats_path else None,
    }
    summary["events"] = _training_events(run_dir)
    summary["anomalies"] = [e for e in summary["events"] if e.get("type") == "anomaly"]
    if version is not None:
        summary["model"] = {
            "name": _parameter(outputs, "register-op", "name"),
            "version": int(version),
            "uri": _parameter(outputs, "register-op", "uri"),
        }
    if not succeeded:
        stage = failed[0].name if failed else ""
        message = next((m for s, m in watcher.errors if s == stage), None)
        if message is None and watcher.errors:
            message = watcher.errors[0][1]
        summary["error"] = {
            "stage": stage,
            "message": message or f"stage {stage or '?'} failed; see {run_dir / 'pipeline.log'}",
        }
        if watcher.failure:
            summary["error"]["failure"] = watcher.failure
    return summary


def _training_events(run_dir: Path) -> list[dict[str, Any]]:
    """The training job's events (rollbacks, OOM back-offs, anomalies) from its metrics.json."""
    from trainpipe.train.artifacts import METRICS_KEY

    model = _artifact_uri(run_dir, "train-op", "model")
    path = model / METRICS_KEY if model else None
    if path is None or not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("events", []))


def _stage_list(watcher: LogWatcher) -> list[dict[str, Any]]:
    """Every stage in pipeline order; those that never ran are ``skipped``."""
    records = dict(watcher.stages)
    ordered = [
        records.pop(name, StageRecord(name=name, status="skipped")) for name in STAGES.values()
    ]
    return [r.to_dict() for r in [*ordered, *records.values()]]


def _artifact_metadata(
    outputs: dict[str, list[dict[str, Any]]], task: str, name: str
) -> dict[str, Any]:
    for output in outputs.get(task, []):
        artifacts = output.get("artifacts", {}).get(name, {}).get("artifacts", [])
        if artifacts:
            return dict(artifacts[0].get("metadata", {}))
    return {}


def print_summary(summary: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    """A readable summary of a run for the console."""
    echo("")
    echo(f"run {summary['run']}: {summary['status']} in {summary['seconds']:.1f}s")
    test = summary["metrics"]["test"]
    shown = [
        k
        for k in (
            "accuracy",
            "f1_macro",
            "precision_macro",
            "recall_macro",
            "roc_auc",
            "rmse",
            "mae",
            "r2",
            "latency_p50_ms",
            "latency_p95_ms",
        )
        if k in test
    ]
    if shown:
        echo("  test: " + ", ".join(f"{k}={test[k]:.4f}" for k in shown))
    if summary.get("diagnosis"):
        echo(f"  fit: {summary['diagnosis']['verdict']}")
    if summary.get("gate"):
        echo(f"  gate: {summary['gate']['reason']}")
    if summary.get("model"):
        model = summary["model"]
        echo(f"  registered: {model['name']}:{model['version']} at {model['uri']}")
    if summary.get("promotion"):
        echo(f"  champion: {summary['promotion'].get('reason', '')}")
    if summary.get("report"):
        echo(f"  report: {summary['report']}")
    if summary.get("error"):
        echo(f"  error in {summary['error']['stage']}: {summary['error']['message']}")
    echo(f"  log: {summary.get('log')}")


def write_summary(summary: dict[str, Any], path: Path) -> Path:
    """Write ``summary.json``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - use `trainpipe run`
    sys.exit("use: trainpipe run --config FILE")

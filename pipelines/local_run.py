"""Run the training pipeline on this machine with ``kfp.local`` and summarize it.

Components run as subprocesses of the current Python environment (``SubprocessRunner``); the train
step launches torchrun processes through the local job backend; artifacts land in the run
directory; tuning workers share a journal file. Every stage writes its stage record to
``<run>/stages/`` (:mod:`trainpipe.runs.stages`): a watcher thread prints a console line as each
stage (each tuning worker) finishes, and :func:`trainpipe.runs.summary.summarize` turns the
records into ``summary.json``. The orchestrator's own output goes, whole, to ``<run>/pipeline.log``;
nothing here reads its wording or its folder layout.
"""

import builtins
import contextlib
import functools
import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from trainpipe.config import RunConfig
from trainpipe.runs.stages import StageRecord, read_records
from trainpipe.runs.summary import RunSummary, summarize
from trainpipe.storage.uri import is_remote_uri

STAGE_RECORDS = "stages"
"""The run directory's folder of stage records."""
POLL_SECONDS = 0.25


class StageWatcher:
    """Prints one console line as each stage record turns ``succeeded`` or ``failed``, then the
    notices the stage left in its outputs (what ingest decided about columns and rows)."""

    def __init__(self, location: Path, echo: Callable[[str], None]) -> None:
        self.location = location
        self.echo = echo
        self.shown: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stage-watcher", daemon=True)

    def __enter__(self) -> "StageWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # whatever finished between the last poll and the end

    def poll(self) -> None:
        """Show every record that finished since the last poll."""
        if self.location.is_dir():
            self.show(read_records(str(self.location)))

    def show(self, records: list[StageRecord]) -> None:
        """Show those of ``records`` that finished and were not shown yet."""
        for record in records:
            if record.status != "running" and record.name not in self.shown:
                self.shown.add(record.name)
                self.echo(stage_line(record))
                for notice in record.outputs.get("notices") or []:
                    self.echo(f"       {str(notice).removeprefix('[trainpipe] ')}")

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()


def _echo_line(console: TextIO, text: str) -> None:
    """One console line in one write: ``print`` writes the text and the newline apart, and a
    line written between the two by another thread would run into this one."""
    console.write(f"{text}\n")
    console.flush()


def stage_line(record: StageRecord) -> str:
    """``  ok   train   23.4s  (core 19.9s, overhead 3.5s)``."""
    mark = "ok  " if record.status == "succeeded" else "FAIL"
    return (
        f"  {mark} {record.name:<15} {record.seconds:6.1f}s  "
        f"(core {record.core_seconds:.1f}s, overhead {record.overhead_seconds:.1f}s)"
    )


class _LineSink(io.TextIOBase):
    """A stdout replacement that writes everything to the log and, verbose, to the console."""

    def __init__(self, log: TextIO, echo: Callable[[str], None] | None) -> None:
        self.log = log
        self.echo = echo
        self.pending = ""

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.echo is not None:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                self.echo(line)
        return len(text)

    def flush(self) -> None:
        self.log.flush()


@contextlib.contextmanager
def _capture(log: TextIO, echo: Callable[[str], None] | None) -> Iterator[None]:
    sink = _LineSink(log, echo)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield
    if echo is not None and sink.pending:
        echo(sink.pending)


@contextlib.contextmanager
def _print_kept() -> Iterator[None]:
    """Put ``builtins.print`` back as it was on the way out. kfp.local indents a task's output by
    swapping ``builtins.print`` for the task and restoring the one it found; two tasks in
    parallel threads (the tuning workers) can each find the other's, and the indenting one
    stays: every later ``print`` then starts with four spaces (``      summary: ...``)."""
    kept = builtins.print
    try:
        yield
    finally:
        builtins.print = kept


def prepare_config(config: RunConfig, run_dir: Path) -> RunConfig:
    """Fill in what a laptop run needs: absolute local paths, a journal for tuning, and the
    run directory's stage records."""
    overrides: dict[str, Any] = {"stage_records": str((run_dir / STAGE_RECORDS).resolve())}
    if not is_remote_uri(config.registry.uri):
        overrides["registry.uri"] = str(Path(config.registry.uri).expanduser().resolve())
    source = config.data.source
    if not source.startswith("builtin:") and not is_remote_uri(source):
        overrides["data.source"] = str(Path(source).expanduser().resolve())
    if not config.tune.storage:
        overrides["tune.storage"] = f"journal://{run_dir.resolve() / 'tuning' / 'study.journal'}"
    if not config.tune.study_name:
        overrides["tune.study_name"] = f"{config.name}-{run_dir.name}"
    from trainpipe.usercode.activation import pack_config_code

    return pack_config_code(config.with_overrides(overrides, origin="local run"))


def run_pipeline_locally(
    config: RunConfig,
    *,
    run_dir: Path,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
) -> RunSummary:
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
        echo = functools.partial(_echo_line, console)
    started = time.monotonic()
    failed = False
    with log_path.open("w", encoding="utf-8") as log:
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(run_dir / "artifacts"),
            raise_on_error=True,
        )
        watcher = None if verbose else StageWatcher(run_dir / STAGE_RECORDS, echo)
        with (
            watcher or contextlib.nullcontext(),
            _capture(log, echo if verbose else None),
            _print_kept(),
        ):
            try:
                training_pipeline(config_json=config.to_json())
            except RuntimeError as exc:  # kfp.local: "Pipeline ... finished with status FAILURE"
                print(f"[trainpipe] the orchestrator failed the run: {exc}")
                failed = True
    records = read_records(config.stage_records)
    if watcher is not None:  # the console shows every stage the summary holds
        watcher.show(records)
    summary = summarize(
        records,
        run=run_dir.name,
        run_dir=str(run_dir.resolve()),
        seconds=time.monotonic() - started,
        orchestrator_failed=failed,
    )
    summary.log = str(log_path)
    return summary


def champion_line(summary: RunSummary) -> str:
    """What the champion comparison did: ``digits-cnn:2 is now digits-cnn@challenger (keep
    champion: ...)``; only its reason when no version was registered."""
    promotion = summary.promotion or {}
    reason = str(promotion.get("reason", ""))
    model = summary.model or {}
    if not model.get("alias"):
        return reason
    name = model.get("name", "")
    return f"{name}:{model.get('version')} is now {name}@{model['alias']} ({reason})"


def print_summary(summary: RunSummary, echo: Callable[[str], None] = print) -> None:
    """A readable summary of a run for the console."""
    echo("")
    echo(
        f"run {summary.run}: {summary.status} in {summary.seconds:.1f}s "
        f"(stage overhead {summary.overhead_seconds:.1f}s)"
    )
    test = summary.metrics.get("test", {})
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
        if isinstance(test.get(k), int | float)
    ]
    if shown:
        echo("  test: " + ", ".join(f"{k}={test[k]:.4f}" for k in shown))
    if summary.diagnosis:
        echo(f"  fit: {summary.diagnosis['verdict']} (learning curves; the gate compares scores)")
    if summary.gate:
        echo(f"  gate: {summary.gate['reason']}")
    if summary.model:
        model = summary.model
        echo(f"  registered: {model['name']}:{model['version']} at {model['uri']}")
    if summary.promotion:
        echo(f"  champion: {champion_line(summary)}")
    if summary.report:
        echo(f"  report: {summary.report}")
    if summary.tracking:
        tracking = summary.tracking
        failed = tracking.get("failures", 0)
        echo(
            f"  tracking: MLflow run {tracking.get('mlflow_run_id') or '(none)'} in experiment "
            f"{tracking.get('experiment', '')} at {tracking.get('uri', '')}"
            + (f" ({failed} MLflow call(s) failed or were skipped)" if failed else "")
        )
    if summary.error:
        echo(f"  error in {summary.error.stage}: {summary.error.message}")
    echo(f"  log: {summary.log}")


if __name__ == "__main__":  # pragma: no cover - use `trainpipe run`
    sys.exit("use: trainpipe run --config FILE")

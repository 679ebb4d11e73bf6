"""``trainpipe train``: ingest, split and train outside the pipeline, recorded like a run.

The output location receives the model (:mod:`trainpipe.train.artifacts`) and, in ``stages/``,
a stage record for each of ``ingest``, ``split`` and ``train`` (:mod:`trainpipe.runs.stages`).
With ``tracking.mlflow`` set, the training is an MLflow run of its own, as a pipeline's train
stage tracks it (:mod:`trainpipe.tracking.stages`), ended when training ends.
When a stage fails, the output holds no model files but a ``summary.json``
(:class:`~trainpipe.runs.summary.RunSummary`) with the error, its failure class and action and
the training events logged before the failure, which ``trainpipe doctor OUTPUT`` explains. The
training checkpoints stay, so rerunning the same command resumes; a rerun that succeeds removes
the earlier failure's summary, and every attempt replaces the previous attempt's stage records.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from trainpipe.config import RunConfig
from trainpipe.errors import StorageError
from trainpipe.launch.base import JobBackend
from trainpipe.launch.diagnose import diagnose_exception
from trainpipe.launch.train_job import TrainResult, train_model
from trainpipe.runs.stages import read_records, record_stage
from trainpipe.runs.summary import RunError, RunSummary, summarize
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, join_uri, parse_uri
from trainpipe.tracking.stages import log_config, log_training, tracked_stage

__all__ = ["RECORDS", "STANDALONE_STAGES", "SUMMARY_KEY", "train_standalone"]

STANDALONE_STAGES = ("ingest", "split", "train")
"""The stages ``trainpipe train`` runs, in order."""
RECORDS = "stages"
"""The output's folder of stage records."""
SUMMARY_KEY = "summary.json"
"""The summary of a failed attempt, in the output location."""


def train_standalone(
    config: RunConfig,
    output: str,
    *,
    log: Callable[[str], None] = print,
    backend: JobBackend | None = None,
) -> TrainResult:
    """Ingest and split the configured data into a temporary folder and train to ``output``
    (on ``backend``, default: the one ``train.backend`` names).

    Raises:
        TrainpipeError: a stage failed (after ``summary.json`` was written to ``output``).
    """
    store = open_store(output)
    records = join_uri(output, RECORDS)
    _clear_records(store)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="trainpipe-train-") as tmp:
            from trainpipe.data.ingest import ingest
            from trainpipe.data.split import split_dataset

            data = {name: str(Path(tmp) / name) for name in ("dataset", "train", "val", "test")}
            with record_stage(records, "ingest", log=log) as stage, stage.core():
                ingest(config, data["dataset"])
            split = record_stage(records, "split", log=log, started_at=time.time())
            with split as stage, stage.core():
                split_dataset(config, data["dataset"], data["train"], data["val"], data["test"])
            train = record_stage(records, "train", log=log, started_at=time.time())
            with (
                train as stage,
                tracked_stage(config, "train", outputs=stage.outputs, log=log) as tracking,
            ):
                log_config(tracking, config)
                stage.outputs["model"] = _absolute(output)
                with stage.core():
                    result = train_model(
                        config,
                        train_data=data["train"],
                        validation_data=data["val"],
                        output=output,
                        log=log,
                        backend=backend,
                        tracking_run=tracking.mlflow_run_id,
                    )
                log_training(tracking, result)
                tracking.finish("FINISHED")  # no later stage: the run ends with training
                stage.outputs.update(world_size=result.world_size, final=result.final)
    except Exception as exc:
        summary = failure_summary(config, output, exc, seconds=time.monotonic() - started)
        try:
            store.write_json(SUMMARY_KEY, summary.to_dict())
        except StorageError as err:
            log(f"[trainpipe] warning: cannot write {SUMMARY_KEY} to {output}: {err}")
        else:
            log(f"[trainpipe] the failure is recorded in {store.uri_for(SUMMARY_KEY)}")
            log(f"[trainpipe] explain it with: trainpipe doctor {output}")
        raise
    if store.exists(SUMMARY_KEY):
        store.delete(SUMMARY_KEY)  # an earlier attempt's failure, no longer true
    return result


def failure_summary(
    config: RunConfig, output: str, exc: BaseException, *, seconds: float
) -> RunSummary:
    """The summary of an attempt stopped by ``exc``, from the stage records at ``output``; the
    error's failure class and action come from ``exc`` when its stage record names none."""
    records = read_records(join_uri(output, RECORDS))
    summary = summarize(
        records,
        run=config.name,
        run_dir=_absolute(output),
        seconds=seconds,
        orchestrator_failed=True,
        expected=STANDALONE_STAGES,
    )
    if not any(record.status == "failed" for record in records):  # raised between stages
        stage = next((s.name for s in summary.stages if s.status != "succeeded"), "train")
        summary.error = RunError(stage=stage, type=type(exc).__name__, message=str(exc))
    error = summary.error
    if error is not None and not error.failure_class:
        diagnosis = diagnose_exception(exc)
        if diagnosis.kind != "unknown":
            error.failure_class, error.action = diagnosis.kind, diagnosis.action
    return summary


def _clear_records(store: ObjectStore) -> None:
    for key in store.list(f"{RECORDS}/"):
        store.delete(key)


def _absolute(output: str) -> str:
    """``output`` as a reader elsewhere can find it: an absolute path unless it is a URI."""
    return output if is_remote_uri(output) else str(parse_uri(output))

"""The train stage: apply the tuned parameters, run the training job, check its output."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.errors import ConfigError, JobStopped, StorageError, TrainingError
from trainpipe.launch.base import JobBackend, LogSink
from trainpipe.launch.diagnose import diagnose_result
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.preflight import preflight
from trainpipe.launch.spec import JobSpec, job_name, job_spec_from_config
from trainpipe.storage.factory import open_store
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.model_files import METRICS_KEY, MODEL_KEY, discard_partial_model
from trainpipe.train.spec import SPEC_ENV, TrainSpec
from trainpipe.usercode.activation import activate_code


@dataclass(kw_only=True)
class TrainResult:
    """The trained model's location and its training metrics."""

    output: str
    config: RunConfig
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    world_size: int = 1
    seconds: float = 0.0
    """Wall-clock seconds :func:`train_model` took: the preflight and every start of the job
    (a restarted or elastic job's included), where ``metrics.json``'s ``seconds`` is the last
    start's training."""
    tracking: dict[str, Any] = field(default_factory=dict)
    """The training job's MLflow tracking (``mlflow_run_id``, ``failures``); empty: none."""


def apply_params(config: RunConfig, params: dict[str, Any] | str) -> RunConfig:
    """Return ``config`` with tuned parameters (dotted keys) applied; empty changes nothing."""
    if isinstance(params, str):
        try:
            params = json.loads(params) if params.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"tuned parameters are not valid JSON: {params!r}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"tuned parameters must be a JSON object, got {params!r}")
    return config.with_overrides(params, origin="tuned parameters") if params else config


def train_model(
    config: RunConfig,
    *,
    train_data: str,
    validation_data: str,
    output: str,
    run_id: str = "",
    log: LogSink = print_line,
    backend: JobBackend | None = None,
    tracking_run: str = "",
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train on ``config.train.backend`` and return the metrics of the model written to ``output``.

    ``stop``: once set, the training job is stopped (not retried) and :class:`JobStopped` is
    raised; in-process training does not watch it.

    ``tracking_run``: the MLflow run the job's rank 0 logs each epoch to (``tracking.mlflow``).

    A failure leaves no half-written model files at ``output`` (the job's failure record and
    its checkpoints, to resume from, stay).

    Raises:
        JobStopped: ``stop`` was set while the job ran.
        TrainingError: the job failed, timed out, or finished without writing a model.
    """
    spec = TrainSpec(
        config=config,
        train_data=train_data,
        validation_data=validation_data,
        output=output,
        run_id=run_id,
        tracking_run=tracking_run,
    )
    started = time.perf_counter()
    activate_code(config)  # in-process training and the preflight import the user's code
    preflight(spec, log=log)
    try:
        if config.train.backend == "inprocess":
            run_training(spec, DistContext(), log=log)
        else:
            _run_job(spec, backend=backend, log=log, stop=stop)
        store = open_store(output)
        if not store.exists(MODEL_KEY):
            raise TrainingError(f"the training job finished but wrote no model to {output}")
    except BaseException:
        _discard_partial_model(output, log)
        raise
    metrics = store.read_json(METRICS_KEY)
    return TrainResult(
        output=output,
        config=config,
        history=metrics["history"],
        final=metrics["final"],
        world_size=metrics["world_size"],
        seconds=time.perf_counter() - started,
        tracking=dict(metrics.get("tracking") or {}),
    )


def _discard_partial_model(output: str, log: LogSink) -> None:
    """After a failure: remove half-written model files, saying so; the job's own error is the
    one to raise, so a store that refuses is only logged."""
    try:
        removed = discard_partial_model(output)
    except StorageError as exc:
        log(f"[trainpipe] warning: cannot check {output} for half-written model files: {exc}")
        return
    if removed:
        log(f"[trainpipe] removed the half-written model files {', '.join(removed)} from {output}")


def _run_job(
    spec: TrainSpec,
    *,
    backend: JobBackend | None,
    log: LogSink,
    stop: threading.Event | None = None,
) -> None:
    """Run the training entrypoint as a job and turn a failure into a diagnosed TrainingError
    (a stop asked for into :class:`JobStopped`)."""
    config = spec.config
    name = job_name(spec.run_id or config.name, "train")
    with tempfile.TemporaryDirectory(prefix="trainpipe-job-") as tmp:
        if config.train.backend == "local":
            # Local agents share this filesystem; cluster pods get the spec inline.
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(spec.to_json(), encoding="utf-8")
            job = job_spec_from_config(config, name=name, args=["--spec", str(spec_path)])
        else:
            job = cluster_job_spec(spec, name=name)
        result = (backend or backend_for(config, log_store=spec.output)).run(
            job, log=log, stop=stop
        )
    if result.stopped:
        raise JobStopped(f"training job {job.name} was stopped on request")
    if not result.succeeded:
        diagnosis = diagnose_result(result)
        log(diagnosis.log_line())
        raise TrainingError(
            f"training job {job.name} failed ({diagnosis.kind}): {result.error}. "
            f"{diagnosis.action}",
            failure_class=diagnosis.kind,
            action=diagnosis.action,
        )


def cluster_job_spec(spec: TrainSpec, *, name: str) -> JobSpec:
    """The JobSpec of a cluster training job: pods receive the training spec in their env."""
    return job_spec_from_config(spec.config, name=name, args=[], env={SPEC_ENV: spec.to_json()})


def backend_for(config: RunConfig, *, log_store: str = "") -> JobBackend:
    """The job backend ``train.backend`` names; cluster clients are built only here."""
    if config.train.backend == "local":
        return LocalJobBackend()
    if config.train.backend in ("pytorchjob", "trainjob"):
        from trainpipe.launch.kube import kube_clients_from_env
        from trainpipe.launch.pytorchjob import KubeflowJobBackend

        return KubeflowJobBackend(
            kube_clients_from_env(),
            kind=config.train.backend,
            log_store=open_store(log_store) if log_store else None,
        )
    raise ConfigError(f"train.backend {config.train.backend!r} does not run as a job")

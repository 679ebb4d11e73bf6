"""The train stage: apply the tuned parameters, run the training job, check its output."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, TrainingError
from trainpipe.launch.base import LogSink
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.spec import job_name, job_spec_from_config
from trainpipe.storage import open_store
from trainpipe.train.artifacts import METRICS_KEY, MODEL_KEY
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.spec import TrainSpec


@dataclass(kw_only=True)
class TrainResult:
    """The trained model's location and its training metrics."""

    output: str
    config: RunConfig
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    world_size: int = 1
    seconds: float = 0.0


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
    log: LogSink = print,
) -> TrainResult:
    """Train on ``config.train.backend`` and return the metrics of the model written to ``output``.

    Raises:
        TrainingError: the job failed, timed out, or finished without writing a model.
    """
    spec = TrainSpec(
        config=config,
        train_data=train_data,
        validation_data=validation_data,
        output=output,
        run_id=run_id,
    )
    if config.train.backend == "inprocess":
        run_training(spec, DistContext(), log=log)
    else:
        _run_local_job(spec, log=log)
    store = open_store(output)
    if not store.exists(MODEL_KEY):
        raise TrainingError(f"the training job finished but wrote no model to {output}")
    metrics = store.read_json(METRICS_KEY)
    return TrainResult(
        output=output,
        config=config,
        history=metrics["history"],
        final=metrics["final"],
        world_size=metrics["world_size"],
        seconds=metrics["seconds"],
    )


def _run_local_job(spec: TrainSpec, *, log: LogSink) -> None:
    with tempfile.TemporaryDirectory(prefix="trainpipe-job-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        job = job_spec_from_config(
            spec.config,
            name=job_name(spec.run_id or spec.config.name, "train"),
            args=["--spec", str(spec_path)],
        )
        result = LocalJobBackend().run(job, log=log)
    if not result.succeeded:
        raise TrainingError(f"training job {job.name} failed: {result.error}")

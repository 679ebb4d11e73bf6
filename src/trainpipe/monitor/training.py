"""The one object the training loop talks to: metrics, resources, anomalies, TensorBoard, MLflow.

The loop calls :meth:`TrainingMonitor.step` after each optimizer step,
:meth:`~TrainingMonitor.checkpoint_seconds` after each checkpoint, and
:meth:`~TrainingMonitor.epoch_end` with each epoch's row; everything Prometheus, psutil, NVML,
TensorBoard or MLflow is hidden here. A *quiet* monitor (tuning trials, tests) only runs the
detectors and keeps its metrics in memory: no threads, no port, no files.

Where the metrics endpoint opens: only in job processes (``python -m trainpipe.train`` under
torchrun: the local backend, PyTorchJob and TrainJob pods), on ``train.metrics_port`` +
``LOCAL_RANK`` (+ ``TRAINPIPE_METRICS_PORT_OFFSET``, which the local backend sets so that
several "nodes" on one machine do not collide). In-process training runs inside another
process (a KFP component, a tuning worker, a test) and never opens a port.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.errors import TrainingError
from trainpipe.monitor.anomaly import Watchdog, detectors_from_config
from trainpipe.monitor.events import Finding, RunIds, anomaly_event, event_log_line
from trainpipe.monitor.metrics import MetricsServer, TrainMetrics
from trainpipe.monitor.resources import GpuProbe, ResourceSampler
from trainpipe.monitor.tensorboard import ScalarWriter
from trainpipe.tracking.mlflow_run import Tracking

PORT_OFFSET_ENV = "TRAINPIPE_METRICS_PORT_OFFSET"
"""Added to ``train.metrics_port`` + LOCAL_RANK; set by the local backend per simulated node."""
TASK = "train"
"""The pipeline task whose job this is (the task id in the job name and in events)."""


class TrainingMonitor:
    """Watches one training process. Build it with :meth:`for_job` or :meth:`quiet`."""

    def __init__(
        self,
        config: RunConfig,
        ids: RunIds,
        *,
        log: Callable[[str], None] = print_line,
        sampler: ResourceSampler | None = None,
        watch: bool = False,
        pushgateway: str = "",
        tensorboard: ScalarWriter | None = None,
        server: MetricsServer | None = None,
        metrics: TrainMetrics | None = None,
        tracking: Tracking | None = None,
    ) -> None:
        self.config = config
        self.ids = ids
        self.log = log
        self.metrics = metrics or TrainMetrics(ids)
        self.server = server
        self.sampler = sampler
        if sampler is not None:
            sampler.on_sample = self._on_resources
        self.pushgateway = pushgateway
        self.tensorboard = tensorboard
        self.tracking = tracking
        """Rank 0's MLflow run, which each epoch's row goes to (``tracking.mlflow``)."""
        self.divergence, self.plateau, self.throughput, self.starvation = detectors_from_config(
            config.monitor
        )
        self.watchdog = (
            Watchdog(config.monitor.stall_seconds, self._from_watchdog) if watch else None
        )
        self.epoch = 0
        self.global_step = 0
        self._events: list[dict[str, Any]] = []
        self._taken = 0
        self._lock = threading.Lock()
        self._closed = False
        self._push_failed = False
        self._tracked_steps: set[int] | None = set()
        """Epoch steps the MLflow run holds from before this process; None: ask at the next
        epoch end (after :meth:`resumed`)."""

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def quiet(cls, config: RunConfig, *, run: str = "", rank: int = 0) -> TrainingMonitor:
        """Detectors and in-memory metrics only (tuning trials, in-process tests)."""
        return cls(config, run_ids(config, run, rank), log=lambda line: None)

    @classmethod
    def for_job(
        cls,
        config: RunConfig,
        *,
        run: str,
        rank: int,
        local_rank: int,
        output: str,
        serve: bool,
        log: Callable[[str], None] = print_line,
        tracking_run: str = "",
    ) -> TrainingMonitor:
        """The monitor of a training run: resource sampling, the stall watchdog, the Pushgateway
        and TensorBoard when configured, and the ``/metrics`` endpoint when ``serve``; on rank 0,
        each epoch's row goes to the MLflow run ``tracking_run`` when one is given."""
        ids = run_ids(config, run, rank)
        metrics = TrainMetrics(ids)
        server = None
        base = config.train.metrics_port
        if serve and base > 0:
            port = base + local_rank + int(os.environ.get(PORT_OFFSET_ENV, "0") or 0)
            try:
                server = metrics.serve(port)
            except TrainingError as exc:
                # On a laptop another run may hold the port; that must not cost this run.
                # In a pod the port is ours alone, so a clash is a misconfiguration: fail.
                if config.train.backend != "local":
                    raise
                log(f"[trainpipe] warning: {exc}; this rank serves no metrics")
        writer = ScalarWriter(output) if config.train.tensorboard and rank == 0 else None
        tracking = None
        if tracking_run and rank == 0:
            tracking = Tracking.for_config(config, log=log)
            tracking.attach(tracking_run)
        sampler = ResourceSampler(
            rank=rank,
            interval=config.monitor.resource_interval_seconds,
            gpus=GpuProbe([local_rank]) if _uses_gpu() else GpuProbe([]),
        )
        return cls(
            config,
            ids,
            log=log,
            sampler=sampler,
            watch=True,
            pushgateway=config.train.pushgateway,
            tensorboard=writer,
            server=server,
            metrics=metrics,
            tracking=tracking,
        )

    # -- what the loop reports --------------------------------------------------------------

    def start(self) -> None:
        """Start the background sampler and the stall watchdog (idempotent)."""
        if self.sampler is not None:
            self.sampler.start()
        if self.watchdog is not None:
            self.watchdog.start()

    def step(
        self,
        *,
        epoch: int,
        global_step: int,
        samples: int,
        seconds: float,
        data_seconds: float,
        loss: float | None = None,
        learning_rate: float | None = None,
        grad_norm: float | None = None,
    ) -> None:
        """One optimizer step finished (``loss`` per sample; ``samples`` on this rank).

        A user's ``train.entrypoint`` owns its step, so its loss, learning rate and gradient
        norm are None: throughput, data wait and the watchdog are still watched."""
        self.epoch, self.global_step = epoch, global_step
        if self.watchdog is not None:
            self.watchdog.beat()
        m = self.metrics
        throughput = samples / seconds if seconds > 0 else 0.0
        m.step_seconds.observe(seconds)
        m.data_wait.observe(data_seconds)
        m.samples_per_second.set(throughput)
        m.global_step.set(global_step)
        m.last_step.set(time.time())
        findings = [
            self.throughput.step(throughput),
            self.starvation.step(data_seconds, seconds),
        ]
        if loss is not None:
            m.loss.set(loss)
            findings.insert(0, self.divergence.step(loss))
        if learning_rate is not None:
            m.learning_rate.set(learning_rate)
        if grad_norm is not None:
            m.grad_norm.set(grad_norm)
        for finding in findings:
            if finding is not None:
                self.emit(finding)
        if self.tensorboard is not None and loss is not None and learning_rate is not None:
            self.tensorboard.step(loss, learning_rate, global_step)

    def checkpoint_seconds(self, seconds: float) -> None:
        """A checkpoint took ``seconds`` (including agreeing on the partial sums)."""
        self.metrics.checkpoint_seconds.observe(seconds)
        if self.watchdog is not None:
            self.watchdog.beat()

    def non_finite(self, reason: str, *, epoch: int, global_step: int) -> None:
        """A non-finite loss or gradient made the loop roll back."""
        self.epoch, self.global_step = epoch, global_step
        self.metrics.nonfinite.inc()
        self.emit(
            Finding("non_finite", float("nan"), 0.0, f"non-finite loss or gradient at {reason}")
        )

    def epoch_end(self, row: dict[str, float], *, epoch: int, global_step: int) -> None:
        """An epoch finished with ``row`` (``epoch`` counts from 0)."""
        self.epoch, self.global_step = epoch, global_step
        if self.watchdog is not None:
            self.watchdog.beat()
        for finding in (
            self.divergence.epoch(row.get("train_loss", float("nan"))),
            self.plateau.epoch(row.get("val_loss", float("nan"))),
        ):
            if finding is not None:
                self.emit(finding)
        if self.tensorboard is not None:
            self.tensorboard.epoch(row, global_step)
        if self.tracking is not None:
            self._track_epoch(row, epoch)
        self.push()

    def resumed(self) -> None:
        """The run resumed from a checkpoint: the epochs it trains again since may be in the
        MLflow run already (logged after that checkpoint, before the process stopped), so the
        next epoch end asks the run which epochs it holds, and those are not logged twice."""
        self._tracked_steps = None

    def _track_epoch(self, row: dict[str, float], epoch: int) -> None:
        assert self.tracking is not None
        values = {k: v for k, v in row.items() if k != "epoch"}
        step = int(row.get("epoch", epoch + 1))
        if self._tracked_steps is None and values:
            self._tracked_steps = self.tracking.logged_steps(next(iter(values)))
        if step in (self._tracked_steps or ()):
            # a resumed run trains to the same values (its data order and seeds are the
            # checkpoint's), so the row already there is this one
            self.log(
                f"[trainpipe] tracking: epoch {step} is in the MLflow run already (logged "
                "before the restart); not logged again"
            )
            return
        self.tracking.log_metrics(values, step=step)

    # -- results ----------------------------------------------------------------------------

    def emit(self, finding: Finding) -> dict[str, Any]:
        """Record ``finding`` as an anomaly: event, JSON log line, counter."""
        event = anomaly_event(finding, self.ids, epoch=self.epoch + 1, global_step=self.global_step)
        with self._lock:
            self._events.append(event)
        self.metrics.anomalies[finding.kind].inc()
        self.log(event_log_line(event))
        return event

    @property
    def events(self) -> list[dict[str, Any]]:
        """This process's anomaly events so far."""
        with self._lock:
            return list(self._events)

    def new_events(self) -> list[dict[str, Any]]:
        """The anomaly events since the last call, each returned once: the training loop saves
        them with its checkpoints, so they outlive a restart."""
        with self._lock:
            fresh = self._events[self._taken :]
            self._taken = len(self._events)
        return fresh

    @property
    def resources(self) -> list[dict[str, Any]]:
        """This process's resource samples so far (empty for a quiet monitor)."""
        return self.sampler.history() if self.sampler is not None else []

    def push(self) -> None:
        """Push to the Pushgateway when one is configured; a failure is logged once, not fatal."""
        if not self.pushgateway:
            return
        try:
            self.metrics.push(self.pushgateway)
        except OSError as exc:
            if not self._push_failed:
                self.log(f"[trainpipe] warning: cannot push metrics to {self.pushgateway}: {exc}")
            self._push_failed = True

    def close(self) -> None:
        """Stop the threads, push a last time, close TensorBoard and the endpoint (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.sampler is not None:
            self.sampler.stop()
        self.push()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.server is not None:
            self.server.close()

    def _from_watchdog(self, finding: Finding) -> None:
        self.emit(finding)

    def _on_resources(self, sample: dict[str, Any]) -> None:
        self.metrics.cpu_percent.set(sample["cpu_percent"])
        self.metrics.rss_bytes.set(sample["rss_bytes"])
        for index, utilization, memory in sample["gpus"]:
            self.metrics.gpu(index, utilization=utilization, memory_used=memory)


def run_ids(config: RunConfig, run: str, rank: int) -> RunIds:
    """The labels of a training run's series and events (the job named as the launcher names it)."""
    from trainpipe.launch.spec import job_name

    run = run or config.name
    return RunIds(job=job_name(run, TASK), run=run, task=TASK, rank=rank)


def _uses_gpu() -> bool:
    import torch

    return torch.cuda.is_available() and os.environ.get("TRAINPIPE_DEVICE", "auto") != "cpu"

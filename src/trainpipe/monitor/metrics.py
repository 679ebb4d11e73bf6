"""Prometheus metrics of one training process: one registry, every series labelled
``job``, ``run`` and ``rank``.

The names are a contract shared with the PodMonitor, the PrometheusRule alerts and the Grafana
dashboard in ``manifests/``; do not rename them.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    push_to_gateway,
    start_http_server,
)
from prometheus_client.metrics_core import Metric

from trainpipe.errors import TrainingError
from trainpipe.monitor.events import ANOMALY_KINDS, RunIds

LABELS = ("job", "run", "rank")
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CHECKPOINT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30)


@dataclass
class MetricsServer:
    """The HTTP endpoint serving a registry (``/metrics``)."""

    port: int
    server: Any
    thread: Any

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class TrainMetrics:
    """The training series of one process, each bound to this process's labels."""

    def __init__(self, ids: RunIds, registry: CollectorRegistry | None = None) -> None:
        self.ids = ids
        self.registry = registry or CollectorRegistry()
        self.labels = {"job": ids.job, "run": ids.run, "rank": str(ids.rank)}
        reg, labels, own = self.registry, LABELS, self.labels

        def gauge(name: str, doc: str) -> Any:
            return Gauge(name, doc, labels, registry=reg).labels(**own)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Any:
            return Histogram(name, doc, labels, registry=reg, buckets=buckets).labels(**own)

        self.step_seconds = histogram(
            "trainpipe_train_step_seconds", "Duration of one optimizer step.", STEP_BUCKETS
        )
        self.samples_per_second = gauge(
            "trainpipe_train_samples_per_second", "Samples per second of this rank's last step."
        )
        self.loss = gauge("trainpipe_train_loss", "Per-sample training loss of the last step.")
        self.learning_rate = gauge("trainpipe_train_learning_rate", "Current learning rate.")
        self.grad_norm = gauge("trainpipe_train_grad_norm", "Gradient norm before clipping.")
        self.global_step = gauge("trainpipe_train_global_step", "Optimizer steps taken.")
        self.last_step = gauge(
            "trainpipe_train_last_step_timestamp_seconds", "Unix time of the last finished step."
        )
        self.nonfinite = Counter(
            "trainpipe_train_nonfinite", "Non-finite loss or gradient events.", labels, registry=reg
        ).labels(**own)
        self.checkpoint_seconds = histogram(
            "trainpipe_checkpoint_seconds", "Duration of writing a checkpoint.", CHECKPOINT_BUCKETS
        )
        self.data_wait = histogram(
            "trainpipe_dataloader_wait_seconds", "Time to fetch and augment a batch.", WAIT_BUCKETS
        )
        self.cpu_percent = gauge(
            "trainpipe_process_cpu_percent", "CPU use of this process (100 = one core)."
        )
        self.rss_bytes = gauge("trainpipe_process_rss_bytes", "Resident memory of this process.")
        self._gpu_utilization = Gauge(
            "trainpipe_gpu_utilization_percent",
            "GPU utilization (NVML).",
            (*labels, "gpu"),
            registry=reg,
        )
        self._gpu_memory = Gauge(
            "trainpipe_gpu_memory_used_bytes",
            "GPU memory in use (NVML).",
            (*labels, "gpu"),
            registry=reg,
        )
        anomalies = Counter(
            "trainpipe_anomalies", "Anomaly episodes by kind.", (*labels, "kind"), registry=reg
        )
        # Every kind exists from the start at 0, so increase() sees the first event.
        self.anomalies = {kind: anomalies.labels(**own, kind=kind) for kind in ANOMALY_KINDS}

    def gpu(self, index: int, *, utilization: float, memory_used: float) -> None:
        """Set one GPU's utilization and memory series."""
        self._gpu_utilization.labels(**self.labels, gpu=str(index)).set(utilization)
        self._gpu_memory.labels(**self.labels, gpu=str(index)).set(memory_used)

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of sample ``name`` with this process's labels plus ``labels``."""
        return self.registry.get_sample_value(name, {**self.labels, **labels})

    def serve(self, port: int, *, setting: str = "train.metrics_port") -> MetricsServer:
        """Serve ``/metrics`` on ``port`` (all interfaces).

        Raises:
            TrainingError: the port is taken or cannot be bound; names the port and the setting.
        """
        try:
            server, thread = start_http_server(port, addr="0.0.0.0", registry=self.registry)
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc})"
            raise TrainingError(
                f"rank {self.ids.rank}: Prometheus metrics port {port} {reason}; set "
                f"{setting} to a free base port (each process adds its LOCAL_RANK) or 0 to "
                "turn the metrics endpoint off"
            ) from exc
        return MetricsServer(port=port, server=server, thread=thread)

    def push(self, url: str, *, timeout: float = 5.0) -> None:
        """Replace this process's group on the Pushgateway at ``url`` with the current values.

        The group is ``job/<job>/run/<run>/rank/<rank>``; the pushed samples leave those labels
        to the grouping key, which the Pushgateway adds back.
        """
        push_to_gateway(
            url,
            job=self.ids.job,
            registry=_WithoutLabels(self.registry, LABELS),
            grouping_key={"run": self.ids.run, "rank": str(self.ids.rank)},
            timeout=timeout,
        )


class _WithoutLabels(CollectorRegistry):
    """A registry view whose samples lack ``labels`` (for a Pushgateway grouping key)."""

    def __init__(self, registry: CollectorRegistry, labels: tuple[str, ...]) -> None:
        super().__init__()
        self.registry = registry
        self.drop = set(labels)

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            copy = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                kept = {k: v for k, v in sample.labels.items() if k not in self.drop}
                copy.add_sample(sample.name, kept, sample.value, sample.timestamp, sample.exemplar)
            yield copy

"""Monitoring of training: Prometheus metrics, resource sampling, anomaly detection, events.

The training loop talks to one :class:`TrainingMonitor`; the rest of this package is its parts:
:mod:`~trainpipe.monitor.metrics` (the Prometheus series), :mod:`~trainpipe.monitor.resources`
(psutil and NVML sampling), :mod:`~trainpipe.monitor.anomaly` (the detectors),
:mod:`~trainpipe.monitor.events` (structured events) and :mod:`~trainpipe.monitor.tensorboard`.
"""

from __future__ import annotations

from trainpipe.monitor.events import ANOMALY_KINDS, Finding, RunIds, anomaly_event, event_log_line
from trainpipe.monitor.metrics import TrainMetrics
from trainpipe.monitor.resources import ResourceSampler
from trainpipe.monitor.training import TrainingMonitor, run_ids

__all__ = [
    "ANOMALY_KINDS",
    "Finding",
    "ResourceSampler",
    "RunIds",
    "TrainMetrics",
    "TrainingMonitor",
    "anomaly_event",
    "event_log_line",
    "run_ids",
]

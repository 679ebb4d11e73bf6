"""Monitoring of training: Prometheus metrics, resource sampling, anomaly detection, events.

The training loop talks to one :class:`TrainingMonitor`; the rest of this package is its parts:
:mod:`~trainpipe.monitor.metrics` (the Prometheus series), :mod:`~trainpipe.monitor.resources`
(psutil and NVML sampling), :mod:`~trainpipe.monitor.anomaly` (the detectors),
:mod:`~trainpipe.monitor.events` (structured events) and :mod:`~trainpipe.monitor.tensorboard`.
"""

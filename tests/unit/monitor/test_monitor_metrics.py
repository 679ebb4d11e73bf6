"""Prometheus series, the /metrics endpoint, the Pushgateway push, and anomaly events."""

from __future__ import annotations

import json
import math
import socket
import urllib.request
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pushgateway_stub import Gateway

from trainpipe.errors import TrainingError
from trainpipe.monitor.events import ANOMALY_KINDS, Finding, RunIds, anomaly_event, event_log_line
from trainpipe.monitor.metrics import TrainMetrics

pytestmark = pytest.mark.unit

IDS = RunIds(job="trainpipe-run-7-train-0123456789", run="run-7", task="train", rank=1)
OWN = {"job": IDS.job, "run": "run-7", "rank": "1"}
CONTRACT = {
    "trainpipe_train_step_seconds",
    "trainpipe_train_samples_per_second",
    "trainpipe_train_loss",
    "trainpipe_train_learning_rate",
    "trainpipe_train_grad_norm",
    "trainpipe_train_global_step",
    "trainpipe_train_last_step_timestamp_seconds",
    "trainpipe_train_nonfinite",
    "trainpipe_checkpoint_seconds",
    "trainpipe_dataloader_wait_seconds",
    "trainpipe_process_cpu_percent",
    "trainpipe_process_rss_bytes",
    "trainpipe_gpu_utilization_percent",
    "trainpipe_gpu_memory_used_bytes",
    "trainpipe_anomalies",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_contract_series_carries_job_run_and_rank() -> None:
    metrics = TrainMetrics(IDS)
    metrics.loss.set(0.25)
    metrics.step_seconds.observe(0.01)
    metrics.gpu(0, utilization=55.0, memory_used=1e9)
    families = {f.name: f for f in metrics.registry.collect()}
    assert set(families) == CONTRACT
    for family in families.values():
        for sample in family.samples:
            assert {k: sample.labels[k] for k in OWN} == OWN, sample
    assert metrics.value("trainpipe_train_loss") == 0.25
    assert metrics.value("trainpipe_train_step_seconds_count") == 1
    assert metrics.value("trainpipe_gpu_utilization_percent", gpu="0") == 55.0
    # Every anomaly kind exists at 0 from the start, so increase() sees the first one.
    for kind in ANOMALY_KINDS:
        assert metrics.value("trainpipe_anomalies_total", kind=kind) == 0.0


def test_serve_exposes_the_registry_and_frees_the_port() -> None:
    metrics = TrainMetrics(IDS)
    metrics.anomalies["stall"].inc()
    port = free_port()
    server = metrics.serve(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.close()
    samples = {
        (s.name, s.labels.get("kind")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("trainpipe_anomalies_total", "stall")] == 1.0
    assert samples[("trainpipe_anomalies_total", "plateau")] == 0.0
    with socket.socket() as sock:  # closed: a server can listen there again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen()


def test_a_taken_port_names_the_port_and_the_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(TrainingError, match=rf"port {port} is in use; set train.metrics_port"):
            TrainMetrics(IDS).serve(port)


def test_push_puts_the_group_of_job_run_and_rank(gateway: Gateway) -> None:
    metrics = TrainMetrics(IDS)
    metrics.loss.set(0.5)
    metrics.anomalies["divergence"].inc()
    metrics.push(gateway.url)
    ((method, path, body),) = gateway.requests
    assert method == "PUT"
    assert path == f"/metrics/job/{IDS.job}/rank/1/run/run-7"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("trainpipe_train_loss", ())] == 0.5
    assert samples[("trainpipe_anomalies_total", (("kind", "divergence"),))] == 1.0
    # The grouping key carries job/run/rank; the samples must not repeat them.
    assert not any(dict(labels).keys() & {"job", "run", "rank"} for _, labels in samples)


def test_anomaly_event_and_its_log_line() -> None:
    finding = Finding("divergence", 12.5, 3.0, "loss diverges")
    event = anomaly_event(finding, IDS, epoch=2, global_step=40)
    assert event == {
        "type": "anomaly",
        "kind": "divergence",
        "run": "run-7",
        "task": "train",
        "rank": 1,
        "epoch": 2,
        "global_step": 40,
        "value": 12.5,
        "threshold": 3.0,
        "message": "loss diverges",
        "time": event["time"],
    }
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    line = json.loads(event_log_line(event))
    assert line["event"] == "anomaly" and "type" not in line
    assert {k: v for k, v in line.items() if k != "event"} == {
        k: v for k, v in event.items() if k != "type"
    }
    nan = anomaly_event(Finding("non_finite", math.nan, 0.0, "x"), IDS, epoch=1, global_step=1)
    assert nan["value"] == "nan"
    json.loads(json.dumps(nan, allow_nan=False))  # valid strict JSON

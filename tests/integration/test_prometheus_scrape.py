"""A real Prometheus server scrapes both ranks of a 2-process training job and answers queries.

The job runs through the local backend (torchrun, the PyTorchJob environment) with the metrics
endpoints on free ports; an injected data-loader stall keeps it alive long enough to be scraped
and makes the stall watchdog count an anomaly on each rank.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trainpipe.config import RunConfig
from trainpipe.launch.spec import job_name
from trainpipe.launch.train_job import train_model
from trainpipe.train.faults import INJECT_STALL_ENV, INJECT_STALL_SECONDS_ENV

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMETHEUS = shutil.which("prometheus")
RUN = "prom-run"


def free_ports(count: int) -> int:
    """A base port such that ``base .. base + count - 1`` are free right now."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + count > 65000:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("0.0.0.0", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of free ports found")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A Prometheus server scraping two ranks every second: yields (its URL, the ranks' base)."""
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed (Debian: apt-get install prometheus)")
    base = free_ports(2)
    web = free_ports(1)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "trainpipe-ranks",
                        "honor_labels": True,
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{base}", f"127.0.0.1:{base + 1}"]}
                        ],
                    }
                ],
            }
        )
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{web}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=5)
                pytest.fail(f"prometheus did not become ready: {err[-2000:]}")
            time.sleep(0.2)
        yield url, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The vector result of an instant PromQL query."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(address, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_every_rank(
    prometheus: tuple[str, int],
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, base = prometheus
    monkeypatch.setenv(INJECT_STALL_ENV, "2")
    monkeypatch.setenv(INJECT_STALL_SECONDS_ENV, "4")
    config = RunConfig.from_dict(
        {
            "seed": 3,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16]},
            "train": {
                "epochs": 2,
                "batch_size": 16,
                "nproc_per_node": 2,
                "backend": "local",
                "num_threads": 1,
                "metrics_port": base,
                "timeout_seconds": 120,
            },
            "monitor": {"stall_seconds": 1.0},
        }
    )
    lines: list[str] = []
    result = train_model(
        config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
        run_id=RUN,
        log=lines.append,
    )
    assert result.world_size == 2
    # The ranks have exited, so their series are stale now: ask for the last scraped values.
    job = job_name(RUN, "train")
    for name in (
        "trainpipe_train_loss",
        "trainpipe_train_samples_per_second",
        "trainpipe_process_rss_bytes",
        "trainpipe_train_global_step",
    ):
        series = query(url, f'last_over_time({name}{{run="{RUN}"}}[10m])')
        assert sorted(s["metric"]["rank"] for s in series) == ["0", "1"], (name, series)
        for s in series:
            assert s["metric"]["job"] == job, s  # honor_labels keeps the trainer's job label
            assert float(s["value"][1]) > 0, s
    stalls = query(
        url, f'max_over_time(trainpipe_anomalies_total{{kind="stall",job="{job}"}}[10m])'
    )
    # Each rank counts the injected stall; rank 1 may also count one while rank 0 runs the
    # sanity checks before the first step (a real wait, longer than the 1 s limit).
    counted = {s["metric"]["rank"]: float(s["value"][1]) for s in stalls}
    assert set(counted) == {"0", "1"} and min(counted.values()) >= 1.0, counted
    logged = [json.loads(line.split("] ", 1)[1]) for line in lines if '"event": "anomaly"' in line]
    injected = [e for e in logged if e["kind"] == "stall" and e["global_step"] == 2]
    assert sorted(e["rank"] for e in injected) == [0, 1]
    assert sum(e["kind"] == "stall" for e in logged) == sum(counted.values())
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert {r["rank"] for r in metrics["resources"]} == {0, 1}
    recorded = [e for e in metrics["events"] if e.get("kind") == "stall"]
    assert sorted(e["rank"] for e in recorded if e["global_step"] == 2) == [0, 1]

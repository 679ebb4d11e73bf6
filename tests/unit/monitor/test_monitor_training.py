"""The monitor inside real (tiny, in-process) training runs, and where its port opens."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pushgateway_stub import Gateway

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, TrainingError
from trainpipe.monitor.tensorboard import ScalarWriter, tensorboard_location
from trainpipe.monitor.training import PORT_OFFSET_ENV, TrainingMonitor
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.model_files import METRICS_KEY
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def make_config(**train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "seed": 3,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16]},
            "train": {
                "epochs": 3,
                "batch_size": 16,
                "learning_rate": 0.02,
                "nproc_per_node": 1,
                "backend": "inprocess",
                "num_threads": 1,
                **train,
            },
            "monitor": {"resource_interval_seconds": 0.05},
        }
    )


def spec_for(config: RunConfig, splits: dict[str, str], out: Path) -> TrainSpec:
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out),
        run_id="run-42",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_run_records_resources_throughput_tensorboard_and_pushes(
    iris_splits: dict[str, str], tmp_path: Path, gateway: Gateway
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config(tensorboard=True, pushgateway=gateway.url)
    lines: list[str] = []
    run_training(spec_for(config, iris_splits, tmp_path / "model"), DistContext(), log=lines.append)
    metrics = json.loads((tmp_path / "model" / METRICS_KEY).read_text())
    history = metrics["history"]
    assert len(history) == 3
    for row in history:
        assert row["samples_per_second"] > 0
        assert 0 <= row["data_wait_seconds"] < row["seconds"]
    resources = metrics["resources"]
    assert len(resources) >= 2 and {r["rank"] for r in resources} == {0}
    assert all(r["rss_bytes"] > 0 and r["gpu_utilization_percent"] is None for r in resources)
    assert [r["seconds"] for r in resources] == sorted(r["seconds"] for r in resources)
    # TensorBoard: next to the model output, one epoch scalar per epoch with the history's values.
    board = tmp_path / "tensorboard"
    assert tensorboard_location(str(tmp_path / "model")) == str(board)
    assert list(board.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(board))
    events.Reload()
    losses = [e.value for e in events.Scalars("epoch/train_loss")]
    assert losses == pytest.approx([row["train_loss"] for row in history], rel=1e-6)
    assert len(events.Scalars("epoch/val_accuracy")) == 3
    assert len(events.Scalars("step/loss")) == history[-1]["epoch"] * 7  # 105 rows / 16
    # Pushgateway: once per epoch and once at exit, to the group of this job, run and rank.
    paths = {path for _, path, _ in gateway.requests}
    assert len(gateway.requests) == 4
    assert paths == {f"/metrics/job/trainpipe-run-42-train-{_digest()}/rank/0/run/run-42"}


def _digest() -> str:
    from trainpipe.launch.spec import job_name

    return job_name("run-42", "train").rsplit("-", 1)[1]


def test_tensorboard_without_the_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install 'trainpipe\[tensorboard\]'"):
        ScalarWriter(str(tmp_path / "model"))


def test_endpoint_is_base_plus_local_rank_plus_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv(PORT_OFFSET_ENV, "2")
    config = make_config(backend="local", metrics_port=port - 3)
    monitor = TrainingMonitor.for_job(
        config, run="r", rank=1, local_rank=1, output=str(tmp_path / "m"), serve=True
    )
    try:
        assert monitor.server is not None and monitor.server.port == port
        monitor.step(
            epoch=0,
            global_step=1,
            loss=0.5,
            samples=8,
            seconds=0.01,
            data_seconds=0.001,
            learning_rate=0.1,
            grad_norm=1.0,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        monitor.close()
    assert 'trainpipe_train_loss{job="trainpipe-r-train-' in text
    assert 'rank="1",run="r"} 0.5' in text
    assert "trainpipe_train_samples_per_second" in text


def test_a_taken_port_warns_on_a_laptop_and_fails_in_a_pod(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        lines: list[str] = []
        local = TrainingMonitor.for_job(
            make_config(backend="local", metrics_port=port),
            run="r",
            rank=0,
            local_rank=0,
            output=str(tmp_path / "m"),
            serve=True,
            log=lines.append,
        )
        local.close()
        assert local.server is None
        assert any(f"port {port} is in use" in line and "warning" in line for line in lines)
        with pytest.raises(TrainingError, match=rf"port {port} is in use; set train.metrics_port"):
            TrainingMonitor.for_job(
                make_config(backend="pytorchjob", metrics_port=port),
                run="r",
                rank=0,
                local_rank=0,
                output=str(tmp_path / "m"),
                serve=True,
            )


def test_in_process_training_opens_no_port(tmp_path: Path) -> None:
    config = make_config(metrics_port=free_port())
    monitor = TrainingMonitor.for_job(
        config,
        run="r",
        rank=0,
        local_rank=0,
        output=str(tmp_path / "m"),
        serve=False,
    )
    monitor.close()
    assert monitor.server is None
    assert TrainingMonitor.quiet(config).sampler is None

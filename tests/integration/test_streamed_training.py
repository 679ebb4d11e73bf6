"""Training on streamed splits (``train.stream``): the digits splits rewritten in row groups of 100
rows, read a window of row groups at a time by DataLoader workers. 2 nodes x 1 process and
1 node x 2 processes end with the same weights; a rank killed mid-epoch resumes bit-identically;
and ``trainpipe run`` on Parquet shards ingests, splits, trains (2 processes), validates and
evaluates on streams, registers the model, and the registered model loads and scores rows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from training_jobs import (
    WITHOUT_SANITY_CHECKS,
    assert_bit_identical,
    run_job,
    weights,
    worker_pids,
    write_spec,
)
from trainpipe.config import load_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
STREAM = [
    "train.epochs=3",
    "train.checkpoint_every_steps=4",
    "train.stream.mode=stream",
    "train.stream.num_workers=1",
    "train.stream.window=3",
    *WITHOUT_SANITY_CHECKS,
]
TOPOLOGIES = {
    "two": ["train.nproc_per_node=2"],
    "nodes": ["train.nproc_per_node=1", "train.nnodes=2"],
}


@pytest.fixture(scope="module")
def streamed_splits(
    digits_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The digits training and validation splits in row groups of 100 rows."""
    root = tmp_path_factory.mktemp("streamed")
    out = {}
    for name in ("train", "validation"):
        source, target = Path(digits_splits[name]), root / name
        target.mkdir()
        shutil.copy(source / "schema.json", target / "schema.json")
        frame = pd.read_parquet(source / "data.parquet")
        frame.to_parquet(target / "data.parquet", index=False, row_group_size=100)
        out[name] = str(target)
    assert pq.ParquetFile(Path(out["train"]) / "data.parquet").metadata.num_row_groups > 6
    return out


@pytest.fixture(scope="module")
def job(
    streamed_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict]:
    """Each topology's streamed training job, run once for the module."""
    root = tmp_path_factory.mktemp("stream-jobs")
    runs: dict[str, dict] = {}

    def run(name: str) -> dict:
        if name not in runs:
            config = load_config(CONFIG, [*STREAM, *TOPOLOGIES[name]])
            out = root / name
            lines = run_job(config, write_spec(streamed_splits, out, config))
            metrics = json.loads((out / "metrics.json").read_text())
            runs[name] = {"weights": weights(out), "metrics": metrics, "lines": lines}
        return runs[name]

    return run


def test_two_nodes_of_one_equal_one_node_of_two(job: Callable[[str], dict]) -> None:
    two, nodes = job("two"), job("nodes")
    assert any("streaming the splits" in line for line in two["lines"])
    assert two["metrics"]["world_size"] == nodes["metrics"]["world_size"] == 2
    for name, tensor in two["weights"].items():
        torch.testing.assert_close(nodes["weights"][name], tensor, rtol=0, atol=1e-6)
    history = two["metrics"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.7  # learning after 3 epochs: not a vacuous match


def test_a_rank_killed_mid_epoch_resumes_bit_identically(
    job: Callable[[str], dict], streamed_splits: dict[str, str], tmp_path: Path
) -> None:
    config = load_config(CONFIG, [*STREAM, *TOPOLOGIES["two"]])
    out = tmp_path / "model"
    spec_path = write_spec(streamed_splits, out, config)
    killed: dict[str, int] = {}

    def on_line(line: str) -> None:
        if "epoch 1/3" in line and not killed:

            def kill() -> None:
                time.sleep(0.1)  # into epoch 2, past a checkpoint
                victim = max(worker_pids(spec_path))  # a rank, not one of its loader workers
                os.kill(victim, signal.SIGKILL)
                killed["pid"] = victim

            threading.Thread(target=kill, daemon=True).start()

    lines = run_job(config, spec_path, on_line=on_line)
    assert killed, "the rank was never killed"
    assert any("resumed from checkpoint at epoch 2" in line for line in lines), lines[-30:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == 1 and metrics["resumed_from_step"] > 17
    assert_bit_identical(weights(out), job("two")["weights"])


def xor_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """A table no linear model can score (the label is the sign of a product) plus noise
    columns and a categorical one."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    frame = pd.DataFrame({f"noise_{i}": rng.normal(size=rows) for i in range(6)})
    frame.insert(0, "a", a)
    frame.insert(1, "b", b)
    frame["region"] = rng.choice(["north", "south", "east"], rows)
    frame["label"] = np.where(a * b > 0, "same", "opposite")
    return frame


def test_trainpipe_run_streams_parquet_shards_and_registers_a_loadable_model(
    tmp_path: Path,
) -> None:
    """Every stage streams: ingest reads the shards a row group at a time, split, training,
    validation and evaluation read row groups."""
    shards = tmp_path / "shards"
    shards.mkdir()
    table = xor_table(12_000).drop(columns=["region"])  # numbers only: ingest streams them
    for i in range(3):
        part = table.iloc[i * 4000 : (i + 1) * 4000]
        part.to_parquet(shards / f"part-{i}.parquet", index=False, row_group_size=1000)
    config = {
        "name": "xor",
        # every dataset above 0 MiB is streamed: ingest, split, then training (train.stream auto)
        "data": {"source": str(shards / "part-*.parquet"), "label": "label",
                 "stream_threshold_mb": 0},
        "model": {"hidden": [32, 32], "dropout": 0.0},
        "train": {"epochs": 6, "batch_size": 128, "learning_rate": 0.01, "nproc_per_node": 2,
                  "stream": {"num_workers": 1}},
        "tune": {"max_trials": 0},
        "evaluate": {"thresholds": {"accuracy_min": 0.9}},
        "registry": {"uri": str(tmp_path / "registry"), "model_name": "xor"},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "run", "--config", str(path),
         "--run-dir", str(tmp_path / "run")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    log = (tmp_path / "run" / "pipeline.log").read_text()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    stats = json.loads((Path(summary["artifacts"]["dataset"]) / "stats.json").read_text())
    assert stats["ingest_mode"]["mode"] == "stream", stats["ingest_mode"]
    assert stats["ingest_mode"]["reason"].startswith("3 Parquet files above")
    assert "12,000 rows split as a stream, each by a seeded hash of its feature values" in output
    assert "streaming the splits: the training split's data.parquet" in log
    for split in ("validation", "test"):  # the validate and evaluate stages stream too
        assert f"scoring the {split} split as a stream: its data.parquet" in log
    assert summary["blessed"] and summary["model"]["version"] == 1, summary["gate"]
    assert summary["metrics"]["test"]["accuracy"] > 0.9

    from trainpipe.registry import load

    model = load("xor@champion", store=str(tmp_path / "registry"))
    rows = xor_table(400, seed=9).drop(columns=["region"])
    predicted = np.asarray(model.classes)[model.predict(rows.drop(columns=["label"]))]
    assert float((predicted == rows["label"].to_numpy()).mean()) > 0.9

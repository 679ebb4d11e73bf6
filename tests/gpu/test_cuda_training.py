"""The GPU path on a real GPU: NCCL beside gloo in one process group, a CUDA job killed mid-epoch
that resumes bit for bit, and a real out-of-memory error that the loop backs off from.

They need CUDA and are skipped without it (CI has no GPU; the CPU tests of the same code paths
run there). On a GPU machine, ``sh benchmarks/gpu_checks.sh`` runs them and ``benchmarks/gpu.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

from training_jobs import (
    WITHOUT_SANITY_CHECKS,
    assert_bit_identical,
    kill_a_worker_after,
    run_job,
    weights,
    write_spec,
)
from trainpipe.config import RunConfig, load_config
from trainpipe.data.prepare import prepare_splits
from trainpipe.train.distributed import DistContext, backend_devices, process_group_backend
from trainpipe.train.loop import run_training
from trainpipe.train.spec import TrainSpec

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"


def test_one_group_reduces_cuda_tensors_over_nccl_and_host_values_over_gloo(
    tmp_path: Path,
) -> None:
    backend = process_group_backend("cuda:0")
    assert backend_devices(backend) == {"cpu": "gloo", "cuda": "nccl"}
    torch.cuda.set_device(0)
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group(backend, store=store, rank=0, world_size=1)
    try:
        gradients = torch.full((1 << 20,), 0.5, device="cuda:0")
        dist.all_reduce(gradients)  # NCCL takes CUDA tensors only
        host = torch.tensor([3.0, 1.0], dtype=torch.float64)
        dist.all_reduce(host)  # the loop's sums and flags: gloo
        gathered: list[Any] = [None]
        dist.all_gather_object(gathered, {"rank": 0})
    finally:
        dist.destroy_process_group()
    assert float(gradients.sum()) == 0.5 * (1 << 20)
    assert host.tolist() == [3.0, 1.0] and gathered == [{"rank": 0}]


def test_a_cuda_job_killed_mid_epoch_resumes_bit_identically(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    overrides = ["train.epochs=4", "train.nproc_per_node=1", "train.checkpoint_every_steps=7"]
    config = load_config(CONFIG, [*overrides, *WITHOUT_SANITY_CHECKS])
    reference = tmp_path / "reference"
    run_job(config, write_spec(digits_splits, reference, config))
    assert json.loads((reference / "metrics.json").read_text())["device"] == "cuda"

    out = tmp_path / "model"
    spec_path = write_spec(digits_splits, out, config)
    killed: list[float] = []
    on_line = kill_a_worker_after(spec_path, "epoch 2/4", killed)  # into epoch 3
    lines = run_job(config, spec_path, on_line=on_line)
    assert killed, "the worker was never killed"
    assert any("resumed from checkpoint" in line for line in lines), "\n".join(lines[-30:])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == "cuda" and metrics["resumed_from_step"] > 0
    assert_bit_identical(weights(out), weights(reference))


def _sequence_splits(root: Path) -> tuple[RunConfig, dict[str, str]]:
    """A table of 600 series of 1024 steps for the zoo's transformer, whose activations (a
    global batch of 256 rows, 262,144 tokens a step) dwarf its 3M parameters."""
    rng = np.random.default_rng(0)
    series = rng.standard_normal((600, 1024), dtype=np.float32)
    frame = pd.DataFrame(series, columns=[f"t{i:04d}" for i in range(1024)])
    frame["y"] = (series[:, :512].mean(1) > 0).astype(np.int64)
    frame.to_parquet(root / "series.parquet")
    config = RunConfig.from_dict(
        {
            "seed": 0,
            "data": {"source": str(root / "series.parquet"), "label": "y"},
            "split": {"validation": 0.05, "test": 0.05},
            "model": {"kind": "transformer", "sequence_channels": 1, "patch_size": 1,
                      "d_model": 256, "heads": 4, "layers": 4, "dropout": 0.0},
            "train": {"epochs": 2, "batch_size": 256, "precision": "bf16",
                      "backend": "inprocess", "nproc_per_node": 1, "sanity_checks": False,
                      "metrics_port": 0},
            "evaluate": {"require_beat_baseline": False},
        }
    )  # fmt: skip
    return config, prepare_splits(config, root)


def _train(config: RunConfig, splits: dict[str, str], out: Path) -> dict[str, Any]:
    spec = TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out),
    )
    run_training(spec, DistContext(device="cuda:0"), log=print)
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


def test_a_real_out_of_memory_error_is_backed_off_with_the_global_batch_kept(
    tmp_path: Path,
) -> None:
    """The allocator is capped at 70% of what a step of the whole batch reserves: its first step
    runs out of memory for real, and the loop retries it in micro-batches that fit."""
    config, splits = _sequence_splits(tmp_path)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    whole = _train(config, splits, tmp_path / "uncapped")
    needed = torch.cuda.max_memory_reserved()
    assert not [e for e in whole["events"] if e["type"] == "out_of_memory"]
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(0.7 * needed / total, 0)
    try:
        capped = _train(config, splits, tmp_path / "capped")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
    backed_off = [e for e in capped["events"] if e["type"] == "out_of_memory"]
    assert backed_off, "no out-of-memory error at 70% of the memory a whole batch needs"
    assert backed_off[0]["action"] == "micro_batch_halved"
    assert backed_off[0]["global_step"] == 0 and backed_off[-1]["micro_batches"] >= 2
    assert len(capped["history"]) == len(whole["history"]) == 2  # every epoch trained
    assert capped["final"]["train_loss"] == pytest.approx(whole["final"]["train_loss"], rel=0.05)

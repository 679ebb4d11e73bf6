"""Every random generator seeded from the run config: once per run, and once per step.

A step's seed depends on ``(seed, global step, rank)`` only, so dropout and augmentation draw the
same numbers whether a run went straight through or resumed from a checkpoint at that step.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from trainpipe.config import RunConfig
from trainpipe.train.distributed import DistContext

CUBLAS_WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_WORKSPACE = ":4096:8"
"""The cuBLAS workspace that deterministic CUDA matmuls need (NVIDIA's and torch's advice)."""


def configure_torch(config: RunConfig, ctx: DistContext) -> None:
    """Seed every generator and pin threads so a run is reproducible (``train.deterministic``:
    torch's deterministic algorithms, without filling new tensors with NaN, and on CUDA the
    cuBLAS workspace they need, unless the environment sets one); on CUDA, float32
    matrix multiplies and convolutions on TF32 tensor cores unless ``train.tf32`` is false."""
    threads = config.train.num_threads or max(1, (os.cpu_count() or 1) // ctx.local_world_size)
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed % 2**32)
    if config.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN, a debugging aid for reads
        # of uninitialized memory that no correct op makes: 33 fills a step, 2% of the digits
        # CNN's epoch. Torch's own advice for valid programs is to turn it off; determinism
        # stays.
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    if ctx.device.startswith("cuda"):
        if config.train.deterministic:
            # cuBLAS is deterministic only with a fixed workspace (read when its handle is
            # made, at the first matmul); without it torch warns and results may vary
            os.environ.setdefault(CUBLAS_WORKSPACE_ENV, CUBLAS_WORKSPACE)
        fp32 = "tf32" if config.train.tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = fp32
        torch.backends.cudnn.conv.fp32_precision = fp32  # type: ignore[attr-defined]


def step_seed(config: RunConfig, global_step: int, rank: int) -> int:
    """The seed of one rank's optimizer step ``global_step``."""
    return (config.seed * 1_000_003 + global_step * 1_009 + rank) % 2**63


def seed_step(seed: int, device: str) -> None:
    """Seed the generators a step draws from: the CPU's, and the current CUDA device's on a
    CUDA rank. ``torch.manual_seed`` seeds every device type torch knows, and for each one
    that is not initialized it records a Python stack to seed it later: 0.7 ms a step here,
    a third of a digits CNN step."""
    torch.default_generator.manual_seed(seed)
    if device.startswith("cuda"):
        torch.cuda.manual_seed(seed)

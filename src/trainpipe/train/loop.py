"""The training loop: one process or DDP, checkpoint every epoch, rank 0 writes.

Read top to bottom: :func:`run_training` loads the data, builds the model, resumes from the newest
checkpoint, runs :func:`train_epoch` / :func:`evaluate_epoch` per epoch, checkpoints, and writes the
model. Tuning trials call :func:`fit` directly with an ``on_epoch`` callback for pruning.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.errors import TrainingError
from trainpipe.models import build_model
from trainpipe.storage import open_store
from trainpipe.train.artifacts import save_model
from trainpipe.train.checkpoint import load_latest, save_checkpoint
from trainpipe.train.data import Preprocess, global_batches, steps_per_epoch
from trainpipe.train.distributed import DistContext
from trainpipe.train.spec import TrainSpec

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called on every rank after each epoch with ``(epoch, row)``; may raise to stop training."""


@dataclass
class Tensors:
    """One split as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class FitResult:
    """What training produced."""

    model: nn.Module
    preprocess: Preprocess
    schema: Schema
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row of the history."""
        return self.history[-1] if self.history else {}


def configure_torch(config: RunConfig, ctx: DistContext) -> None:
    """Seed every generator and pin threads so a run is reproducible."""
    threads = config.train.num_threads or max(1, (os.cpu_count() or 1) // ctx.local_world_size)
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed % 2**32)
    if config.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def learning_rate_at(config: RunConfig, step: int, total_steps: int, per_epoch: int) -> float:
    """Linear warmup over ``train.warmup_epochs``, then cosine decay to 10% of the peak."""
    peak = config.train.learning_rate
    warmup = config.train.warmup_epochs * per_epoch
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer named by ``train.optimizer``."""
    train = config.train
    params = model.parameters()
    if train.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=train.learning_rate, momentum=0.9, weight_decay=train.weight_decay
        )
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    return torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)


def loss_sum(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-shard loss summed over samples (cross-entropy or squared error)."""
    if task == "classification":
        return nn.functional.cross_entropy(out, y, reduction="sum")
    return nn.functional.mse_loss(out, y, reduction="sum")


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Tensors,
    *,
    config: RunConfig,
    ctx: DistContext,
    epoch: int,
    total_steps: int,
) -> dict[str, float]:
    """One pass over the training split; returns mean loss (and accuracy) over all ranks."""
    model.train()
    task = config.task
    per_epoch = steps_per_epoch(len(data), config.train.batch_size)
    total_loss, correct, seen = 0.0, 0.0, 0.0
    batches = global_batches(
        len(data),
        config.train.batch_size,
        seed=config.seed,
        epoch=epoch,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    for step, shard in enumerate(batches):
        lr = learning_rate_at(config, epoch * per_epoch + step, total_steps, per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = data.x[shard.indices].to(ctx.device), data.y[shard.indices].to(ctx.device)
        out = model(x)
        summed = loss_sum(task, out, y)
        # DDP averages gradients over ranks; scale so the result is the global-batch mean.
        (summed * ctx.world_size / shard.global_size).backward()
        grad_norm = _clip(model, config.train.grad_clip)
        finite = ctx.all_reduce_sum([float(torch.isfinite(summed) and math.isfinite(grad_norm))])
        if finite[0] < ctx.world_size:
            raise TrainingError(
                f"non-finite loss or gradient at epoch {epoch + 1} step {step + 1} "
                f"(learning rate {lr:.3g}): lower train.learning_rate, add train.warmup_epochs "
                "or set train.grad_clip"
            )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total_loss += float(summed.detach())
        seen += len(shard.indices)
        if task == "classification":
            correct += float((out.argmax(dim=1) == y).sum())
    total_loss, correct, seen = ctx.all_reduce_sum([total_loss, correct, seen])
    row = {"train_loss": total_loss / seen, "learning_rate": lr}
    if task == "classification":
        row["train_accuracy"] = correct / seen
    return row


def _clip(model: nn.Module, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm > 0:
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))  # type: ignore[union-attr]


@torch.no_grad()
def evaluate_epoch(
    model: nn.Module, data: Tensors, *, config: RunConfig, ctx: DistContext
) -> dict[str, float]:
    """Validation loss and accuracy (or RMSE in target units), sharded over ranks."""
    model.eval()
    index = torch.arange(ctx.rank, len(data), ctx.world_size)
    total_loss, correct = 0.0, 0.0
    for chunk in index.split(1024):
        x, y = data.x[chunk].to(ctx.device), data.y[chunk].to(ctx.device)
        out = model(x)
        total_loss += float(loss_sum(config.task, out, y))
        if config.task == "classification":
            correct += float((out.argmax(dim=1) == y).sum())
    total_loss, correct, seen = ctx.all_reduce_sum([total_loss, correct, float(len(index))])
    row = {"val_loss": total_loss / seen}
    if config.task == "classification":
        row["val_accuracy"] = correct / seen
    return row


def load_tensors(spec: TrainSpec) -> tuple[Tensors, Tensors, Preprocess, Schema]:
    """Read both splits and fit the preprocessing on the training split only."""
    train_frame, schema = read_dataset(spec.train_data)
    val_frame, _ = read_dataset(spec.validation_data)
    preprocess = Preprocess.fit(train_frame, schema)
    train = Tensors(
        preprocess.transform_features(train_frame),
        preprocess.transform_target(train_frame, schema),
    )
    val = Tensors(
        preprocess.transform_features(val_frame), preprocess.transform_target(val_frame, schema)
    )
    return train, val, preprocess, schema


def fit(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    on_epoch: EpochCallback | None = None,
    checkpoint: bool = True,
) -> FitResult:
    """Train ``spec.config`` on ``spec.train_data``; resume from the newest checkpoint if any."""
    config = spec.config
    started = time.perf_counter()
    configure_torch(config, ctx)
    train, val, preprocess, schema = load_tensors(spec)
    n_outputs = len(schema.classes) if config.task == "classification" else 1
    torch.manual_seed(config.seed)
    module = build_model(config.model, len(schema.features), n_outputs).to(ctx.device)
    model: nn.Module = DistributedDataParallel(module) if ctx.distributed else module
    optimizer = make_optimizer(config, model)
    store = open_store(spec.checkpoint_location) if checkpoint else None
    history: list[dict[str, float]] = []
    start_epoch = 0
    resumed = None
    state = load_latest(store) if store is not None else None
    if state is not None:
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        resumed = start_epoch
    epochs = config.train.epochs
    total_steps = epochs * steps_per_epoch(len(train), config.train.batch_size)
    for epoch in range(start_epoch, epochs):
        # Per-epoch seeding keeps dropout identical across an interruption and a resume.
        torch.manual_seed(config.seed * 1_000_003 + epoch * 1_009 + ctx.rank)
        epoch_start = time.perf_counter()
        row: dict[str, float] = {"epoch": float(epoch + 1)}
        row |= train_epoch(
            model, optimizer, train, config=config, ctx=ctx, epoch=epoch, total_steps=total_steps
        )
        row |= evaluate_epoch(model, val, config=config, ctx=ctx)
        row["seconds"] = time.perf_counter() - epoch_start
        history.append(row)
        if store is not None and ctx.is_main:
            state = {
                "epoch": epoch,
                "model": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": history,
            }
            save_checkpoint(store, epoch, state, keep=config.train.keep_checkpoints)
        if on_epoch is not None:
            on_epoch(epoch, row)
    return FitResult(
        model=module,
        preprocess=preprocess,
        schema=schema,
        history=history,
        resumed_from_epoch=resumed,
        seconds=time.perf_counter() - started,
    )


def run_training(spec: TrainSpec, ctx: DistContext, *, log: Callable[[str], None] = print) -> None:
    """Train and, on rank 0, write the model artifact to ``spec.output``."""
    config = spec.config

    def report(epoch: int, row: dict[str, float]) -> None:
        if ctx.is_main:
            shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
            log(f"[trainpipe] epoch {epoch + 1}/{config.train.epochs} {shown}")

    result = fit(spec, ctx, on_epoch=report)
    ctx.barrier()
    if not ctx.is_main:
        return
    metrics: dict[str, Any] = {
        "history": result.history,
        "final": result.final,
        "world_size": ctx.world_size,
        "resumed_from_epoch": result.resumed_from_epoch,
        "seconds": result.seconds,
    }
    save_model(
        spec.output,
        result.model,
        model_config=config.model,
        task=config.task,
        label=result.schema.label,
        preprocess=result.preprocess,
        metrics=metrics,
    )
    log(f"[trainpipe] wrote model to {spec.output}")

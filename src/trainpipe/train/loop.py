"""The training loop: one process or DDP, checkpoints, preemption, non-finite rollback.

Read top to bottom: :func:`fit` loads the data, builds the model, restores the newest checkpoint,
and runs :func:`_run_epoch` until ``train.epochs`` are done. Every random draw is seeded from
``(seed, epoch)`` (data order) or ``(seed, global step, rank)`` (dropout), so a run that stops at
any step and resumes from a checkpoint ends with the same weights as one that never stopped.

Three things interrupt an epoch, decided by all ranks together at each step boundary (one
all-reduce carries both flags, so no rank deadlocks waiting for another):

- a non-finite loss or gradient: roll back to the newest checkpoint with the learning rate halved,
  at most ``train.max_rollbacks`` times, then fail;
- SIGTERM (preemption): rank 0 writes a checkpoint and every rank raises :class:`Preempted`, which
  the entrypoint turns into the retryable exit code 143.

Every step, checkpoint and epoch is reported to a :class:`~trainpipe.monitor.TrainingMonitor`
(Prometheus series, resource samples, anomaly detectors, TensorBoard); its anomaly events join
the run's ``events`` and its resource samples become ``metrics.json``'s ``resources``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.data.augment import build_augmenter
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.imbalance import class_weights, sample_order, smote
from trainpipe.errors import TrainingError
from trainpipe.models import build_model
from trainpipe.monitor import TrainingMonitor
from trainpipe.storage import ObjectStore, open_store
from trainpipe.train.artifacts import save_model
from trainpipe.train.checkpoint import load_latest, save_checkpoint
from trainpipe.train.data import Preprocess, global_batches, steps_per_epoch
from trainpipe.train.distributed import DistContext
from trainpipe.train.spec import TrainSpec

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called on every rank after each epoch with ``(epoch, row)``; may raise to stop training."""

RETRYABLE_EXIT_CODE = 143
"""Exit code after a preemption checkpoint (128 + SIGTERM): restart policies retry it."""

INJECT_NAN_ENV = "TRAINPIPE_INJECT_NAN_AT_STEP"
"""Fault injection for tests and drills: make the loss non-finite once at this global step."""
INJECT_OOM_ENV = "TRAINPIPE_INJECT_OOM_AT_STEP"
"""Fault injection: raise an out-of-memory error once at this global step (on rank 0)."""
INJECT_DIVERGENCE_ENV = "TRAINPIPE_INJECT_DIVERGENCE_AT_STEP"
"""Fault injection: from this global step on, multiply the learning rate by
:data:`DIVERGENCE_LR_FACTOR` so the loss really diverges."""
INJECT_STALL_ENV = "TRAINPIPE_INJECT_STALL_AT_STEP"
"""Fault injection: the batch fetch of this global step sleeps (once per process, every rank)."""
INJECT_STALL_SECONDS_ENV = "TRAINPIPE_INJECT_STALL_SECONDS"
"""How long the injected stall sleeps (default 5 seconds)."""
DIVERGENCE_LR_FACTOR = 1000.0


class Preempted(Exception):
    """SIGTERM arrived; a checkpoint was written and the process should exit retryably."""


class NonFiniteLoss(Exception):
    """Some rank saw a non-finite loss or gradient at this step."""


class OutOfMemoryBackoff(Exception):
    """Some rank ran out of accelerator memory at this step; every rank retries it smaller."""


@dataclass
class Tensors:
    """One split as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


@dataclass(kw_only=True)
class TrainState:
    """Where the loop stands; saved in every checkpoint as plain data."""

    epoch: int = 0
    step: int = 0
    """Optimizer steps already taken in ``epoch``."""
    global_step: int = 0
    lr_scale: float = 1.0
    rollbacks: int = 0
    micro_batches: int = 1
    """Slices each rank's shard is cut into (gradient accumulation); doubled on OOM."""
    parent: str = ""
    """The registered model the run warm-started from, kept across resumes."""
    partial: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Loss sum, correct count and samples of the current epoch so far (all ranks)."""
    history: list[dict[str, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sanity: dict[str, Any] | None = None
    """The sanity checks' result (rank 0, before the first step), kept across resumes."""


@dataclass
class FitResult:
    """What training produced."""

    model: nn.Module
    preprocess: Preprocess
    schema: Schema
    history: list[dict[str, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    resumed_from_step: int | None = None
    parent: str | None = None
    """The registered model this run warm-started from (``NAME:VERSION``)."""
    seconds: float = 0.0
    resources: list[dict[str, Any]] = field(default_factory=list)
    """Resource samples of every rank over time (see :mod:`trainpipe.monitor.resources`)."""
    sanity: dict[str, Any] | None = None
    """The sanity checks' result (:mod:`trainpipe.train.sanity`), None when they were off."""

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row of the history."""
        return self.history[-1] if self.history else {}


class StopFlag:
    """Set by SIGTERM; read at step boundaries. Installed only in the main thread."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Catch SIGTERM while training (a no-op outside the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.requested = True

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)


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


def loss_sum(
    task: str, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-shard loss summed over samples (cross-entropy, optionally class-weighted, or squared
    error), in float32."""
    out = out.float()
    if task == "classification":
        return nn.functional.cross_entropy(out, y, weight=weight, reduction="sum")
    return nn.functional.mse_loss(out, y, reduction="sum")


def _step_seed(config: RunConfig, global_step: int, rank: int) -> int:
    return (config.seed * 1_000_003 + global_step * 1_009 + rank) % 2**63


def _clip(model: nn.Module, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    norms = torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])
    return float(torch.linalg.vector_norm(norms))


@torch.no_grad()
def evaluate_epoch(
    model: nn.Module, data: Tensors, *, config: RunConfig, ctx: DistContext
) -> dict[str, float]:
    """Validation loss and accuracy, sharded over ranks."""
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
    data = spec.config.data
    preprocess = Preprocess.fit(
        train_frame,
        schema,
        clip_quantile=data.clip_quantile,
        vocab_size=data.vocab_size,
        max_tokens=data.max_tokens,
    )
    train = Tensors(
        preprocess.transform_features(train_frame),
        preprocess.transform_target(train_frame, schema),
    )
    val = Tensors(
        preprocess.transform_features(val_frame), preprocess.transform_target(val_frame, schema)
    )
    return train, val, preprocess, schema


class Trainer:
    """One training run's moving parts; :func:`fit` drives it."""

    def __init__(
        self,
        spec: TrainSpec,
        ctx: DistContext,
        *,
        store: ObjectStore | None,
        stop: StopFlag,
        log: Callable[[str], None],
        monitor: TrainingMonitor | None = None,
    ) -> None:
        self.config = config = spec.config
        self.ctx = ctx
        self.store = store
        self.stop = stop
        self.log = log
        self.monitor = monitor or TrainingMonitor.quiet(config, run=spec.run_id, rank=ctx.rank)
        self.train, self.val, self.preprocess, self.schema = load_tensors(spec)
        self.augment = build_augmenter(
            config.train.augment,
            image_shape=config.model.image_shape or None,
            vocabulary=self.preprocess.vocabulary if self.preprocess.text else None,
        )
        self.class_weight: torch.Tensor | None = None
        imbalance = config.train.imbalance
        if imbalance == "smote":
            x, y = smote(
                self.train.x.numpy(),
                self.train.y.numpy(),
                seed=config.seed,
                categorical=list(self.preprocess.categories),
                text=[self.preprocess.text] if self.preprocess.text else [],
            )
            self.train = Tensors(torch.from_numpy(x).float(), torch.from_numpy(y).long())
        elif imbalance == "class_weights":
            classes = len(self.schema.classes)
            self.class_weight = class_weights(self.train.y, classes).to(ctx.device)
        n_outputs = len(self.schema.classes) if config.task == "classification" else 1
        torch.manual_seed(config.seed)
        self.module = build_model(
            config.model,
            self.preprocess.width,
            n_outputs,
            vocab_size=len(self.preprocess.vocabulary),
        )
        self.module.to(ctx.device)
        self.model: nn.Module = (
            DistributedDataParallel(self.module) if ctx.distributed else self.module
        )
        self.optimizer = make_optimizer(config, self.model)
        order = self.epoch_order(0)
        rows = len(order) if order is not None else len(self.train)
        self.per_epoch = steps_per_epoch(rows, config.train.batch_size)
        self.total_steps = config.train.epochs * self.per_epoch
        self.state = TrainState()
        self.inject_nan_at = int(os.environ.get(INJECT_NAN_ENV, "-1"))
        self.inject_oom_at = int(os.environ.get(INJECT_OOM_ENV, "-1"))
        self.inject_divergence_at = int(os.environ.get(INJECT_DIVERGENCE_ENV, "-1"))
        self.inject_stall_at = int(os.environ.get(INJECT_STALL_ENV, "-1"))
        self.inject_stall_seconds = float(os.environ.get(INJECT_STALL_SECONDS_ENV, "5"))
        self.epoch_wait = 0.0
        """Seconds this rank waited for batches in the current epoch."""
        # The OOM guard costs one small all-reduce per step: only where OOM can be survived.
        self.oom_guard = ctx.device.startswith("cuda") or self.inject_oom_at >= 0

    def epoch_order(self, epoch: int) -> torch.Tensor | None:
        """A resampled (seed, epoch) order for over-/undersampling; None: the plain permutation."""
        mode = self.config.train.imbalance
        if mode not in ("oversample", "undersample"):
            return None
        return sample_order(self.train.y, mode=mode, seed=self.config.seed, epoch=epoch)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """All ranks: agree on the epoch's partial sums and collect every rank's new anomaly
        events into rank 0's state; rank 0 writes the checkpoint."""
        started = time.perf_counter()
        partial = self.ctx.all_reduce_sum(list(self.state.partial))
        self.keep_anomalies()
        if self.store is None or not self.ctx.is_main:
            return
        state = {
            "state": {**asdict(self.state), "partial": partial},
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        save_checkpoint(
            self.store, self.state.global_step, state, keep=self.config.train.keep_checkpoints
        )
        self.monitor.checkpoint_seconds(time.perf_counter() - started)

    def keep_anomalies(self) -> None:
        """All ranks: move the anomaly events every rank saw since the last call into rank 0's
        ``state.events`` (checkpointed, so they survive a restart)."""
        fresh = _gather(self.ctx, self.monitor.new_events())
        if self.ctx.is_main and fresh:
            ordered = sorted(fresh, key=lambda e: (e["time"], e["rank"]))
            self.state.events = [*self.state.events, *ordered]

    def restore(self) -> bool:
        """Load the newest checkpoint into the model, optimizer and state; False if none."""
        saved = load_latest(self.store) if self.store is not None else None
        if saved is None:
            return False
        self.module.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.state = TrainState(**saved["state"])
        if not self.ctx.is_main:  # rank 0 carries the epoch's sums so far
            self.state.partial = [0.0, 0.0, 0.0]
        return True

    # -- the loop ---------------------------------------------------------------------------

    def run_epoch(self) -> dict[str, float]:
        """Train from ``state.step`` to the end of ``state.epoch``; return the epoch's row."""
        config, ctx, state = self.config, self.ctx, self.state
        self.model.train()
        epoch_start = time.perf_counter()
        batches = global_batches(
            len(self.train),
            config.train.batch_size,
            seed=config.seed,
            epoch=state.epoch,
            rank=ctx.rank,
            world_size=ctx.world_size,
            order=self.epoch_order(state.epoch),
        )
        lr = 0.0
        self.epoch_wait, processed, stepping = 0.0, 0, 0.0
        for step, shard in enumerate(batches):
            if step < state.step:
                continue  # taken before the checkpoint we resumed from
            step_start = time.perf_counter()
            while True:
                try:
                    lr = self._train_step(shard.indices, shard.global_size)
                    break
                except OutOfMemoryBackoff as exc:
                    self.back_off(str(exc), len(shard.indices))
            processed += shard.global_size
            stepping += time.perf_counter() - step_start
            state.step += 1
            state.global_step += 1
            every = config.train.checkpoint_every_steps
            if every and state.global_step % every == 0 and state.step < self.per_epoch:
                self.checkpoint()
        loss, correct, seen, wait = ctx.all_reduce_sum([*state.partial, self.epoch_wait])
        row = {"epoch": float(state.epoch + 1), "train_loss": loss / seen, "learning_rate": lr}
        if config.task == "classification":
            row["train_accuracy"] = correct / seen
        row |= evaluate_epoch(self.model, self.val, config=config, ctx=ctx)
        row["seconds"] = time.perf_counter() - epoch_start
        row["samples_per_second"] = processed / stepping if stepping > 0 else 0.0
        row["data_wait_seconds"] = wait / ctx.world_size  # per rank, averaged over ranks
        return row

    def _fetch(self, indices: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This rank's batch on the device, augmented, and the seconds that took (data wait)."""
        started = time.perf_counter()
        if self.state.global_step == self.inject_stall_at:
            self.inject_stall_at = -1  # once per process, like a storage hiccup
            time.sleep(self.inject_stall_seconds)
        device = self.ctx.device
        x, y = self.train.x[indices], self.train.y[indices].to(device)
        if self.augment:  # training batches only, drawn from the step's own generator
            x = self.augment(x, torch.Generator().manual_seed(seed))
        return x.to(device), y, time.perf_counter() - started

    def _train_step(self, indices: torch.Tensor, global_size: int) -> float:
        started = time.perf_counter()
        config, ctx, state = self.config, self.ctx, self.state
        lr = state.lr_scale * learning_rate_at(
            config, state.global_step, self.total_steps, self.per_epoch
        )
        if 0 <= self.inject_divergence_at <= state.global_step:
            lr *= DIVERGENCE_LR_FACTOR
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        seed = _step_seed(config, state.global_step, ctx.rank)
        torch.manual_seed(seed)
        x, y, data_seconds = self._fetch(indices, seed)
        summed, correct = self._forward_backward(x, y, global_size)
        grad_norm = _clip(self.model, config.train.grad_clip)
        finite = bool(torch.isfinite(summed)) and math.isfinite(grad_norm)
        flags = ctx.all_reduce_sum([float(not finite), float(self.stop.requested)])
        if flags[0] > 0:
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(f"epoch {state.epoch + 1} step {state.step + 1}, lr {lr:.3g}")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = float(summed.detach())
        state.partial[0] += loss
        state.partial[1] += correct
        state.partial[2] += len(indices)
        self.epoch_wait += data_seconds
        self.monitor.step(
            epoch=state.epoch,
            global_step=state.global_step + 1,
            loss=loss / max(1, len(indices)),
            samples=len(indices),
            seconds=time.perf_counter() - started,
            data_seconds=data_seconds,
            learning_rate=lr,
            grad_norm=grad_norm,
        )
        if flags[1] > 0:
            state.step += 1
            state.global_step += 1
            self.checkpoint()
            ctx.barrier()
            raise Preempted(f"stopped at global step {state.global_step} after SIGTERM")
        return lr

    def _forward_backward(
        self, x: torch.Tensor, y: torch.Tensor, global_size: int
    ) -> tuple[torch.Tensor, float]:
        """Forward and backward over ``state.micro_batches`` slices of this rank's shard.

        Gradients accumulate locally (``no_sync``) and DDP reduces them once, on the last slice.
        With the OOM guard on (CUDA, or an injected fault), the ranks agree on "nobody ran out of
        memory" before that last, synchronizing backward, so an OOM on one rank never leaves
        the others waiting in a collective: every rank raises :class:`OutOfMemoryBackoff`.
        """
        config, ctx, state = self.config, self.ctx, self.state
        autocast = torch.autocast(
            device_type="cuda" if ctx.device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=config.train.precision == "bf16",
        )
        # DDP averages gradients over ranks; scale so the result is the global-batch mean.
        scale = ctx.world_size / global_size
        slices = list(
            zip(
                x.tensor_split(state.micro_batches),
                y.tensor_split(state.micro_batches),
                strict=True,
            )
        )
        summed = torch.zeros((), device=ctx.device)
        correct = 0.0
        pending: torch.Tensor | None = None
        out_of_memory = False
        for i, (xs, ys) in enumerate(slices):
            try:
                if state.global_step == self.inject_oom_at and ctx.is_main:
                    self.inject_oom_at = -1
                    raise torch.OutOfMemoryError("injected: CUDA out of memory (fault drill)")
                with autocast:
                    out = self.model(xs)
                    part = loss_sum(config.task, out, ys, self.class_weight)
                if state.global_step == self.inject_nan_at and ctx.is_main:
                    self.inject_nan_at = -1  # once per process: the retry after rollback is clean
                    part = part * float("nan")
                summed = summed + part.detach()
                if config.task == "classification":
                    correct += float((out.argmax(dim=1) == ys).sum())
                if i < len(slices) - 1:
                    with self._no_sync():
                        (part * scale).backward()
                else:
                    pending = part * scale
            except torch.OutOfMemoryError:
                if not self.oom_guard:
                    raise
                out_of_memory = True
                break
        if self.oom_guard and ctx.all_reduce_sum([float(out_of_memory)])[0] > 0:
            pending = None
            self.optimizer.zero_grad(set_to_none=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise OutOfMemoryBackoff(f"epoch {state.epoch + 1} step {state.step + 1}")
        assert pending is not None
        pending.backward()
        return summed, correct

    def _no_sync(self) -> contextlib.AbstractContextManager[None]:
        if isinstance(self.model, DistributedDataParallel):
            return self.model.no_sync()
        return contextlib.nullcontext()

    def back_off(self, reason: str, shard_size: int) -> None:
        """Out of memory: halve the micro-batch (accumulate over twice as many) and retry."""
        state = self.state
        if state.micro_batches * 2 > max(1, shard_size):
            raise TrainingError(
                f"out of memory at {reason} even with one sample per micro-batch: lower "
                "train.batch_size, use train.precision=bf16 or a smaller model"
            )
        state.micro_batches *= 2
        state.events = [
            *state.events,
            {
                "type": "out_of_memory",
                "at": reason,
                "global_step": state.global_step,
                "action": "micro_batch_halved",
                "micro_batches": state.micro_batches,
            },
        ]
        if self.ctx.is_main:
            self.log(
                f"[trainpipe] out of memory at {reason}: retrying with "
                f"{state.micro_batches} micro-batches per step (same global batch)"
            )

    def warm_start(self) -> str | None:
        """Load ``train.warm_start``'s weights (verified, weights only); return its reference."""
        ref = self.config.train.warm_start
        if not ref:
            return None
        from trainpipe.registry import ModelRegistry

        registry = ModelRegistry.open(self.config.registry.uri)
        item = registry.resolve(ref)
        parent = registry.load(f"{item.name}:{item.version}")
        try:
            self.module.load_state_dict(parent.module.state_dict())
        except RuntimeError as exc:
            raise TrainingError(
                f"train.warm_start {ref!r} ({item.ref}) has another architecture than "
                f"model: {str(exc).splitlines()[0]}; match the model config or drop warm_start"
            ) from exc
        self.state.parent = item.ref
        if self.ctx.is_main:
            self.log(f"[trainpipe] warm start from {item.ref}")
        return item.ref

    def roll_back(self, reason: str) -> None:
        """Return to the newest checkpoint with the learning rate halved, or fail."""
        state = self.state
        self.monitor.non_finite(reason, epoch=state.epoch, global_step=state.global_step)
        if state.rollbacks >= self.config.train.max_rollbacks:
            raise TrainingError(
                f"non-finite loss or gradient at {reason} after {state.rollbacks} rollback(s) "
                "with the learning rate halved each time: lower train.learning_rate, add "
                "train.warmup_epochs or set train.grad_clip"
            )
        event = {
            "type": "non_finite",
            "at": reason,
            "global_step": state.global_step,
            "action": "rollback",
            "lr_scale": state.lr_scale / 2,
        }
        lr_scale, rollbacks, events = state.lr_scale / 2, state.rollbacks + 1, [*state.events]
        if not self.restore():
            raise TrainingError(
                f"non-finite loss or gradient at {reason} and no checkpoint to roll back to: "
                "lower train.learning_rate, add train.warmup_epochs or set train.grad_clip"
            )
        event["resumed_at_step"] = self.state.global_step
        self.state.lr_scale, self.state.rollbacks = lr_scale, rollbacks
        self.state.events = [*events, event]
        if self.ctx.is_main:
            self.log(
                f"[trainpipe] non-finite loss at {reason}: rolled back to step "
                f"{self.state.global_step}, learning rate x{lr_scale:g}"
            )


def fit(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    on_epoch: EpochCallback | None = None,
    checkpoint: bool = True,
    log: Callable[[str], None] = print_line,
    monitor: TrainingMonitor | None = None,
) -> FitResult:
    """Train ``spec.config``; resume from the newest checkpoint in ``spec.checkpoint_location``.

    ``monitor`` watches the run (a quiet, in-memory one when None); fit starts it and always
    closes it, so its threads and port never outlive training.
    """
    config = spec.config
    started = time.perf_counter()
    monitor = monitor or TrainingMonitor.quiet(config, run=spec.run_id, rank=ctx.rank)
    try:
        configure_torch(config, ctx)
        store = open_store(spec.checkpoint_location) if checkpoint else None
        with StopFlag().installed() as stop:
            trainer = Trainer(spec, ctx, store=store, stop=stop, log=log, monitor=monitor)
            resumed = trainer.restore()
            state = trainer.state
            resumed_epoch, resumed_step = (
                (state.epoch, state.global_step) if resumed else (None, None)
            )
            if resumed and ctx.is_main:
                log(
                    f"[trainpipe] resumed from checkpoint at epoch {state.epoch + 1} "
                    f"step {state.global_step}"
                )
            parent = trainer.warm_start() if not resumed else None
            if not resumed and ctx.is_main and config.train.sanity_checks:
                from trainpipe.train.sanity import run_sanity_checks

                # on the tensors this run trains on; a resumed run keeps the first result
                trainer.state.sanity = run_sanity_checks(
                    spec,
                    tensors=(trainer.train, trainer.val, trainer.preprocess, trainer.schema),
                    log=log,
                )
            monitor.start()
            if not resumed and store is not None:
                trainer.checkpoint()  # step 0: a rollback target before the first epoch ends
            while trainer.state.epoch < config.train.epochs:
                try:
                    row = trainer.run_epoch()
                except NonFiniteLoss as exc:
                    trainer.roll_back(str(exc))
                    continue
                state = trainer.state
                state.history.append(row)
                monitor.epoch_end(row, epoch=state.epoch, global_step=state.global_step)
                state.epoch += 1
                state.step = 0
                state.partial = [0.0, 0.0, 0.0]
                if store is not None:
                    trainer.checkpoint()
                if on_epoch is not None:
                    on_epoch(state.epoch - 1, row)
    finally:
        monitor.close()
    trainer.keep_anomalies()  # those after the last checkpoint
    resources = sorted(_gather(ctx, monitor.resources), key=lambda r: (r["seconds"], r["rank"]))
    return FitResult(
        model=trainer.module,
        preprocess=trainer.preprocess,
        schema=trainer.schema,
        history=trainer.state.history,
        events=trainer.state.events,
        resumed_from_epoch=resumed_epoch,
        resumed_from_step=resumed_step,
        parent=parent or (trainer.state.parent or None),
        seconds=time.perf_counter() - started,
        resources=resources,
        sanity=trainer.state.sanity,
    )


def _gather(ctx: DistContext, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rank's ``items``, concatenated (a collective: every rank must call it)."""
    if not ctx.distributed:
        return list(items)
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def run_training(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    log: Callable[[str], None] = print_line,
    serve_metrics: bool = False,
    monitor: TrainingMonitor | None = None,
) -> None:
    """Train and, on rank 0, write the model artifact to ``spec.output``.

    ``serve_metrics``: open the Prometheus endpoint on ``train.metrics_port`` + LOCAL_RANK. Only
    the job entrypoint does; in-process training shares its process and must not take a port.
    ``monitor``: watch the run with this one instead of building it from the config.
    """
    config = spec.config

    def report(epoch: int, row: dict[str, float]) -> None:
        if ctx.is_main:
            shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
            # An RFC 3339 timestamp first: Katib's StdOut metrics collector orders metrics by it.
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            log(f"{stamp} [trainpipe] epoch {epoch + 1}/{config.train.epochs} {shown}")

    monitor = monitor or TrainingMonitor.for_job(
        config,
        run=spec.run_id,
        rank=ctx.rank,
        local_rank=ctx.local_rank,
        output=spec.output,
        serve=serve_metrics,
        log=log,
    )
    result = fit(spec, ctx, on_epoch=report, log=log, monitor=monitor)
    ctx.barrier()
    if not ctx.is_main:
        return
    metrics: dict[str, Any] = {
        "history": result.history,
        "final": result.final,
        "events": result.events,
        "world_size": ctx.world_size,
        "resumed_from_epoch": result.resumed_from_epoch,
        "resumed_from_step": result.resumed_from_step,
        "parent": result.parent,
        "seconds": result.seconds,
        "resources": result.resources,
        "sanity": result.sanity,
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

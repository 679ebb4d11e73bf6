"""The training loop: one process or DDP, checkpoints, preemption, non-finite rollback.

Read top to bottom: :func:`fit` builds a :class:`Trainer` (data, model, optimizer), restores the
newest checkpoint or warm-starts, and runs :meth:`Trainer.run_epoch` until ``train.epochs`` are
done; the monitor is closed in ``finally``. Every random draw is seeded from ``(seed, epoch)``
(data order, :mod:`trainpipe.train.data`) or ``(seed, global step, rank)`` (dropout,
:mod:`trainpipe.train.seeding`), so a run that stops at any step and resumes from a checkpoint
ends with the same weights as one that never stopped.

Three things interrupt a step, decided by all ranks together (:mod:`trainpipe.train.guards`): a
non-finite loss or gradient (roll back to the newest checkpoint with the learning rate halved),
running out of memory (in a forward or backward pass: retry with twice as many micro-batches; in
the optimizer step: back to the newest checkpoint, updating one parameter at a time) and SIGTERM
(checkpoint, then :class:`~trainpipe.train.guards.Preempted`). One all-reduce per step carries
the non-finite and stop flags, so no rank deadlocks waiting for another.

Every step, checkpoint and epoch is reported to a :class:`~trainpipe.monitor.TrainingMonitor`
(Prometheus series, resource samples, anomaly detectors, TensorBoard); its anomaly events join
the run's ``events`` and its resource samples become ``metrics.json``'s ``resources``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.nn.parallel import DistributedDataParallel

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.errors import ConfigError, TrainingError
from trainpipe.monitor.training import TrainingMonitor
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.train.artifacts import code_record, save_model
from trainpipe.train.checkpoint import Checkpointer
from trainpipe.train.data import Shard, steps_per_epoch
from trainpipe.train.distributed import DistContext
from trainpipe.train.epoch_line import format_epoch_line
from trainpipe.train.failure import clear_failure, failure_record, write_failure
from trainpipe.train.faults import DIVERGENCE_LR_FACTOR, INJECT_OOM_ENV, Faults
from trainpipe.train.guards import (
    NonFiniteLoss,
    OptimizerOutOfMemory,
    OutOfMemoryBackoff,
    Preempted,
    StopFlag,
    halve_micro_batch,
    per_parameter_optimizer,
    rolled_back,
)
from trainpipe.train.membership import (
    changed,
    current_membership,
    membership_event,
    membership_history,
)
from trainpipe.train.objective import evaluate_epoch, load_user_loss, loss_sum
from trainpipe.train.optim import (
    clip_gradients,
    learning_rate_at,
    make_optimizer,
    set_per_parameter,
    skips_on_device,
    step_unless,
)
from trainpipe.train.sanity import run_sanity_checks
from trainpipe.train.seeding import configure_torch, seed_step, step_seed
from trainpipe.train.sharding import lockstep, set_gradient_sync, shard_model, whole_model
from trainpipe.train.spec import TrainSpec
from trainpipe.train.state import EpochCallback, FailureCallback, FitResult, TrainState
from trainpipe.train.training_data import build_run_model, load_training_data
from trainpipe.train.user_loop import fit_user_loop

CUDA_GUARD_EVERY = 16
"""Steps between two decisions of the guards on CUDA (``train.guard_every_steps: 0``): one
host-device sync per 16 steps instead of one per step."""


@dataclasses.dataclass
class PendingStep:
    """A step whose values are still on the device: what :meth:`Trainer.settle` accounts."""

    epoch: int
    step: int
    """Optimizer steps into the epoch before this one."""
    global_step: int
    rows: int
    started: float
    data_seconds: float
    learning_rate: float
    values: torch.Tensor
    """``[loss sum, correct, gradient norm]`` on the training device, float32 (float64 for a
    float64 model's gradient norm)."""


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def guard_interval(config: RunConfig, device: str) -> int:
    """Optimizer steps between two decisions of the guards: ``train.guard_every_steps``, or
    (0) every step on a CPU and every :data:`CUDA_GUARD_EVERY` on CUDA."""
    if config.train.guard_every_steps:
        return config.train.guard_every_steps
    return CUDA_GUARD_EVERY if device.startswith("cuda") else 1


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
        faults: Faults,
        monitor: TrainingMonitor | None = None,
    ) -> None:
        self.config = config = spec.config
        self.ctx = ctx
        self.stop = stop
        self.log = log
        self.monitor = monitor or TrainingMonitor.quiet(config, run=spec.run_id, rank=ctx.rank)
        self.faults = faults
        self.checkpoints = Checkpointer(store, ctx, keep=config.train.keep_checkpoints)
        self.data = load_training_data(
            spec, device=ctx.device, log=log if ctx.is_main else None, ctx=ctx
        )
        self.preprocess, self.schema = self.data.preprocess, self.data.schema
        self.class_weight = self.data.class_weight
        self.module = build_run_model(config, self.data)
        self.user_loss = load_user_loss(config)
        self.module.to(ctx.device)
        if config.train.channels_last:  # 4-D weights only; a conv's output follows its weight
            self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if config.train.compile:  # in place: the module keeps its parameters and their names
            self.module.compile()
        self.sharded = config.train.strategy == "fsdp" and ctx.distributed
        """``train.strategy: fsdp`` in a job of several ranks (one rank has nothing to shard)."""
        if self.sharded and faults.oom_at is not None:
            raise ConfigError(
                f"{INJECT_OOM_ENV} drills the out-of-memory back-off, which train.strategy fsdp "
                "does not have (its forward and backward are collectives); unset it or train "
                "with train.strategy ddp"
            )
        self.model: nn.Module
        if self.sharded:
            self.model = shard_model(self.module)
        elif ctx.distributed:
            self.model = DistributedDataParallel(self.module)
        else:
            self.model = self.module
        self.optimizer = make_optimizer(config, self.model)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        bf16 = config.train.precision == "bf16"
        self.autocast: contextlib.AbstractContextManager[Any] = (
            torch.autocast(device_type=ctx.device.split(":")[0], dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext()
        )
        self.guard_every = guard_interval(config, ctx.device)
        """Steps between decisions where the optimizer can skip a step on the device."""
        self.pending: list[PendingStep] = []
        if self.guard_every > 1 and ctx.is_main:
            chosen = "" if config.train.guard_every_steps else " (0: the CUDA default)"
            if skips_on_device(self.optimizer):
                log(
                    f"[trainpipe] the guards decide every {self.guard_every} steps "
                    f"(train.guard_every_steps{chosen}): loss and gradient norm stay on the "
                    "device in between, and a non-finite step is skipped there"
                )
            else:
                log(
                    f"[trainpipe] the guards decide every step: {type(self.optimizer).__name__} "
                    "cannot skip a step on the device, so train.guard_every_steps "
                    f"{self.guard_every}{chosen} does not apply"
                )
        self.per_epoch = steps_per_epoch(self.data.epoch_rows(), config.train.batch_size)
        self.total_steps = config.train.epochs * self.per_epoch
        self.state = TrainState()
        self.epoch_wait = 0.0
        """Seconds this rank waited for batches in the current epoch."""
        self.shard_wait = 0.0
        """Seconds the next step's shard took to arrive (a streamed split's loader)."""
        # The OOM guard costs one small all-reduce per step: only where OOM can be survived.
        self.oom_guard = not self.sharded and (
            ctx.device.startswith("cuda") or self.faults.oom_at is not None
        )
        if self.sharded and ctx.device.startswith("cuda") and ctx.is_main:
            log(
                "[trainpipe] train.strategy fsdp: an out-of-memory error fails the step on "
                "every rank (a sharded forward and backward are collectives, so the ranks "
                "cannot agree to back off); the job's restart resumes from the newest checkpoint"
            )

    # -- where the run starts -----------------------------------------------------------------

    def restore(self) -> bool:
        """Load the newest checkpoint into the model, optimizer and state; False if none."""
        restored = self.checkpoints.restore(self.module, self.optimizer)
        if restored is None:
            return False
        self.state = restored
        set_per_parameter(self.optimizer, restored.optimizer_per_parameter)
        return True

    def warm_start(self) -> str | None:
        """Load ``train.warm_start``'s weights (verified, weights only); return its reference."""
        ref = self.config.train.warm_start
        if not ref:
            return None
        from trainpipe.registry.registry import ModelRegistry

        registry = ModelRegistry.open(self.config.registry.uri)
        item = registry.resolve(ref)
        parent = registry.load(f"{item.name}:{item.version}")
        try:
            if self.sharded:  # every rank loads the whole weights into its shards
                options = StateDictOptions(full_state_dict=True)
                set_model_state_dict(self.module, parent.module.state_dict(), options=options)
            else:
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

    # -- the loop -----------------------------------------------------------------------------

    def run_epoch(self) -> dict[str, float]:
        """Train from ``state.step`` to the end of ``state.epoch``; return the epoch's row."""
        config, ctx, state = self.config, self.ctx, self.state
        self.model.train()
        epoch_start = time.perf_counter()
        # from the step the checkpoint we resumed from had reached
        batches = self.data.shards(
            state.epoch, rank=ctx.rank, world_size=ctx.world_size, start_step=state.step
        )
        lr = 0.0
        self.epoch_wait, processed, stepping = 0.0, 0, 0.0
        waited = time.perf_counter()
        for shard in batches:
            self.shard_wait = time.perf_counter() - waited  # a streamed split's read
            step_start = time.perf_counter()
            while True:
                try:
                    lr = self._train_step(shard)
                    break
                except OutOfMemoryBackoff as exc:
                    self.back_off(str(exc), len(shard))
            processed += shard.global_size
            stepping += time.perf_counter() - step_start
            every = config.train.checkpoint_every_steps
            if every and state.global_step % every == 0 and state.step < self.per_epoch:
                self.checkpoint()
            if self.faults.preempts(state.global_step):
                self._preempt("as the preemption drill asked")
            waited = time.perf_counter()
        settling = time.perf_counter()
        self.settle()  # the epoch's last steps: their sums are in the row
        stepping += time.perf_counter() - settling
        loss, correct, seen, wait = ctx.all_reduce_sum([*state.partial, self.epoch_wait])
        row = {"epoch": float(state.epoch + 1), "train_loss": loss / seen, "learning_rate": lr}
        if config.task == "classification":
            row["train_accuracy"] = correct / seen
        validation = self.data.validation_batches(rank=ctx.rank, world_size=ctx.world_size)
        if self.sharded:
            held_out = self.data.check_tensors()[1]
            validation = lockstep(validation, ctx, empty=(held_out.x[:0], held_out.y[:0]))
        row |= evaluate_epoch(
            self.model,
            validation,
            config=config,
            ctx=ctx,
            user_loss=self.user_loss,
        )
        row["seconds"] = time.perf_counter() - epoch_start
        row["samples_per_second"] = processed / stepping if stepping > 0 else 0.0
        row["data_wait_seconds"] = wait / ctx.world_size  # per rank, averaged over ranks
        return row

    def _train_step(self, shard: Shard) -> float:
        """One optimizer step on this rank's ``shard``; returns its learning rate.

        The step's loss sum, correct count and gradient norm stay on the device in a
        :class:`PendingStep` until :meth:`settle` reads them. Where the optimizer can skip a
        step on the device (:func:`~trainpipe.train.optim.skips_on_device`), a non-finite
        step is skipped there and the decision waits for ``guard_every`` steps; otherwise the
        ranks decide before the optimizer steps, as every step on a CPU does."""
        started = time.perf_counter()
        config, ctx, state = self.config, self.ctx, self.state
        lr = state.lr_scale * learning_rate_at(
            config, state.global_step, self.total_steps, self.per_epoch
        )
        if self.faults.diverging(state.global_step):
            lr *= DIVERGENCE_LR_FACTOR
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        seed = step_seed(config, state.global_step, ctx.rank)
        seed_step(seed, ctx.device)
        x, y, data_seconds = self._fetch(shard, seed)
        summed, correct = self._forward_backward(x, y, shard.global_size)
        grad_norm = clip_gradients(self.params, config.train.grad_clip)
        # float32 (a step's count is exact below 2**24) in one kernel: casting each value to
        # float64 first took four
        values = torch.stack([summed.float(), correct, grad_norm.to(summed.device)])
        self.epoch_wait += data_seconds
        pending = PendingStep(
            epoch=state.epoch,
            step=state.step,
            global_step=state.global_step,
            rows=len(shard),
            started=started,
            data_seconds=data_seconds,
            learning_rate=lr,
            values=values,
        )
        self.pending.append(pending)
        deferred = self.guard_every > 1 and skips_on_device(self.optimizer)
        if deferred:
            non_finite = ~torch.isfinite(values[[0, 2]]).all()
            self._optimizer_step(skip_if=non_finite.to(torch.float32))
        else:
            stop = self._decide()  # a non-finite step raises here, before the optimizer step
            self._optimizer_step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.global_step += 1
        if deferred and len(self.pending) >= self.guard_every:
            self.settle()
        elif not deferred and stop:
            self._preempt()
        return lr

    def settle(self) -> None:
        """All ranks: decide on the steps taken since the last decision. Reads their values
        from the device (one sync), agrees with the other ranks on "a step was not finite" and
        "stop requested" (one all-reduce), raises :class:`NonFiniteLoss` (its step never
        reached the weights) or accounts the steps (the epoch's sums, the monitor) and, on a
        stop request, checkpoints and raises :class:`Preempted`."""
        if self.pending and self._decide():
            self._preempt()

    def _decide(self) -> bool:
        """Read and agree on the pending steps (see :meth:`settle`); True when a stop was
        requested. Every rank calls it at the same steps."""
        pending, self.pending = self.pending, []
        rows = torch.stack([p.values for p in pending]).tolist()
        bad = next(
            (p for p, row in zip(pending, rows, strict=True) if not _finite(row[0], row[2])),
            None,
        )
        flags = self.ctx.all_reduce_sum([float(bad is not None), float(self.stop.requested)])
        if flags[0] > 0:
            self.optimizer.zero_grad(set_to_none=True)
            where = pending[0] if bad is None else bad  # another rank's: the first step here
            raise NonFiniteLoss(
                f"epoch {where.epoch + 1} step {where.step + 1}, lr {where.learning_rate:.3g}",
                epoch=where.epoch,
                step=where.step,
                global_step=where.global_step,
            )
        state = self.state
        for p, (loss, correct, grad_norm) in zip(pending, rows, strict=True):
            state.partial[0] += loss
            state.partial[1] += correct
            state.partial[2] += p.rows
            self.monitor.step(
                epoch=p.epoch,
                global_step=p.global_step + 1,
                loss=loss / max(1, p.rows),
                samples=p.rows,
                seconds=time.perf_counter() - p.started,
                data_seconds=p.data_seconds,
                learning_rate=p.learning_rate,
                grad_norm=grad_norm,
            )
        return flags[1] > 0

    def _preempt(self, why: str = "after SIGTERM") -> None:
        self.checkpoint()
        self.ctx.barrier()
        raise Preempted(f"stopped at global step {self.state.global_step} {why}")

    def _fetch(self, shard: Shard, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This rank's batch on the device, augmented, and the seconds that took (data wait)."""
        started = time.perf_counter()
        if self.faults.stall_fires(self.state.global_step):
            time.sleep(self.faults.stall_seconds)
        x, y = self.data.batch(shard, seed=seed, device=self.ctx.device)
        waited, self.shard_wait = self.shard_wait, 0.0
        return x, y, time.perf_counter() - started + waited

    def _forward_backward(
        self, x: torch.Tensor, y: torch.Tensor, global_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward over ``state.micro_batches`` slices of this rank's shard: the
        loss sum and the correct count, on the device.

        Gradients accumulate locally (``no_sync``) and are reduced over the ranks once per step.
        Without the OOM guard, DDP reduces them during the last slice's backward. With it (CUDA,
        or an injected fault), every backward is local and guarded: the ranks agree on "nobody
        ran out of memory" and only then reduce the gradients
        (:meth:`~trainpipe.train.distributed.DistContext.average_gradients`), so an OOM in any
        forward or backward on one rank never leaves the others waiting in a collective: every
        rank raises :class:`OutOfMemoryBackoff`.
        """
        config, ctx, state = self.config, self.ctx, self.state
        # DDP averages gradients over ranks; scale so the result is the global-batch mean.
        scale = ctx.world_size / global_size
        slices = [(x, y)]
        if state.micro_batches > 1:
            n = state.micro_batches
            slices = list(zip(x.tensor_split(n), y.tensor_split(n), strict=True))
        reduce_in_backward = (
            isinstance(self.model, DistributedDataParallel) or self.sharded
        ) and not self.oom_guard
        summed: torch.Tensor | None = None
        correct: torch.Tensor | None = None
        pending: torch.Tensor | None = None
        out_of_memory = False
        for i, (xs, ys) in enumerate(slices):
            reducing = reduce_in_backward and i == len(slices) - 1
            try:
                # DDP decides in the forward pass whether the backward reduces: both local.
                with contextlib.nullcontext() if reducing else self._no_sync():
                    self._drill_oom("forward")
                    with self.autocast:
                        out = self.model(xs)
                        part = loss_sum(config.task, out, ys, self.class_weight, self.user_loss)
                    if ctx.is_main and self.faults.nan_fires(state.global_step):
                        part = part * float("nan")
                    summed = part.detach() if summed is None else summed + part.detach()
                    if config.task == "classification":
                        hits = (out.argmax(dim=1) == ys).sum()
                        correct = hits if correct is None else correct + hits
                    if reducing:
                        pending = part * scale  # DDP's reducing backward, after the loop
                        continue
                    self._drill_oom("backward")
                    (part * scale).backward()
            except torch.OutOfMemoryError:
                if not self.oom_guard:
                    raise
                out_of_memory = True
                break
        if self.oom_guard and ctx.all_reduce_sum([float(out_of_memory)])[0] > 0:
            pending = None
            self._free_memory()
            raise OutOfMemoryBackoff(f"epoch {state.epoch + 1} step {state.step + 1}")
        if pending is not None:
            pending.backward()
        elif isinstance(self.model, DistributedDataParallel):
            ctx.average_gradients(self.module)
        assert summed is not None, "a shard has at least one micro-batch"
        if correct is None:  # regression
            correct = torch.zeros((), dtype=torch.int64, device=x.device)
        return summed, correct

    def _optimizer_step(self, skip_if: torch.Tensor | None = None) -> None:
        """The optimizer step (skipped on the device where ``skip_if`` is non-zero). With the
        OOM guard, an out-of-memory error on any rank makes every rank raise
        :class:`OptimizerOutOfMemory`: the step may have updated some parameters or moments in
        place already, so the loop goes back to the newest checkpoint
        (:meth:`optimizer_fallback`)."""
        out_of_memory = False
        try:
            self._drill_oom("optimizer")
            if skip_if is None:
                self.optimizer.step()
            else:
                step_unless(self.optimizer, skip_if)
        except torch.OutOfMemoryError:
            if not self.oom_guard:
                raise
            out_of_memory = True
        if self.oom_guard and self.ctx.all_reduce_sum([float(out_of_memory)])[0] > 0:
            self._free_memory()
            state = self.state
            raise OptimizerOutOfMemory(f"epoch {state.epoch + 1} step {state.step + 1}")

    def _drill_oom(self, phase: str) -> None:
        """The OOM drill (``TRAINPIPE_INJECT_OOM_*``): raise on rank 0 at its step and phase."""
        if self.ctx.is_main and self.faults.oom_fires(self.state.global_step, phase):
            raise torch.OutOfMemoryError(f"injected: CUDA out of memory in {phase} (fault drill)")

    def _free_memory(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _no_sync(self) -> contextlib.AbstractContextManager[None]:
        if isinstance(self.model, DistributedDataParallel):
            return self.model.no_sync()
        if self.sharded:
            return _sharded_no_sync(self.model)
        return contextlib.nullcontext()

    # -- recovering from a bad step -----------------------------------------------------------

    def back_off(self, reason: str, shard_size: int) -> None:
        """Out of memory: halve the micro-batch (accumulate over twice as many) and retry."""
        halve_micro_batch(self.state, reason, shard_size)
        if self.ctx.is_main:
            self.log(
                f"[trainpipe] out of memory at {reason}: retrying with "
                f"{self.state.micro_batches} micro-batches per step (same global batch)"
            )

    def optimizer_fallback(self, reason: str) -> None:
        """Out of memory in the optimizer step: back to the newest checkpoint, the optimizer
        updating one parameter at a time from there on (its lowest-memory update), or fail."""
        self.pending.clear()  # steps after the checkpoint: trained again
        self.state = per_parameter_optimizer(
            self.state,
            reason,
            restore=lambda: self.checkpoints.restore(self.module, self.optimizer),
        )
        set_per_parameter(self.optimizer, self.state.optimizer_per_parameter)
        if self.ctx.is_main:
            self.log(
                f"[trainpipe] out of memory in the optimizer step at {reason}: back to step "
                f"{self.state.global_step}, updating one parameter at a time"
            )

    def roll_back(self, failure: NonFiniteLoss) -> None:
        """Return to the newest checkpoint with the learning rate halved, or fail."""
        self.pending.clear()
        reason = str(failure)
        # as it stood at the step that was not finite (the guards may decide a few later)
        state = dataclasses.replace(
            self.state, epoch=failure.epoch, step=failure.step, global_step=failure.global_step
        )
        self.monitor.non_finite(reason, epoch=state.epoch, global_step=state.global_step)
        self.state = rolled_back(
            state,
            reason,
            max_rollbacks=self.config.train.max_rollbacks,
            restore=lambda: self.checkpoints.restore(self.module, self.optimizer),
        )
        set_per_parameter(self.optimizer, self.state.optimizer_per_parameter)
        if self.ctx.is_main:
            self.log(
                f"[trainpipe] non-finite loss at {reason}: rolled back to step "
                f"{self.state.global_step}, learning rate x{self.state.lr_scale:g}"
            )

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """All ranks: collect every rank's new anomaly events into rank 0's state and agree on
        the epoch's partial sums; rank 0 writes the checkpoint."""
        self.settle()  # a checkpoint holds only steps known to be finite
        started = time.perf_counter()
        self.keep_anomalies()
        if self.checkpoints.save(self.state, self.module, self.optimizer):
            self.monitor.checkpoint_seconds(time.perf_counter() - started)

    def store_last_checkpoint(self) -> None:
        """After training raised: finish storing the checkpoint in flight (taken before the
        failure, a preemption's among them), saying so if that fails too."""
        try:
            self.checkpoints.close()
        except Exception as exc:
            self.log(
                f"[trainpipe] the checkpoint being written when training stopped was not "
                f"stored: {exc}"
            )

    def keep_anomalies(self) -> None:
        """All ranks: move the anomaly events every rank saw since the last call into rank 0's
        ``state.events`` (checkpointed, so they survive a restart)."""
        fresh = self.ctx.gather_lists(self.monitor.new_events())
        if self.ctx.is_main and fresh:
            ordered = sorted(fresh, key=lambda e: (e["time"], e["rank"]))
            self.state.events = [*self.state.events, *ordered]


@contextlib.contextmanager
def _sharded_no_sync(model: nn.Module) -> Iterator[None]:
    set_gradient_sync(model, False)
    try:
        yield
    finally:
        set_gradient_sync(model, True)


def fit(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    on_epoch: EpochCallback | None = None,
    checkpoint: bool = True,
    sanity_checks: bool = True,
    log: Callable[[str], None] = print_line,
    monitor: TrainingMonitor | None = None,
    on_failure: FailureCallback | None = None,
) -> FitResult:
    """Train ``spec.config``; resume from the newest checkpoint in ``spec.checkpoint_location``.

    ``sanity_checks=False`` skips the pre-training checks even where the config asks for them:
    a tuning trial only scores its parameters, and the training job that follows runs them.

    ``monitor`` watches the run (a quiet, in-memory one when None); fit starts it and always
    closes it, so its threads and port never outlive training. The ``TRAINPIPE_INJECT_*`` fault
    drills (:mod:`trainpipe.train.faults`) are read and checked before anything else.
    ``on_failure`` hears what training had seen when it raised; the error is raised again.

    With ``train.entrypoint`` set, the user's function trains instead of the built-in loop
    (:func:`~trainpipe.train.user_loop.fit_user_loop`, same arguments and result).
    """
    config = spec.config
    if config.train.entrypoint:
        return fit_user_loop(
            spec,
            ctx,
            on_epoch=on_epoch,
            checkpoint=checkpoint,
            sanity_checks=sanity_checks,
            log=log,
            monitor=monitor,
            on_failure=on_failure,
        )
    started = time.perf_counter()
    monitor = monitor or TrainingMonitor.quiet(config, run=spec.run_id, rank=ctx.rank)
    trainer: Trainer | None = None
    try:
        faults = Faults.from_env()
        configure_torch(config, ctx)
        store = open_store(spec.checkpoint_location) if checkpoint else None
        with StopFlag().installed() as stop:
            trainer = Trainer(
                spec, ctx, store=store, stop=stop, log=log, monitor=monitor, faults=faults
            )
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
            if resumed:
                monitor.resumed()
            record_membership(trainer.state, ctx, log=log)
            parent = trainer.warm_start() if not resumed else None
            if not resumed and ctx.is_main and sanity_checks and config.train.sanity_checks:
                # on the tensors this run trains on; a resumed run keeps the first result
                trainer.state.sanity = run_sanity_checks(spec, data=trainer.data, log=log)
            monitor.start()
            if not resumed and store is not None:
                trainer.checkpoint()  # step 0: a rollback target before the first epoch ends
            while trainer.state.epoch < config.train.epochs:
                try:
                    row = trainer.run_epoch()
                except NonFiniteLoss as exc:
                    trainer.roll_back(exc)
                    continue
                except OptimizerOutOfMemory as exc:
                    trainer.optimizer_fallback(str(exc))
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
            trainer.checkpoints.close()  # the last checkpoint is stored before fit returns
    except BaseException as exc:
        monitor.close()  # the watchdog's last events first
        if trainer is not None:
            trainer.store_last_checkpoint()
        if on_failure is not None:
            kept = trainer.state if trainer is not None else None
            events = [*(kept.events if kept else []), *monitor.new_events()]
            on_failure(exc, events, list(kept.history) if kept else [])
        raise
    finally:
        monitor.close()
    trainer.keep_anomalies()  # those after the last checkpoint
    resources = ctx.gather_lists(monitor.resources)
    model = whole_model(trainer.module, lambda: build_run_model(config, trainer.data), ctx)
    return FitResult(
        model=model,
        preprocess=trainer.preprocess,
        schema=trainer.schema,
        history=trainer.state.history,
        events=trainer.state.events,
        resumed_from_epoch=resumed_epoch,
        resumed_from_step=resumed_step,
        parent=parent or (trainer.state.parent or None),
        seconds=time.perf_counter() - started,
        resources=sorted(resources, key=lambda r: (r["seconds"], r["rank"])),
        sanity=trainer.state.sanity,
    )


def record_membership(state: TrainState, ctx: DistContext, *, log: Callable[[str], None]) -> None:
    """Rank 0: add a ``membership`` event to the run's events when this worker group differs
    from the last one recorded (:mod:`trainpipe.train.membership`), and say so after the first."""
    if not ctx.is_main:
        return
    member = current_membership(ctx.world_size, state.global_step)
    history = membership_history(state.events)
    if not changed(history, member):
        return
    state.events.append(membership_event(member, epoch=state.epoch))
    if history:
        log(
            f"[trainpipe] membership changed: {member.nodes} node(s), {member.world_size} "
            f"process(es) train from global step {member.global_step} (were "
            f"{history[-1].nodes} node(s), {history[-1].world_size} process(es))"
        )


def run_training(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    log: Callable[[str], None] = print_line,
    serve_metrics: bool = False,
    monitor: TrainingMonitor | None = None,
) -> None:
    """Train and, on rank 0, write the model artifact to ``spec.output``, or, when training
    raises, the failure record (:mod:`trainpipe.train.failure`) with the events seen until then.

    ``serve_metrics``: open the Prometheus endpoint on ``train.metrics_port`` + LOCAL_RANK. Only
    the job entrypoint does; in-process training shares its process and must not take a port.
    ``monitor``: watch the run with this one instead of building it from the config.
    """
    config = spec.config

    def report(epoch: int, row: dict[str, float]) -> None:
        if ctx.is_main:
            log(format_epoch_line(epoch, config.train.epochs, row))

    monitor = monitor or TrainingMonitor.for_job(
        config,
        run=spec.run_id,
        rank=ctx.rank,
        local_rank=ctx.local_rank,
        output=spec.output,
        serve=serve_metrics,
        log=log,
        tracking_run=spec.tracking_run,
    )

    def keep_failure(
        exc: BaseException, events: list[dict[str, Any]], history: list[dict[str, float]]
    ) -> None:
        if ctx.is_main:
            record = failure_record(exc, events=events, history=history)
            write_failure(spec.output, record, log=log)

    result = fit(spec, ctx, on_epoch=report, log=log, monitor=monitor, on_failure=keep_failure)
    ctx.barrier()
    if not ctx.is_main:
        return
    metrics: dict[str, Any] = {
        "history": result.history,
        "final": result.final,
        "events": result.events,
        "world_size": ctx.world_size,
        "device": ctx.device.split(":")[0],
        "resumed_from_epoch": result.resumed_from_epoch,
        "resumed_from_step": result.resumed_from_step,
        "parent": result.parent,
        "seconds": result.seconds,
        "resources": result.resources,
        "sanity": result.sanity,
    }
    if monitor.tracking is not None:  # the MLflow run, for the stages after this one
        metrics["tracking"] = monitor.tracking.summary()
    try:
        save_model(
            spec.output,
            result.model,
            model_config=config.model,
            task=config.task,
            label=result.schema.label,
            preprocess=result.preprocess,
            metrics=metrics,
            data_hash=result.schema.data_hash,
            code=code_record(config),
            csv=config.data.csv,
            data_format=config.data.format,
        )
    except BaseException as exc:
        keep_failure(exc, result.events, result.history)
        raise
    clear_failure(spec.output)  # an earlier attempt's
    log(f"[trainpipe] wrote model to {spec.output}")

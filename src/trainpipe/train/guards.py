"""What interrupts a training step, and the bookkeeping of recovering from it.

- SIGTERM (preemption) sets a :class:`StopFlag`; at the next step boundary rank 0 writes a
  checkpoint and every rank raises :class:`Preempted`, which the entrypoint turns into the
  retryable exit code :data:`RETRYABLE_EXIT_CODE`.
- A non-finite loss or gradient on any rank raises :class:`NonFiniteLoss` on every rank; the loop
  goes back to the newest checkpoint with the learning rate halved (:func:`rolled_back`), at most
  ``train.max_rollbacks`` times.
- Running out of accelerator memory in a forward or backward pass on any rank raises
  :class:`OutOfMemoryBackoff` on every rank; the step is retried with twice as many
  micro-batches (:func:`halve_micro_batch`).
- Running out of it in the optimizer step raises :class:`OptimizerOutOfMemory` on every rank.
  That step may have updated some parameters in place already, so the loop goes back to the
  newest checkpoint and the optimizer updates one parameter at a time from there on, its
  lowest-memory update (:func:`per_parameter_optimizer`).

Each recovery is recorded as an event in the :class:`~trainpipe.train.state.TrainState`, so
``metrics.json`` says what happened and a resumed run still knows.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from trainpipe.errors import TrainingError
from trainpipe.train.state import TrainState

RETRYABLE_EXIT_CODE = 143
"""Exit code after a preemption checkpoint (128 + SIGTERM): restart policies retry it."""


class Preempted(Exception):
    """SIGTERM arrived; a checkpoint was written and the process should exit retryably."""


class NonFiniteLoss(Exception):
    """Some rank saw a non-finite loss or gradient at a step: ``epoch``, ``step`` (into the
    epoch) and ``global_step`` before it (the guards may decide a few steps later)."""

    def __init__(self, reason: str, *, epoch: int, step: int, global_step: int) -> None:
        super().__init__(reason)
        self.epoch, self.step, self.global_step = epoch, step, global_step


class OutOfMemoryBackoff(Exception):
    """Some rank ran out of accelerator memory at this step; every rank retries it smaller."""


class OptimizerOutOfMemory(Exception):
    """Some rank ran out of accelerator memory in this step's optimizer update."""


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


def halve_micro_batch(state: TrainState, reason: str, shard_size: int) -> None:
    """Out of memory at ``reason``: cut each rank's shard into twice as many micro-batches (the
    global batch stays the same) and record the event; fail when a micro-batch would be empty."""
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


def per_parameter_optimizer(
    state: TrainState, reason: str, *, restore: Callable[[], TrainState | None]
) -> TrainState:
    """The state to go on from after the optimizer step at ``reason`` ran out of memory: the
    newest checkpoint's (``restore`` loads it, model and optimizer too, or returns None), with
    the optimizer updating one parameter at a time and ``state``'s learning-rate scale,
    rollbacks, micro-batches and events plus this one.

    Raises:
        TrainingError: the optimizer already updated one parameter at a time, or there is no
            checkpoint to go back to.
    """
    if state.optimizer_per_parameter:
        raise TrainingError(
            f"out of memory in the optimizer step at {reason} even when it updates one "
            "parameter at a time: lower train.batch_size or model size, or use an optimizer "
            "with less state (train.optimizer sgd)"
        )
    restored = restore()
    if restored is None:
        raise TrainingError(
            f"out of memory in the optimizer step at {reason}, which may have updated some "
            "parameters already, and no checkpoint to go back to: lower train.batch_size or "
            "model size"
        )
    restored.optimizer_per_parameter = True
    restored.lr_scale, restored.rollbacks = state.lr_scale, state.rollbacks
    restored.micro_batches = state.micro_batches
    restored.events = [
        *state.events,
        {
            "type": "out_of_memory",
            "at": reason,
            "global_step": state.global_step,
            "action": "optimizer_per_parameter",
            "resumed_at_step": restored.global_step,
        },
    ]
    return restored


def rolled_back(
    state: TrainState,
    reason: str,
    *,
    max_rollbacks: int,
    restore: Callable[[], TrainState | None],
) -> TrainState:
    """The state to go on from after a non-finite step at ``reason``.

    ``restore`` loads the newest checkpoint (model and optimizer too) and returns its state, or
    None when there is none; it is called only while rollbacks are left. The restored state gets
    the learning rate halved, one more rollback counted and ``state``'s events plus this one.
    """
    if state.rollbacks >= max_rollbacks:
        raise TrainingError(
            f"non-finite loss or gradient at {reason} after {state.rollbacks} rollback(s) "
            "with the learning rate halved each time: lower train.learning_rate, add "
            "train.warmup_epochs or set train.grad_clip"
        )
    event: dict[str, Any] = {
        "type": "non_finite",
        "at": reason,
        "global_step": state.global_step,
        "action": "rollback",
        "lr_scale": state.lr_scale / 2,
    }
    restored = restore()
    if restored is None:
        raise TrainingError(
            f"non-finite loss or gradient at {reason} and no checkpoint to roll back to: "
            "lower train.learning_rate, add train.warmup_epochs or set train.grad_clip"
        )
    event["resumed_at_step"] = restored.global_step
    restored.lr_scale, restored.rollbacks = state.lr_scale / 2, state.rollbacks + 1
    restored.optimizer_per_parameter = state.optimizer_per_parameter
    restored.events = [*state.events, event]
    return restored

"""Checkpoints on an object store: atomic, named by global step, newest found on resume.

A checkpoint is one object (``step-000001234.pt``) written with the store's atomic write, so a
reader sees either the whole checkpoint or none of it; a crash mid-write leaves nothing visible.
It holds the model and optimizer state and the loop's :class:`TrainState` as plain data, so it
loads with ``torch.load(weights_only=True)``: nothing is unpickled.

:class:`Checkpointer` is what the training loop does with them: every rank agrees on the state,
rank 0 writes it, every rank restores the newest one.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from trainpipe.storage.base import ObjectStore
from trainpipe.train.distributed import DistContext
from trainpipe.train.state import TrainState

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def checkpoint_key(global_step: int) -> str:
    """The key of the checkpoint taken after ``global_step`` optimizer steps."""
    return f"step-{global_step:09d}.pt"


def save_checkpoint(
    store: ObjectStore, global_step: int, state: dict[str, Any], *, keep: int
) -> str:
    """Write the checkpoint of ``global_step``, then delete all but the newest ``keep``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    key = checkpoint_key(global_step)
    store.write_bytes(key, buffer.getvalue())
    for old in list_checkpoints(store)[:-keep]:
        store.delete(checkpoint_key(old))
    return key


def list_checkpoints(store: ObjectStore) -> list[int]:
    """Global steps that have a complete checkpoint, oldest first."""
    return sorted(int(m.group(1)) for key in store.list() if (m := _NAME.match(key)))


def load_latest(store: ObjectStore) -> dict[str, Any] | None:
    """The newest checkpoint's state, or None when there is none."""
    steps = list_checkpoints(store)
    if not steps:
        return None
    data = store.read_bytes(checkpoint_key(steps[-1]))
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class Checkpointer:
    """The training loop's checkpoints in ``store`` (None: the run keeps none)."""

    def __init__(self, store: ObjectStore | None, ctx: DistContext, *, keep: int) -> None:
        self.store = store
        self.ctx = ctx
        self.keep = keep

    def save(self, state: TrainState, model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        """All ranks: agree on the epoch's partial sums; rank 0 writes the checkpoint of
        ``state.global_step``. True on the rank that wrote one."""
        partial = self.ctx.all_reduce_sum(list(state.partial))
        if self.store is None or not self.ctx.is_main:
            return False
        saved = {
            "state": {**asdict(state), "partial": partial},
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        save_checkpoint(self.store, state.global_step, saved, keep=self.keep)
        return True

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState | None:
        """Load the newest checkpoint into ``model`` and ``optimizer``; return its state, or None
        when there is none."""
        saved = load_latest(self.store) if self.store is not None else None
        if saved is None:
            return None
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = TrainState(**saved["state"])
        if not self.ctx.is_main:  # rank 0 carries the epoch's sums so far
            state.partial = [0.0, 0.0, 0.0]
        return state

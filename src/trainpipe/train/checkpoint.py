"""Checkpoints on an object store: atomic, named by global step, newest found on resume.

A checkpoint is one object (``step-000001234.pt``) written with the store's atomic write, so a
reader sees either the whole checkpoint or none of it; a crash mid-write leaves nothing visible.
It holds the model and optimizer state and the loop's :class:`TrainState` as plain data, so it
loads with ``torch.load(weights_only=True)``: nothing is unpickled.

:class:`Checkpointer` is what the training loop does with them: every rank agrees on the state,
rank 0 serializes it and a writer thread stores it while training goes on, every rank restores
the newest one. Serializing is the snapshot (the bytes no longer change with the weights);
storing (the atomic write, its fsync or upload, and pruning old checkpoints) is what a slow disk
or a bucket makes slow, and it no longer holds up the steps. One write is in flight at a time:
the next checkpoint, a restore and the end of training wait for it, and a write that failed
raises there. A process killed before a write finished resumes from the checkpoint before it,
as it would if killed during a synchronous write.

A sharded model (``train.strategy: fsdp``) has no whole copy on any rank: every rank stores its
shard of a sharded checkpoint (:mod:`trainpipe.train.sharded_checkpoint`), written while the
ranks wait. Both kinds are numbered alike, listed together and pruned together, and a sharded
checkpoint restores into a sharded or a whole model at any world size.
"""

from __future__ import annotations

import io
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields
from typing import Any

import torch
from torch import nn

from trainpipe.errors import TrainingError
from trainpipe.storage.base import ObjectStore
from trainpipe.train.distributed import DistContext
from trainpipe.train.sharded_checkpoint import (
    committed_steps,
    delete_sharded,
    load_sharded,
    save_sharded,
    unfinished_folders,
)
from trainpipe.train.sharding import is_sharded
from trainpipe.train.state import TrainState

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def checkpoint_key(global_step: int) -> str:
    """The key of the checkpoint taken after ``global_step`` optimizer steps."""
    return f"step-{global_step:09d}.pt"


def save_checkpoint(
    store: ObjectStore, global_step: int, state: dict[str, Any], *, keep: int
) -> str:
    """Write the checkpoint of ``global_step``, then delete all but the newest ``keep``."""
    return store_checkpoint(store, global_step, serialize(state), keep=keep)


def snapshot(value: Any) -> Any:
    """``value`` (a state dict) with every tensor copied to the CPU and every dict and list
    copied: what the writer thread serializes while training changes the originals."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(snapshot(item) for item in value)
    return value


def plain_state(state: TrainState) -> dict[str, Any]:
    """The loop's state as plain data, its lists copied: the loop appends to the history and
    the events and never changes an entry, so the entries are shared, not copied (a deep copy
    of the history grew with every epoch)."""
    return {
        f.name: list(value) if isinstance(value, list) else value
        for f in fields(state)
        for value in [getattr(state, f.name)]
    }


def serialize(state: dict[str, Any]) -> bytes:
    """A checkpoint's bytes: a snapshot that later changes to the weights do not touch."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def store_checkpoint(store: ObjectStore, global_step: int, data: bytes, *, keep: int) -> str:
    """Write serialized checkpoint ``data`` of ``global_step`` atomically, then delete all but
    the newest ``keep``."""
    key = checkpoint_key(global_step)
    store.write_bytes(key, data)
    prune_checkpoints(store, keep=keep)
    return key


def prune_checkpoints(store: ObjectStore, *, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, and the unfinished sharded ones older
    than the newest (their writers were killed)."""
    keys = store.list()
    steps = _steps(keys)
    sharded = set(committed_steps(keys))
    for old in steps[:-keep]:
        if old in sharded:
            delete_sharded(store, old)
        else:
            store.delete(checkpoint_key(old))
    for unfinished in unfinished_folders(keys):
        if steps and unfinished < steps[-1]:
            delete_sharded(store, unfinished)


def list_checkpoints(store: ObjectStore) -> list[int]:
    """Global steps that have a complete checkpoint (whole or sharded), oldest first."""
    return _steps(store.list())


def _steps(keys: list[str]) -> list[int]:
    whole = {int(m.group(1)) for key in keys if (m := _NAME.match(key))}
    return sorted(whole | set(committed_steps(keys)))


def load_latest(store: ObjectStore) -> dict[str, Any] | None:
    """The newest whole checkpoint's state, or None when there is none."""
    steps = list_checkpoints(store)
    if not steps:
        return None
    return _load_whole(store, steps[-1])


def _load_whole(store: ObjectStore, global_step: int) -> dict[str, Any]:
    data = store.read_bytes(checkpoint_key(global_step))
    loaded: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return loaded


class Checkpointer:
    """The training loop's checkpoints in ``store`` (None: the run keeps none)."""

    def __init__(self, store: ObjectStore | None, ctx: DistContext, *, keep: int) -> None:
        self.store = store
        self.ctx = ctx
        self.keep = keep
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[str] | None = None

    def save(self, state: TrainState, model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        """All ranks: agree on the epoch's partial sums; rank 0 snapshots the checkpoint of
        ``state.global_step`` and hands it to the writer thread (after the previous write has
        finished). A sharded ``model``'s checkpoint is stored by every rank before this returns.
        True on rank 0 where a checkpoint was taken."""
        partial = self.ctx.all_reduce_sum(list(state.partial))
        if self.store is not None and is_sharded(model):
            kept = {"state": {**plain_state(state), "partial": partial}}
            save_sharded(self.store, self.ctx, state.global_step, kept, model, optimizer)
            if self.ctx.is_main:
                prune_checkpoints(self.store, keep=self.keep)
            return self.ctx.is_main
        if self.store is None or not self.ctx.is_main:
            return False
        saved = {
            "state": {**plain_state(state), "partial": partial},
            "model": snapshot(model.state_dict()),
            "optimizer": snapshot(optimizer.state_dict()),
        }
        self.wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="trainpipe-checkpoint")
        self._pending = self._writer.submit(self._write, state.global_step, saved)
        return True

    def _write(self, global_step: int, saved: dict[str, Any]) -> str:
        assert self.store is not None
        return store_checkpoint(self.store, global_step, serialize(saved), keep=self.keep)

    def wait(self) -> None:
        """Block until the checkpoint being written is stored; raise what its write raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Finish the write in flight and stop the writer thread (raises what the write did)."""
        try:
            self.wait()
        finally:
            if self._writer is not None:
                self._writer.shutdown()
                self._writer = None

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState | None:
        """Load the newest checkpoint into ``model`` and ``optimizer``; return its state, or None
        when there is none. All ranks call it together: the write in flight on rank 0 is
        stored before any rank looks for the newest checkpoint."""
        self.wait()
        self.ctx.barrier()
        keys = self.store.list() if self.store is not None else []
        steps = _steps(keys)
        if self.store is None or not steps:
            return None
        newest = steps[-1]
        if newest in committed_steps(keys):
            saved = load_sharded(self.store, newest, model, optimizer)
        elif is_sharded(model):
            raise TrainingError(
                f"checkpoint {self.store.uri_for(checkpoint_key(newest))} holds a whole model "
                "(train.strategy ddp) and this job shards it (train.strategy fsdp): resume "
                "it with train.strategy ddp, or start from a new checkpoint location"
            )
        else:
            saved = _load_whole(self.store, newest)
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
        state = TrainState(**saved["state"])
        if not self.ctx.is_main:  # rank 0 carries the epoch's sums so far
            state.partial = [0.0, 0.0, 0.0]
        return state

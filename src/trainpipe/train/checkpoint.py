"""Checkpoints on an object store: atomic, named by global step, newest found on resume.

A checkpoint is one object (``step-000001234.pt``) written with the store's atomic write, so a
reader sees either the whole checkpoint or none of it; a crash mid-write leaves nothing visible.
It holds the model and optimizer state and the loop's :class:`TrainState` as plain data, so it
loads with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import io
import re
from typing import Any

import torch

from trainpipe.storage import ObjectStore

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

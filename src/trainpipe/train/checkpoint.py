"""Per-epoch checkpoints on an object store: written atomically, newest found on resume."""

from __future__ import annotations

import io
import re
from typing import Any

import torch

from trainpipe.storage import ObjectStore

_NAME = re.compile(r"^epoch-(\d{5})\.pt$")


def checkpoint_key(epoch: int) -> str:
    """The key of the checkpoint taken after ``epoch`` (0-based)."""
    return f"epoch-{epoch:05d}.pt"


def save_checkpoint(store: ObjectStore, epoch: int, state: dict[str, Any], *, keep: int) -> str:
    """Write the checkpoint of ``epoch`` and delete all but the newest ``keep`` ones."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    key = checkpoint_key(epoch)
    store.write_bytes(key, buffer.getvalue())
    for old in list_checkpoints(store)[:-keep]:
        store.delete(checkpoint_key(old))
    return key


def list_checkpoints(store: ObjectStore) -> list[int]:
    """Epochs that have a complete checkpoint, oldest first."""
    epochs = []
    for key in store.list():
        match = _NAME.match(key)
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def load_latest(store: ObjectStore) -> dict[str, Any] | None:
    """The newest checkpoint's state, or None when there is none."""
    epochs = list_checkpoints(store)
    if not epochs:
        return None
    data = store.read_bytes(checkpoint_key(epochs[-1]))
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

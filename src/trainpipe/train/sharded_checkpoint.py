"""Sharded checkpoints (``train.strategy: fsdp``) through ``torch.distributed.checkpoint``.

A sharded checkpoint is a folder of objects, ``step-000001234.dcp/``: each rank's shard of the
model and optimizer state (``__<rank>_0.distcp``), the checkpoint's ``.metadata`` (which piece
of which tensor lies where) and, written last by rank 0 once every rank has stored its shard,
``state.pt``: the loop's :class:`~trainpipe.train.state.TrainState`. A checkpoint exists once
its ``state.pt`` does, so a job killed while writing one resumes from the one before, and the
unfinished folder is removed by the next checkpoint.

Each rank writes its shard through the DCP file writer into a local staging folder and stores
the files through the :class:`~trainpipe.storage.base.ObjectStore` (a local folder or a bucket);
a restore fetches the folder and DCP reads from it what this rank's parameters need. Because the
metadata names every tensor by its global shape and offsets, a checkpoint written by N ranks
loads into M ranks, or into one unsharded process: resuming at another world size.
"""

from __future__ import annotations

import io
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from trainpipe.storage.base import ObjectStore
from trainpipe.train.distributed import DistContext

SUFFIX = ".dcp"
STATE = "state.pt"
"""The object written last: the loop's state, and the mark of a complete checkpoint."""
FRESH = "optimizer_fresh"
"""In ``state.pt``: the optimizer had not stepped when the checkpoint was taken."""
_COMMITTED = re.compile(r"^step-(\d{9})\.dcp/state\.pt$")
_FOLDER = re.compile(r"^(step-\d{9}\.dcp)/")


def folder(global_step: int) -> str:
    """The prefix of the sharded checkpoint taken after ``global_step`` optimizer steps."""
    return f"step-{global_step:09d}{SUFFIX}"


def committed_steps(keys: list[str]) -> list[int]:
    """Global steps of the complete sharded checkpoints among a store's ``keys``."""
    return sorted(int(m.group(1)) for key in keys if (m := _COMMITTED.match(key)))


def save_sharded(
    store: ObjectStore,
    ctx: DistContext,
    global_step: int,
    state: dict[str, Any],
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> None:
    """All ranks: store this rank's shard of ``module`` and ``optimizer``; then rank 0 stores
    ``state`` (the checkpoint is complete from here on)."""
    prefix = folder(global_step)
    # An optimizer that has not stepped has no state to shard; get_state_dict makes it by
    # stepping once with zero gradients and lr 0, which counts a step (Adam's bias correction):
    # the saved checkpoint keeps that made-up state, the live optimizer goes back to none.
    fresh = not optimizer.state
    weights, moments = get_state_dict(module, optimizer)
    with tempfile.TemporaryDirectory(prefix="trainpipe-dcp-") as staging:
        dcp.save({"model": weights, "optimizer": moments}, checkpoint_id=staging)
        for path in sorted(Path(staging).iterdir()):
            store.upload_file(path, f"{prefix}/{path.name}")
    if fresh:
        optimizer.state.clear()
    ctx.barrier()  # every shard and the metadata are stored
    if ctx.is_main:
        buffer = io.BytesIO()
        torch.save({**state, FRESH: fresh}, buffer)
        store.write_bytes(f"{prefix}/{STATE}", buffer.getvalue())


def load_sharded(
    store: ObjectStore,
    global_step: int,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> dict[str, Any]:
    """All ranks: load the sharded checkpoint of ``global_step`` into ``module`` and
    ``optimizer`` (sharded or not, at any world size); return its stored state."""
    prefix = folder(global_step)
    weights, moments = get_state_dict(module, optimizer)
    wanted: dict[str, Any] = {"model": weights, "optimizer": moments}
    local = store.local_path(f"{prefix}/{STATE}")
    with warnings.catch_warnings():
        # one process without a group (resuming on one rank) is what DCP warns it assumes
        warnings.filterwarnings("ignore", "torch.distributed is disabled", UserWarning)
        if local is not None:
            dcp.load(wanted, checkpoint_id=local.parent)
        else:
            with tempfile.TemporaryDirectory(prefix="trainpipe-dcp-") as staging:
                for key in store.list(prefix):
                    if not key.endswith(f"/{STATE}"):
                        store.download_file(key, Path(staging) / key.rsplit("/", 1)[-1])
                dcp.load(wanted, checkpoint_id=staging)
    set_state_dict(
        module, optimizer, model_state_dict=wanted["model"], optim_state_dict=wanted["optimizer"]
    )
    data = store.read_bytes(f"{prefix}/{STATE}")
    loaded: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if loaded.pop(FRESH, False):
        optimizer.state.clear()  # as it was when saved: it had not stepped
    return loaded


def delete_sharded(store: ObjectStore, global_step: int) -> None:
    """Remove the sharded checkpoint of ``global_step``, its completion mark first (so a
    reader never sees a complete-looking checkpoint with shards missing)."""
    prefix = folder(global_step)
    keys = store.list(prefix)
    for key in sorted(keys, key=lambda k: not k.endswith(f"/{STATE}")):
        store.delete(key)


def unfinished_folders(keys: list[str]) -> list[int]:
    """Global steps of sharded checkpoint folders without their ``state.pt``: writes that a
    kill interrupted."""
    folders = {m.group(1) for key in keys if (m := _FOLDER.match(key))}
    done = {folder(step) for step in committed_steps(keys)}
    return sorted(int(name[5:14]) for name in folders - done)

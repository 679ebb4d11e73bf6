"""The order a streamed split is read in: a function of (seed, epoch) only, whatever the ranks.

A streamed split is a sequence of blocks (its Parquet row groups). Each epoch:

1. the blocks are permuted by a ``(seed, epoch)`` generator;
2. consecutive runs of ``window`` blocks in that order form the epoch's windows;
3. the rows of each window are permuted by a ``(seed, epoch, window)`` generator;
4. the epoch's row stream is the windows' rows one window after the other, and global batch
   ``b`` is stream positions ``[b * batch_size, (b + 1) * batch_size)``, cut into one contiguous
   shard per rank exactly as :func:`torch.tensor_split` cuts it (the in-memory loop's rule).

So the global batches do not depend on the world size (1 process and N processes take the same
steps), a rank can compute which rows of a window are its own without reading the others, and a
run resumed at step ``k`` starts reading at the window holding position ``k * batch_size``.
Memory is bounded by the window: the shuffle mixes ``window`` blocks at a time (the shuffle
buffer of WebDataset or torchdata, made deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Window",
    "epoch_windows",
    "rank_offsets",
    "shard_owner",
    "shard_size",
    "window_permutation",
]


@dataclass(frozen=True)
class Window:
    """Blocks read together and shuffled together, and where their rows sit in the stream."""

    index: int
    blocks: tuple[int, ...]
    start: int
    """Stream position of the window's first row."""
    rows: int

    @property
    def end(self) -> int:
        """Stream position just after the window's last row."""
        return self.start + self.rows


def _generator(*parts: int) -> torch.Generator:
    seed = 0
    for part in parts:
        seed = (seed * 1_000_003 + part) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def epoch_windows(block_rows: Sequence[int], *, seed: int, epoch: int, window: int) -> list[Window]:
    """The epoch's windows: the blocks in a (seed, epoch) order, ``window`` at a time."""
    if window < 1:
        raise ValueError(f"a window holds at least one block; got {window}")
    order = torch.randperm(len(block_rows), generator=_generator(seed, epoch)).tolist()
    windows: list[Window] = []
    start = 0
    for index, first in enumerate(range(0, len(order), window)):
        blocks = tuple(order[first : first + window])
        rows = sum(block_rows[b] for b in blocks)
        windows.append(Window(index=index, blocks=blocks, start=start, rows=rows))
        start += rows
    return windows


def window_permutation(rows: int, *, seed: int, epoch: int, window: int) -> np.ndarray:
    """The (seed, epoch, window) order of a window's rows, as positions in its blocks' rows."""
    return torch.randperm(rows, generator=_generator(seed, epoch, window, 1)).numpy()


def shard_owner(
    positions: np.ndarray, *, total: int, batch_size: int, world_size: int
) -> np.ndarray:
    """The rank whose shard holds each stream position (``torch.tensor_split`` of each batch)."""
    batch = positions // batch_size
    offset = positions - batch * batch_size
    size = np.minimum(batch_size, total - batch * batch_size)
    small, big_count = np.divmod(size, world_size)
    big_rows = big_count * (small + 1)
    in_big = offset < big_rows
    return np.where(
        in_big,
        offset // (small + 1),
        big_count + (offset - big_rows) // np.maximum(small, 1),
    )


def shard_size(step: int, *, total: int, batch_size: int, rank: int, world_size: int) -> int:
    """Rows of global batch ``step`` in ``rank``'s shard."""
    size = min(batch_size, total - step * batch_size)
    small, big_count = divmod(size, world_size)
    return small + (1 if rank < big_count else 0)


def rank_offsets(
    window: Window,
    *,
    total: int,
    batch_size: int,
    rank: int,
    world_size: int,
    start: int = 0,
) -> np.ndarray:
    """Offsets into the window's shuffled rows that belong to ``rank``, from stream position
    ``start`` on (a resumed epoch skips what it already took), in stream order."""
    first = max(window.start, start)
    positions = np.arange(first, window.end, dtype=np.int64)
    owner = shard_owner(positions, total=total, batch_size=batch_size, world_size=world_size)
    return positions[owner == rank] - window.start

"""A split streamed from its Parquet row groups through a DataLoader with worker processes.

The in-memory loop holds each split as one tensor. A :class:`StreamedSplit` holds only the
table's footer: a DataLoader's workers (``train.stream.num_workers``, each
``train.stream.prefetch_factor`` requests ahead) read and transform one window of row groups
at a time (:mod:`trainpipe.train.stream_order`) and hand this rank's rows of it to the loop, in
file order with the window's shuffled order beside them (:class:`WindowRows`). The loop gathers
each shard from them, as the in-memory loop gathers one from its split, in the same per-rank
shards of the same global batches the in-memory loop would cut from that order. Memory is
bounded by the window and the prefetch depth, not by the split.

Every request names what it reads, so the loader's output does not depend on which worker
served it, and a DataLoader returns results in request order: the stream is a function of
(seed, epoch) only, a resumed epoch asks for the windows from its step on, and 1 and N ranks
see the same global batches.

Three kinds of request: a training window (:class:`TrainWindow`), a validation block
(:class:`EvalBlock`, rows ``rank::world_size`` as the in-memory validation pass takes them) and,
before training, a block summary for fitting the preprocessing
(:mod:`trainpipe.train.stream_preprocess`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from trainpipe.data.dataset import Schema
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.data.worker_processes import loader_workers
from trainpipe.errors import TrainingError
from trainpipe.train.arrow_inputs import class_codes, numeric_inputs
from trainpipe.train.data import Preprocess, Shard
from trainpipe.train.distributed import DistContext
from trainpipe.train.stream_order import (
    Window,
    epoch_windows,
    rank_offsets,
    shard_size,
    window_permutation,
)
from trainpipe.train.stream_preprocess import (
    BlockSummary,
    Moments,
    StreamedFit,
    block_sample_rows,
    combine,
    merge_moments,
    summarize_block,
)

__all__ = ["EvalBlock", "StreamSettings", "StreamedSplit", "TrainWindow", "fit_streamed"]

EVAL_CHUNK = 1024


@dataclass(frozen=True)
class StreamSettings:
    """How a split is streamed: ``train.stream``'s settings and the run's batching."""

    seed: int
    batch_size: int
    window: int
    num_workers: int
    prefetch_factor: int


@dataclass(frozen=True)
class TrainWindow:
    """This rank's rows of one window of an epoch, from stream position ``start`` on."""

    epoch: int
    window: Window
    start: int
    rank: int
    world_size: int


class WindowRows(NamedTuple):
    """What a training window's request returns: this rank's rows of the window in file order
    and the order the stream takes them in."""

    x: torch.Tensor
    y: torch.Tensor
    positions: torch.Tensor
    """Stream position of each row taken, in stream order."""
    order: torch.Tensor
    """Which row of ``x`` and ``y`` the stream takes next, in stream order."""


@dataclass(frozen=True)
class EvalBlock:
    """This rank's rows (positions ``rank::world_size``) of one block, in file order."""

    block: int
    offset: int
    """Position of the block's first row in the split."""
    rank: int
    world_size: int


@dataclass(frozen=True)
class SummarizeBlock:
    """One block's summary for the preprocessing fit (a second pass: ``clip`` bounds)."""

    block: int
    sample_rows: int
    clip: tuple[tuple[float, ...], tuple[float, ...]] | None = None


class _Requests(Sampler[Any]):
    """The requests of the next pass over a loader, set before each ``iter(loader)``."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _BlockReader(Dataset[Any]):
    """Serves requests in the loader's workers: reads blocks, shuffles, transforms."""

    def __init__(
        self,
        blocks: ParquetBlocks,
        schema: Schema,
        *,
        total: int,
        seed: int,
        batch_size: int,
        preprocess: Preprocess | None,
    ) -> None:
        self.blocks, self.schema, self.total = blocks, schema, total
        self.seed, self.batch_size, self.preprocess = seed, batch_size, preprocess
        self.columns = [*schema.features, schema.label]

    def __getitem__(self, request: Any) -> Any:
        # Several workers decode at once: each decodes on its own thread.
        threads = get_worker_info() is None
        if isinstance(request, TrainWindow):
            return self._window(request, threads)
        if isinstance(request, EvalBlock):
            return self._eval(request, threads)
        assert isinstance(request, SummarizeBlock)
        frame = self.blocks.read([request.block], self.columns, use_threads=threads)
        clip = (list(request.clip[0]), list(request.clip[1])) if request.clip else None
        return summarize_block(
            frame,
            self.schema,
            sample_rows=request.sample_rows,
            seed=self.seed,
            block=request.block,
            clip=clip,
        )

    def _window(self, request: TrainWindow, threads: bool) -> WindowRows:
        window = request.window
        table = self.blocks.read_arrow(window.blocks, self.columns, use_threads=threads)
        order = window_permutation(
            window.rows, seed=self.seed, epoch=request.epoch, window=window.index
        )
        offsets = rank_offsets(
            window,
            total=self.total,
            batch_size=self.batch_size,
            rank=request.rank,
            world_size=request.world_size,
            start=request.start,
        )
        wanted = order[offsets]  # the window's rows this rank takes, in stream order
        held = np.sort(wanted)
        every = len(held) == table.num_rows  # one rank from the window's start: all of it
        x, y = self._tensors(table, None if every else held)
        return WindowRows(
            x=x,
            y=y,
            positions=torch.from_numpy(window.start + offsets),
            order=torch.from_numpy(wanted if every else np.searchsorted(held, wanted)),
        )

    def _eval(self, request: EvalBlock, threads: bool) -> tuple[torch.Tensor, ...]:
        table = self.blocks.read_arrow([request.block], self.columns, use_threads=threads)
        first = (request.rank - request.offset) % request.world_size
        if first == 0 and request.world_size == 1:
            return self._tensors(table, None)
        return self._tensors(table, np.arange(first, table.num_rows, request.world_size))

    def _tensors(
        self, table: pa.Table, rows: np.ndarray | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model input and target of ``table``'s rows at positions ``rows`` (all of them
        when None), as :meth:`Preprocess.transform_features` and ``transform_target`` make them.

        The common table (numeric features, none missing; a string label) is read straight
        from Arrow (:mod:`trainpipe.train.arrow_inputs`), several times faster than through
        pandas; anything else goes through the preprocessing's own transform.
        """
        preprocess = self.preprocess
        assert preprocess is not None, "the preprocessing is fitted before rows are read"
        label = self.schema.label
        picked = table if rows is None else None
        codes = None
        if self.schema.task == "classification":
            codes = class_codes(table.column(label), preprocess.classes)
        if codes is not None:
            y = torch.from_numpy(codes if rows is None else codes[rows])
        else:
            picked = _rows(table, rows)
            y = preprocess.transform_target(picked.select([label]).to_pandas(), self.schema)
        x = numeric_inputs(table, preprocess, rows)
        if x is not None:
            return torch.from_numpy(x), y
        picked = picked if picked is not None else _rows(table, rows)
        return preprocess.transform_features(picked.to_pandas()), y


def _rows(table: pa.Table, rows: np.ndarray | None) -> pa.Table:
    return table if rows is None else table.take(pa.array(rows, type=pa.int64()))


def _loader(
    reader: _BlockReader, requests: _Requests, settings: StreamSettings, *, persistent: bool
) -> DataLoader[Any]:
    workers = settings.num_workers
    return DataLoader(
        reader,
        batch_size=None,
        sampler=requests,
        num_workers=workers,
        prefetch_factor=settings.prefetch_factor if workers else None,
        persistent_workers=persistent and workers > 0,
        **loader_workers(workers, __name__),
    )


def _serve(loader: DataLoader[Any], requests: _Requests, items: Sequence[Any]) -> Iterator[Any]:
    requests.items = list(items)
    if not requests.items:
        return iter(())
    return iter(loader)


def fit_streamed(
    blocks: ParquetBlocks,
    schema: Schema,
    settings: StreamSettings,
    *,
    clip_quantile: float,
    ctx: DistContext | None = None,
) -> tuple[StreamedFit, Moments | None, tuple[list[float], list[float]] | None]:
    """Summarize every block of the training split (twice with ``clip_quantile``): the combined
    fit, the clipped moments (or None) and the clip bounds (or None).

    With the job's ``ctx``, each rank summarizes its share of the blocks (``rank::world_size``)
    and the summaries are gathered to every rank, then combined in block order, so every rank
    gets the fit one process would, at a share of the reading."""
    ctx = ctx or DistContext()
    reader = _BlockReader(
        blocks, schema, total=blocks.rows, seed=settings.seed, batch_size=1, preprocess=None
    )
    requests = _Requests()
    loader = _loader(reader, requests, settings, persistent=False)
    sizes = block_sample_rows(blocks.block_rows)
    mine = range(ctx.rank, len(sizes), ctx.world_size)

    def summarized(asked: list[SummarizeBlock]) -> list[BlockSummary]:
        local = list(zip((r.block for r in asked), _serve(loader, requests, asked), strict=True))
        gathered: list[tuple[int, BlockSummary]] = ctx.gather_lists(local)
        return [summary for _, summary in sorted(gathered, key=lambda pair: pair[0])]

    fit = combine(summarized([SummarizeBlock(i, sizes[i]) for i in mine]))
    if clip_quantile <= 0:
        return fit, None, None
    low, high = fit.clip_bounds(schema, clip_quantile)
    bounds = (tuple(low), tuple(high))
    clipped = merge_moments(summarized([SummarizeBlock(i, 0, bounds) for i in mine]))
    return fit, clipped, (low, high)


class StreamedSplit:
    """One split read as a stream: :meth:`shards` for training, :meth:`eval_batches` for a
    validation pass, both sharded per rank."""

    def __init__(
        self,
        blocks: ParquetBlocks,
        schema: Schema,
        preprocess: Preprocess,
        settings: StreamSettings,
        *,
        training: bool,
    ) -> None:
        self.blocks, self.settings = blocks, settings
        self.reader = _BlockReader(
            blocks,
            schema,
            total=blocks.rows,
            seed=settings.seed,
            batch_size=settings.batch_size,
            preprocess=preprocess,
        )
        self.requests = _Requests()
        # Training keeps its workers across epochs; a validation pass starts its own.
        self.loader = _loader(self.reader, self.requests, settings, persistent=training)

    def __len__(self) -> int:
        return self.blocks.rows

    @property
    def x(self) -> torch.Tensor:
        """Not held: a streamed split has no tensor of every row (:meth:`_not_in_memory`)."""
        raise self._not_in_memory("x")

    @property
    def y(self) -> torch.Tensor:
        """Not held, as :attr:`x`."""
        raise self._not_in_memory("y")

    def _not_in_memory(self, name: str) -> TrainingError:
        return TrainingError(
            f"this split is streamed ({self.blocks.rows} rows read from {self.blocks.location} a "
            f"window of row groups at a time), so it has no .{name} tensor of every row: read "
            "it through ctx.train_loader() in a train_fn, or set train.stream.mode: memory to "
            "load it as tensors (the table must fit in memory)"
        )

    def windows(self, epoch: int) -> list[Window]:
        """The epoch's windows (:func:`~trainpipe.train.stream_order.epoch_windows`)."""
        return epoch_windows(
            self.blocks.block_rows,
            seed=self.settings.seed,
            epoch=epoch,
            window=self.settings.window,
        )

    def shards(
        self, epoch: int, *, rank: int, world_size: int, start_step: int = 0
    ) -> Iterator[Shard]:
        """This rank's shard of every global batch of ``epoch`` from ``start_step`` on, with its
        rows (``Shard.rows``) and their stream positions (``Shard.indices``)."""
        total, batch_size = len(self), self.settings.batch_size
        steps = (total + batch_size - 1) // batch_size
        start = start_step * batch_size
        requests = [
            TrainWindow(epoch, w, start, rank, world_size)
            for w in self.windows(epoch)
            if w.end > start
        ]
        pending = _Pending()
        step = start_step
        for part in _serve(self.loader, self.requests, requests):
            pending.add(part)
            while step < steps:
                need = shard_size(
                    step, total=total, batch_size=batch_size, rank=rank, world_size=world_size
                )
                if need > pending.held:
                    break
                x, y, positions = pending.take(need)
                yield Shard(
                    indices=positions,
                    global_size=min(batch_size, total - step * batch_size),
                    rows=(x, y),
                )
                step += 1
        if step < steps:
            raise AssertionError(f"the stream of epoch {epoch} ended before step {step + 1}")

    def eval_batches(
        self, *, rank: int, world_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's rows (positions ``rank::world_size``) in chunks, in file order."""
        offsets = np.cumsum([0, *self.blocks.block_rows[:-1]]).tolist()
        requests = [
            EvalBlock(block, offset, rank, world_size) for block, offset in enumerate(offsets)
        ]
        for x, y in _serve(self.loader, self.requests, requests):
            yield from zip(x.split(EVAL_CHUNK), y.split(EVAL_CHUNK), strict=True)

    def head_frame(self, rows: int) -> pd.DataFrame:
        """The split's first ``rows`` rows (file order), untransformed, read in this process."""
        frames, have = [], 0
        for block, count in enumerate(self.blocks.block_rows):
            if have >= rows:
                break
            frames.append(self.blocks.read([block], self.reader.columns))
            have += count
        if not frames:
            return pd.DataFrame(columns=self.reader.columns)
        return pd.concat(frames, ignore_index=True).iloc[:rows]


class _Pending:
    """The windows served and not yet cut into shards; the first one from its ``cursor`` on."""

    def __init__(self) -> None:
        self.parts: list[WindowRows] = []
        self.cursor = 0
        self.held = 0

    def add(self, part: WindowRows) -> None:
        self.parts.append(part)
        self.held += len(part.order)

    def take(self, need: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next ``need`` rows in stream order, gathered from their windows (a shard is
        gathered as the in-memory loop gathers one from its split)."""
        taken: list[tuple[torch.Tensor, ...]] = []
        left = need
        while left > 0 or not taken:
            part = self.parts[0]
            end = min(self.cursor + left, len(part.order))
            rows = part.order[self.cursor : end]
            taken.append((part.x[rows], part.y[rows], part.positions[self.cursor : end]))
            left -= end - self.cursor
            self.cursor = end
            if end == len(part.order) and left > 0:
                self.parts.pop(0)
                self.cursor = 0
        self.held -= need
        if len(taken) == 1:
            return taken[0]  # type: ignore[return-value]
        x, y, positions = (torch.cat(parts) for parts in zip(*taken, strict=True))
        return x, y, positions

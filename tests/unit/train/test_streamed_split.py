"""A streamed split: its (seed, epoch) order, per-rank shards, resume, preprocessing fit, and
training on it as the in-memory loop trains."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, write_dataset
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.errors import DataError, TrainingError
from trainpipe.storage.factory import open_store
from trainpipe.train.checkpoint import checkpoint_key, list_checkpoints
from trainpipe.train.data import Preprocess
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec
from trainpipe.train.stream_order import epoch_windows, rank_offsets, shard_owner, shard_size
from trainpipe.train.streamed_split import (
    StreamedSplit,
    StreamSettings,
    _BlockReader,
    fit_streamed,
)
from trainpipe.train.training_data import load_training_data

pytestmark = pytest.mark.unit

SCHEMA = Schema(
    label="y",
    task="classification",
    features=["a", "b", "plan", "note"],
    classes=["no", "yes"],
    categorical=["plan"],
)


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(3.0, 2.0, rows)
    return pd.DataFrame(
        {
            "a": a,
            "b": rng.exponential(1.0, rows),
            "plan": rng.choice(["basic", "gold", "team"], rows),
            "note": rng.choice(["x", "y"], rows),
            "y": np.where(a + rng.normal(0, 1, rows) > 3, "yes", "no"),
        }
    )


def write_split(root: Path, frame: pd.DataFrame, *, block: int) -> str:
    """A dataset with row groups of ``block`` rows (small, so that a test has several)."""
    schema = Schema(**{**SCHEMA.to_dict(), "features": ["a", "b", "plan"]})
    root.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(root / "data.parquet", index=False, row_group_size=block)
    (root / "schema.json").write_text(json.dumps(schema.to_dict()))
    return str(root)


def settings(**changes: Any) -> StreamSettings:
    values = {"seed": 5, "batch_size": 10, "window": 2, "num_workers": 0, "prefetch_factor": 2}
    return StreamSettings(**{**values, **changes})


def streamed(location: str, **changes: Any) -> StreamedSplit:
    blocks = ParquetBlocks.open(location)
    schema = Schema.from_dict(json.loads((Path(location) / "schema.json").read_text()))
    fitted, _, _ = fit_streamed(blocks, schema, settings(**changes), clip_quantile=0)
    preprocess = fitted.preprocess(
        schema, clipped=None, clip=None, vocab_size=10, max_tokens=4, missing="fail", fill_value=0
    )
    return StreamedSplit(blocks, schema, preprocess, settings(**changes), training=True)


# -- the order -------------------------------------------------------------------------------


@pytest.mark.parametrize("size,world", [(10, 1), (10, 3), (7, 4), (2, 3), (64, 8)])
def test_shard_owner_cuts_each_batch_as_tensor_split_does(size: int, world: int) -> None:
    total = size * 3 + 1  # a short last batch
    owner = shard_owner(np.arange(total), total=total, batch_size=size, world_size=world)
    for step, batch in enumerate(torch.arange(total).split(size)):
        for rank, part in enumerate(batch.tensor_split(world)):
            assert (owner[part.numpy()] == rank).all()
            expected = shard_size(step, total=total, batch_size=size, rank=rank, world_size=world)
            assert len(part) == expected


def test_windows_cover_every_block_once_in_an_order_of_seed_and_epoch() -> None:
    rows = [5, 7, 3, 9, 4]
    windows = epoch_windows(rows, seed=1, epoch=0, window=2)
    assert sorted(b for w in windows for b in w.blocks) == [0, 1, 2, 3, 4]
    assert [len(w.blocks) for w in windows] == [2, 2, 1]
    assert windows[-1].end == sum(rows)
    assert windows == epoch_windows(rows, seed=1, epoch=0, window=2)
    assert windows != epoch_windows(rows, seed=1, epoch=1, window=2)


def test_the_ranks_offsets_partition_a_window() -> None:
    (window,) = [w for w in epoch_windows([40, 40], seed=0, epoch=0, window=1) if w.index == 1]
    parts = [rank_offsets(window, total=80, batch_size=12, rank=r, world_size=3) for r in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(40))
    later = rank_offsets(window, total=80, batch_size=12, rank=0, world_size=3, start=60)
    assert (window.start + later >= 60).all()


# -- the stream ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_split(tmp_path_factory.mktemp("stream") / "train", table(103), block=16)


def epoch_batches(split: str, world: int, *, epoch: int = 0, **changes: Any) -> list[Any]:
    """Every global batch of an epoch as (positions, x rows) gathered over ``world`` ranks."""
    data = streamed(split, **changes)
    per_rank = [list(data.shards(epoch, rank=r, world_size=world)) for r in range(world)]
    batches = []
    for shards in zip(*per_rank, strict=True):
        positions = torch.cat([s.indices for s in shards])
        x = torch.cat([s.rows[0] for s in shards])
        assert {s.global_size for s in shards} == {len(positions)}
        batches.append((positions, x))
    return batches


def test_one_and_three_ranks_take_the_same_global_batches(split: str) -> None:
    one, three = epoch_batches(split, 1), epoch_batches(split, 3)
    assert len(one) == len(three) == 11  # ceil(103 / 10)
    for (p1, x1), (p3, x3) in zip(one, three, strict=True):
        assert torch.equal(p1, p3) and torch.equal(x1, x3)
    seen = torch.cat([p for p, _ in one])
    assert torch.equal(seen, torch.arange(103))  # every row once, in stream order


def test_worker_processes_change_nothing(split: str) -> None:
    inline, workers = epoch_batches(split, 2), epoch_batches(split, 2, num_workers=2)
    for (p0, x0), (p2, x2) in zip(inline, workers, strict=True):
        assert torch.equal(p0, p2) and torch.equal(x0, x2)


def test_rows_are_shuffled_within_windows_and_epochs_differ(split: str) -> None:
    first = torch.cat([x for _, x in epoch_batches(split, 1)])
    second = torch.cat([x for _, x in epoch_batches(split, 1, epoch=1)])
    data = streamed(split)
    plain = data.reader._tensors(pa.Table.from_pandas(data.head_frame(103)), None)[0]
    assert not torch.equal(first, plain) and not torch.equal(first, second)
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731
    assert key(first) == key(plain) == key(second)  # the same rows, another order


def test_a_resumed_epoch_continues_with_the_same_shards(split: str) -> None:
    data = streamed(split)
    whole = list(data.shards(0, rank=1, world_size=2))
    resumed = list(data.shards(0, rank=1, world_size=2, start_step=7))
    assert len(resumed) == len(whole) - 7
    for a, b in zip(whole[7:], resumed, strict=True):
        assert torch.equal(a.indices, b.indices) and torch.equal(a.rows[0], b.rows[0])


def test_asking_a_streamed_split_for_its_tensors_says_how_to_read_it(split: str) -> None:
    data = streamed(split)
    for name in ("x", "y"):
        with pytest.raises(TrainingError, match=rf"no \.{name} tensor") as raised:
            getattr(data, name)
        assert "103 rows" in str(raised.value) and split in str(raised.value)
        assert "ctx.train_loader()" in str(raised.value)
        assert "train.stream.mode: memory" in str(raised.value)


def test_validation_rows_are_split_over_ranks_once(split: str) -> None:
    data = streamed(split)
    counts = [sum(len(y) for _, y in data.eval_batches(rank=r, world_size=3)) for r in range(3)]
    assert counts == [35, 34, 34]


def test_numeric_rows_take_the_shortcut_to_the_same_bits(tmp_path: Path) -> None:
    frame = table(90).drop(columns=["plan", "note"])
    location = write_split(tmp_path / "numeric", frame, block=30)
    schema = Schema(label="y", task="classification", features=["a", "b"], classes=["no", "yes"])
    blocks = ParquetBlocks.open(location)
    fitted, clipped, clip = fit_streamed(blocks, schema, settings(), clip_quantile=0.1)
    preprocess = fitted.preprocess(schema, clipped=clipped, clip=clip, vocab_size=10,
                                   max_tokens=4, missing="mean", fill_value=0)  # fmt: skip
    data = StreamedSplit(blocks, schema, preprocess, settings(), training=True)
    rows = np.array([5, 0, 77, 31])
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    x, y = data.reader._tensors(arrow, rows)
    assert torch.equal(x, preprocess.transform_features(frame.iloc[rows]))
    assert torch.equal(y, preprocess.transform_target(frame.iloc[rows], schema))
    single = frame.astype({"a": "float32", "b": "float32"})  # float32 columns: float32 math
    x32, _ = data.reader._tensors(pa.Table.from_pandas(single, preserve_index=False), rows)
    torch.testing.assert_close(x32, preprocess.transform_features(single.iloc[rows]))
    holed = frame.copy()
    holed.loc[0, "a"] = np.nan  # a missing value: the preprocessing's own path fills it
    x, _ = data.reader._tensors(pa.Table.from_pandas(holed, preserve_index=False), rows)
    assert torch.equal(x, preprocess.transform_features(holed.iloc[rows]))


# -- the preprocessing -----------------------------------------------------------------------


def test_the_streamed_fit_equals_the_in_memory_fit(tmp_path: Path) -> None:
    frame = table(300, seed=2)
    location = write_split(tmp_path / "train", frame, block=32)
    schema = Schema(**{**SCHEMA.to_dict(), "features": ["a", "b", "plan"]})
    blocks = ParquetBlocks.open(location)
    fitted, clipped, clip = fit_streamed(blocks, schema, settings(), clip_quantile=0.05)
    streamed_fit = fitted.preprocess(
        schema, clipped=clipped, clip=clip, vocab_size=10, max_tokens=4, missing="mode",
        fill_value=0,
    )  # fmt: skip
    memory = Preprocess.fit(frame, schema, clip_quantile=0.05, missing="mode")
    assert blocks.block_rows == [32] * 9 + [12]
    np.testing.assert_allclose(streamed_fit.mean, memory.mean, rtol=1e-12)
    np.testing.assert_allclose(streamed_fit.std, memory.std, rtol=1e-12)
    assert streamed_fit.clip_low == memory.clip_low and streamed_fit.clip_high == memory.clip_high
    assert streamed_fit.categories == memory.categories
    assert streamed_fit.fill_numeric == memory.fill_numeric
    assert streamed_fit.fill_categories == memory.fill_categories
    assert fitted.notice(clip_quantile=0.05, missing="mode") is None  # the sample is the split


@dataclass(frozen=True)
class ThreadRank(DistContext):
    """A rank of a job whose ranks are threads of this process: ``gather_lists`` exchanges
    through shared slots and a barrier, as the process group's collective does."""

    slots: list[Any] = field(default_factory=list)
    barrier: threading.Barrier | None = None

    def gather_lists(self, items: list[Any]) -> list[Any]:
        assert self.barrier is not None
        self.slots[self.rank] = list(items)
        self.barrier.wait()
        gathered = [item for part in self.slots for item in part]
        self.barrier.wait()
        return gathered


def test_ranks_fit_their_share_of_the_blocks_and_all_get_the_whole_fit(tmp_path: Path) -> None:
    location = write_split(tmp_path / "train", table(300, seed=2), block=32)
    schema = Schema(**{**SCHEMA.to_dict(), "features": ["a", "b", "plan"]})
    blocks = ParquetBlocks.open(location)

    def preprocess(ctx: DistContext | None) -> tuple[dict[str, Any], list[int]]:
        fitted, clipped, clip = fit_streamed(
            ParquetBlocks.open(location), schema, settings(), clip_quantile=0.05, ctx=ctx
        )
        fit = fitted.preprocess(schema, clipped=clipped, clip=clip, vocab_size=10,
                                max_tokens=4, missing="mode", fill_value=0)  # fmt: skip
        return fit.to_dict(), list(fitted.sample.index)

    alone = preprocess(None)
    world, slots = 3, [None] * 3
    barrier = threading.Barrier(world, timeout=30)
    ranks = [ThreadRank(rank=r, world_size=world, slots=slots, barrier=barrier) for r in range(3)]
    read: list[list[int]] = [[] for _ in range(world)]
    original = _BlockReader.__getitem__

    def counted(self: _BlockReader, request: Any) -> Any:
        rank = int(threading.current_thread().name.rsplit("-", 1)[-1])
        read[rank].append(request.block)
        return original(self, request)

    results: list[Any] = [None] * world

    def run(rank: int) -> None:
        results[rank] = preprocess(ranks[rank])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_BlockReader, "__getitem__", counted)
        threads = [threading.Thread(target=run, args=(r,), name=f"rank-{r}") for r in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert results == [alone] * world  # the same fit, to the bit, on every rank
    blocks_count = len(blocks.block_rows)
    for rank in range(world):  # each rank read its blocks only, once per pass (two: clipping)
        assert read[rank] == [*range(rank, blocks_count, world)] * 2


def test_a_text_vocabulary_adds_up_over_blocks(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"text": [f"w{i % 7} common w{i % 3}" for i in range(200)], "y": ["a", "b"] * 100}
    )
    schema = Schema(label="y", task="classification", features=["text"], classes=["a", "b"],
                    text=["text"])  # fmt: skip
    root = tmp_path / "train"
    root.mkdir()
    frame.to_parquet(root / "data.parquet", index=False, row_group_size=16)
    blocks = ParquetBlocks.open(str(root))
    fitted, _, _ = fit_streamed(blocks, schema, settings(), clip_quantile=0)
    got = fitted.preprocess(schema, clipped=None, clip=None, vocab_size=6, max_tokens=4,
                            missing="fail", fill_value=0)  # fmt: skip
    assert got.vocabulary == Preprocess.fit(frame, schema, vocab_size=6, max_tokens=4).vocabulary


# -- training on it --------------------------------------------------------------------------


def run_config(mode: str, **train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "seed": 3,
            "data": {"source": "unused.csv", "label": "y"},
            "model": {"hidden": [8], "dropout": 0.1},
            "train": {
                "epochs": 2,
                "batch_size": 16,
                "backend": "inprocess",
                "nproc_per_node": 1,
                "num_threads": 1,
                "stream": {"mode": mode, "num_workers": 0, "window": 2},
                **train,
            },
        }
    )


@pytest.fixture(scope="module")
def run_splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "train": write_split(root / "train", table(200, seed=1), block=24),
        "validation": write_split(root / "validation", table(60, seed=4), block=24),
    }


def spec_for(config: RunConfig, splits: dict[str, str], out: Path) -> TrainSpec:
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out / "model"),
        checkpoints=str(out / "checkpoints"),
        run_id="stream",
    )


class Interrupt(Exception):
    pass


def test_a_streamed_run_resumed_mid_epoch_ends_bit_identical(
    run_splits: dict[str, str], tmp_path: Path
) -> None:
    config = run_config("stream", checkpoint_every_steps=5, keep_checkpoints=3)
    whole = fit(spec_for(config, run_splits, tmp_path / "whole"), DistContext())
    spec = spec_for(config, run_splits, tmp_path / "cut")

    def crash(epoch: int, row: dict[str, float]) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        fit(spec, DistContext(), on_epoch=crash)
    store = open_store(spec.checkpoint_location)
    assert list_checkpoints(store) == [5, 10, 13]  # 13 steps of 16 rows in an epoch of 200
    store.delete(checkpoint_key(13))  # as if killed after step 10's checkpoint
    resumed = fit(spec, DistContext())
    assert (resumed.resumed_from_epoch, resumed.resumed_from_step) == (0, 10)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.history == [
        {**row, "seconds": new["seconds"], "samples_per_second": new["samples_per_second"],
         "data_wait_seconds": new["data_wait_seconds"]}
        for row, new in zip(whole.history, resumed.history, strict=True)
    ]  # fmt: skip


def test_auto_streams_only_a_split_above_the_threshold(
    run_splits: dict[str, str], tmp_path: Path
) -> None:
    lines: list[str] = []
    spec = spec_for(run_config("auto"), run_splits, tmp_path)
    assert not load_training_data(spec, device="cpu", log=lines.append).streamed
    low = RunConfig.from_dict({**run_config("auto").to_dict(), "data": {
        "source": "unused.csv", "label": "y", "stream_threshold_mb": 0}})  # fmt: skip
    data = load_training_data(spec_for(low, run_splits, tmp_path), device="cpu", log=lines.append)
    assert data.streamed
    assert any("above data.stream_threshold_mb (0 MiB" in line for line in lines)


def test_streaming_refuses_a_plain_table_and_resampling(
    run_splits: dict[str, str], tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    table(20).to_csv(plain, index=False)
    spec = spec_for(run_config("stream"), {**run_splits, "validation": str(plain)}, tmp_path)
    with pytest.raises(DataError, match=r"validation split .*plain.csv has no schema.json"):
        load_training_data(spec, device="cpu")
    low = run_config("auto", imbalance="oversample").to_dict()
    low["data"]["stream_threshold_mb"] = 0
    spec = spec_for(RunConfig.from_dict(low), run_splits, tmp_path)
    with pytest.raises(TrainingError, match=r"train\.imbalance 'oversample' needs every"):
        load_training_data(spec, device="cpu")


def test_written_datasets_have_row_groups_to_stream(tmp_path: Path) -> None:
    frame = table(70_000)
    write_dataset(str(tmp_path), frame, SCHEMA)
    assert ParquetBlocks.open(str(tmp_path)).block_rows == [65_536, 70_000 - 65_536]

"""``train.strategy: fsdp`` pieces in one process: which modules are sharded, the lockstep that
keeps a sharded evaluation's forwards in step, and sharded checkpoints (complete only once their
state is written, pruned with the whole ones, an unstepped optimizer kept unstepped).

A sharded module needs a process group: these tests join a one-rank gloo group of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FSDPModule

from trainpipe.storage.factory import open_store
from trainpipe.storage.local import LocalStore
from trainpipe.train.checkpoint import Checkpointer, list_checkpoints, prune_checkpoints
from trainpipe.train.distributed import DistContext
from trainpipe.train.sharded_checkpoint import folder
from trainpipe.train.sharding import is_sharded, lockstep, shard_model, whole_model
from trainpipe.train.state import TrainState

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    store = dist.FileStore(str(tmp_path_factory.mktemp("group") / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


class Blocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = torch.relu(block(x))
        return self.head(x)


def built(seed: int) -> Blocks:
    torch.manual_seed(seed)
    return Blocks()


def test_each_block_of_a_module_list_and_the_model_are_sharded(group: None) -> None:
    model = shard_model(built(0))
    assert is_sharded(model)
    assert all(isinstance(block, FSDPModule) for block in model.blocks)
    assert not isinstance(model.head, FSDPModule), "the rest is one unit with the root"
    model(torch.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_the_whole_model_has_the_sharded_ones_weights(group: None) -> None:
    model = shard_model(built(0))
    whole = whole_model(model, lambda: built(1), DistContext())
    assert not is_sharded(whole)
    for name, tensor in built(0).state_dict().items():
        assert torch.equal(whole.state_dict()[name], tensor), name


class TwoRanks(DistContext):
    """Rank 0 of two, the other rank having ``theirs`` batches: the all-reduce adds its flag."""

    def __init__(self, theirs: int) -> None:
        super().__init__(rank=0, world_size=2)
        object.__setattr__(self, "left", theirs)

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        other = float(self.left > 0)  # type: ignore[attr-defined]
        object.__setattr__(self, "left", self.left - 1)  # type: ignore[attr-defined]
        return [values[0] + other]


def test_lockstep_pads_a_rank_that_ran_out_while_another_has_batches() -> None:
    mine = [(torch.ones(2, 3), torch.zeros(2)), (torch.ones(1, 3), torch.zeros(1))]
    empty = (torch.ones(0, 3), torch.zeros(0))
    padded = list(lockstep(iter(mine), TwoRanks(theirs=4), empty=empty))
    assert [len(x) for x, _ in padded] == [2, 1, 0, 0]
    assert [len(x) for x, _ in lockstep(iter(mine), TwoRanks(theirs=1), empty=empty)] == [2, 1]
    assert list(lockstep(iter([]), DistContext(), empty=empty)) == []


class RemoteLike(LocalStore):
    """A store without local paths, as a bucket is: a restore downloads the shards."""

    def local_path(self, key: str) -> None:  # type: ignore[override]
        return None


@pytest.mark.parametrize("remote", [False, True], ids=["local", "bucket-like"])
def test_a_sharded_checkpoint_restores_weights_moments_and_state(
    group: None, tmp_path: Path, remote: bool
) -> None:
    store = RemoteLike(str(tmp_path)) if remote else open_store(str(tmp_path))
    checkpoints = Checkpointer(store, DistContext(), keep=2)
    model = shard_model(built(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    assert checkpoints.save(TrainState(global_step=0), model, optimizer)
    assert not optimizer.state, "saving did not step the optimizer"
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    state = TrainState(epoch=1, step=1, global_step=1, partial=[1.0, 2.0, 3.0])
    checkpoints.save(state, model, optimizer)
    assert list_checkpoints(store) == [0, 1]
    assert store.exists(f"{folder(1)}/.metadata")

    other = shard_model(built(1))
    other_optimizer = torch.optim.AdamW(other.parameters(), lr=0.1)
    restored = checkpoints.restore(other, other_optimizer)
    assert restored == state
    for name, tensor in whole_model(model, lambda: built(2), DistContext()).state_dict().items():
        theirs = whole_model(other, lambda: built(3), DistContext()).state_dict()[name]
        assert torch.equal(theirs, tensor), name
    moments = [s["exp_avg"].full_tensor() for s in optimizer.state.values()]
    restored_moments = [s["exp_avg"].full_tensor() for s in other_optimizer.state.values()]
    for mine, theirs in zip(moments, restored_moments, strict=True):
        assert torch.equal(mine, theirs)


def test_an_unfinished_sharded_checkpoint_is_invisible_and_pruned_later(
    group: None, tmp_path: Path
) -> None:
    store = open_store(str(tmp_path))
    checkpoints = Checkpointer(store, DistContext(), keep=1)
    model = shard_model(built(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    checkpoints.save(TrainState(global_step=4), model, optimizer)
    store.write_bytes(f"{folder(6)}/__0_0.distcp", b"a shard, then the writer was killed")
    assert list_checkpoints(store) == [4]
    restored = checkpoints.restore(model, optimizer)
    assert restored is not None and restored.global_step == 4

    checkpoints.save(TrainState(global_step=8), model, optimizer)
    assert list_checkpoints(store) == [8]
    assert not store.list(folder(6)) and not store.list(folder(4))
    prune_checkpoints(store, keep=1)
    assert list_checkpoints(store) == [8]


def test_a_whole_checkpoint_is_not_loaded_into_a_sharded_model(group: None, tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    plain = built(0)
    writer = Checkpointer(store, DistContext(), keep=2)
    writer.save(TrainState(global_step=3), plain, torch.optim.AdamW(plain.parameters()))
    writer.close()
    model = shard_model(built(0))
    with pytest.raises(Exception, match=r"step-000000003\.pt holds a whole model"):
        writer.restore(model, torch.optim.AdamW(model.parameters()))

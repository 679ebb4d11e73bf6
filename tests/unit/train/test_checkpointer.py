"""Unit tests for what the loop checkpoints: rank 0 writes, every rank restores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainpipe.storage.factory import open_store
from trainpipe.train.checkpoint import Checkpointer, list_checkpoints
from trainpipe.train.distributed import DistContext
from trainpipe.train.state import TrainState

pytestmark = pytest.mark.unit


def trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_restore_returns_what_save_wrote(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    checkpoints = Checkpointer(store, DistContext(), keep=2)
    model, optimizer = trained(0)
    state = TrainState(epoch=1, step=2, global_step=7, lr_scale=0.5, partial=[1.5, 3.0, 4.0])
    state.events.append({"type": "non_finite", "global_step": 5})
    assert checkpoints.save(state, model, optimizer)
    checkpoints.wait()
    assert list_checkpoints(store) == [7]

    other, other_optimizer = trained(1)
    restored = checkpoints.restore(other, other_optimizer)
    assert restored == state and restored is not state
    for key, value in model.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value, rtol=0, atol=0)
    saved_moments = optimizer.state_dict()["state"][0]["exp_avg"]
    torch.testing.assert_close(
        other_optimizer.state_dict()["state"][0]["exp_avg"], saved_moments, rtol=0, atol=0
    )


def test_only_rank_zero_writes_and_the_others_restore_without_partial_sums(
    tmp_path: Path,
) -> None:
    store = open_store(str(tmp_path))
    model, optimizer = trained(0)
    state = TrainState(global_step=3, partial=[2.0, 1.0, 5.0])
    assert not Checkpointer(store, DistContext(rank=1), keep=2).save(state, model, optimizer)
    assert list_checkpoints(store) == []

    writer = Checkpointer(store, DistContext(), keep=2)
    writer.save(state, model, optimizer)
    writer.close()
    on_rank_one = Checkpointer(store, DistContext(rank=1), keep=2).restore(model, optimizer)
    assert on_rank_one is not None
    assert on_rank_one.partial == [0.0, 0.0, 0.0], "rank 0 alone carries the epoch's sums"
    assert on_rank_one.global_step == 3


def test_restore_finds_the_newest_and_keep_bounds_how_many_stay(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    checkpoints = Checkpointer(store, DistContext(), keep=2)
    model, optimizer = trained(0)
    for step in (4, 8, 12):
        checkpoints.save(TrainState(global_step=step), model, optimizer)
    checkpoints.wait()
    assert list_checkpoints(store) == [8, 12]
    restored = checkpoints.restore(model, optimizer)
    assert restored is not None and restored.global_step == 12


def test_without_a_store_nothing_is_saved_or_restored() -> None:
    checkpoints = Checkpointer(None, DistContext(), keep=2)
    model, optimizer = trained(0)
    assert not checkpoints.save(TrainState(), model, optimizer)
    assert checkpoints.restore(model, optimizer) is None


def test_an_empty_store_restores_nothing(tmp_path: Path) -> None:
    checkpoints = Checkpointer(open_store(str(tmp_path)), DistContext(), keep=2)
    model, optimizer = trained(0)
    assert checkpoints.restore(model, optimizer) is None


def test_the_checkpoint_holds_the_weights_of_its_step_not_later_ones(tmp_path: Path) -> None:
    """The writer thread serializes after ``save`` returns: what it writes is the snapshot taken
    at ``save``, whatever the loop does to the weights and the state meanwhile."""
    store = open_store(str(tmp_path))
    checkpoints = Checkpointer(store, DistContext(), keep=2)
    model, optimizer = trained(0)
    at_save = {key: value.clone() for key, value in model.state_dict().items()}
    state = TrainState(global_step=4, history=[{"epoch": 0}])
    checkpoints.save(state, model, optimizer)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    state.history.append({"epoch": 1})
    state.global_step = 9
    checkpoints.close()

    fresh, fresh_optimizer = trained(1)
    restored = checkpoints.restore(fresh, fresh_optimizer)
    assert restored is not None and restored.global_step == 4
    assert restored.history == [{"epoch": 0}]
    for key, value in at_save.items():
        torch.testing.assert_close(fresh.state_dict()[key], value, rtol=0, atol=0)


class FailingStore:
    """A store whose writes fail, as a full disk or a lost bucket does."""

    def write_bytes(self, key: str, data: bytes) -> None:
        raise OSError(f"no space left on device writing {key}")


def test_a_failed_write_raises_at_the_next_wait_not_silently(tmp_path: Path) -> None:
    checkpoints = Checkpointer(FailingStore(), DistContext(), keep=2)  # type: ignore[arg-type]
    model, optimizer = trained(0)
    assert checkpoints.save(TrainState(global_step=2), model, optimizer)
    with pytest.raises(OSError, match=r"no space left on device writing step-000000002\.pt"):
        checkpoints.close()

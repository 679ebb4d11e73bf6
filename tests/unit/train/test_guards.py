"""Unit tests for the guards' bookkeeping: OOM back-off, non-finite rollback, the SIGTERM flag."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from trainpipe.errors import TrainingError
from trainpipe.train.guards import (
    StopFlag,
    halve_micro_batch,
    per_parameter_optimizer,
    rolled_back,
)
from trainpipe.train.state import TrainState

pytestmark = pytest.mark.unit


def test_out_of_memory_doubles_the_micro_batches_and_records_it() -> None:
    state = TrainState(global_step=9, events=[{"type": "earlier"}])
    before = state.events
    halve_micro_batch(state, "epoch 2 step 3", shard_size=8)
    halve_micro_batch(state, "epoch 2 step 3", shard_size=8)
    assert state.micro_batches == 4
    assert state.events == [
        {"type": "earlier"},
        *[
            {
                "type": "out_of_memory",
                "at": "epoch 2 step 3",
                "global_step": 9,
                "action": "micro_batch_halved",
                "micro_batches": n,
            }
            for n in (2, 4)
        ],
    ]
    assert before == [{"type": "earlier"}], "the earlier list is not changed in place"


def test_out_of_memory_with_one_sample_per_micro_batch_fails() -> None:
    state = TrainState(micro_batches=4)
    with pytest.raises(TrainingError) as info:
        halve_micro_batch(state, "epoch 1 step 5", shard_size=4)
    assert "out of memory at epoch 1 step 5" in str(info.value)
    assert "train.batch_size" in str(info.value)
    assert state.micro_batches == 4 and state.events == []


def test_rollback_continues_from_the_checkpoint_with_the_learning_rate_halved() -> None:
    state = TrainState(
        epoch=2, global_step=30, lr_scale=0.5, rollbacks=1, events=[{"type": "earlier"}]
    )
    checkpoint = TrainState(epoch=2, global_step=24, lr_scale=0.5, rollbacks=1, events=[])
    after = rolled_back(state, "epoch 3 step 6", max_rollbacks=3, restore=lambda: checkpoint)
    assert after is checkpoint
    assert (after.global_step, after.lr_scale, after.rollbacks) == (24, 0.25, 2)
    assert after.events == [
        {"type": "earlier"},
        {
            "type": "non_finite",
            "at": "epoch 3 step 6",
            "global_step": 30,
            "action": "rollback",
            "lr_scale": 0.25,
            "resumed_at_step": 24,
        },
    ]


def test_rollback_fails_when_none_is_left_without_touching_the_checkpoint() -> None:
    restored: list[bool] = []

    def restore() -> TrainState:
        restored.append(True)
        return TrainState()

    with pytest.raises(TrainingError) as info:
        rolled_back(TrainState(rollbacks=2), "epoch 1 step 2", max_rollbacks=2, restore=restore)
    assert "after 2 rollback(s)" in str(info.value)
    assert "train.learning_rate" in str(info.value)
    assert restored == []


def test_rollback_without_a_checkpoint_fails() -> None:
    with pytest.raises(TrainingError) as info:
        rolled_back(TrainState(), "epoch 1 step 2", max_rollbacks=3, restore=lambda: None)
    assert "no checkpoint to roll back to" in str(info.value)


def test_stop_flag_catches_sigterm_only_while_installed() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    flag = StopFlag()
    with flag.installed() as installed:
        assert installed is flag and not flag.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.requested
    assert signal.getsignal(signal.SIGTERM) is previous


def test_stop_flag_is_a_no_op_outside_the_main_thread() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def body() -> None:
        with StopFlag().installed() as flag:
            seen.append(signal.getsignal(signal.SIGTERM))
            seen.append(flag.requested)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [previous, False]


def test_an_optimizer_out_of_memory_goes_back_to_the_checkpoint_updating_per_parameter() -> None:
    state = TrainState(
        global_step=30, lr_scale=0.5, rollbacks=1, micro_batches=2, events=[{"type": "earlier"}]
    )
    checkpoint = TrainState(global_step=28, events=[])
    after = per_parameter_optimizer(state, "epoch 2 step 4", restore=lambda: checkpoint)
    assert after is checkpoint and after.optimizer_per_parameter
    assert (after.global_step, after.lr_scale, after.rollbacks, after.micro_batches) == (
        28,
        0.5,
        1,
        2,
    )
    assert after.events == [
        {"type": "earlier"},
        {
            "type": "out_of_memory",
            "at": "epoch 2 step 4",
            "global_step": 30,
            "action": "optimizer_per_parameter",
            "resumed_at_step": 28,
        },
    ]


def test_an_optimizer_out_of_memory_fails_once_per_parameter_or_without_a_checkpoint() -> None:
    with pytest.raises(TrainingError, match="even when it updates one parameter at a time"):
        per_parameter_optimizer(
            TrainState(optimizer_per_parameter=True), "epoch 1 step 2", restore=TrainState
        )
    with pytest.raises(TrainingError, match="no checkpoint to go back to") as info:
        per_parameter_optimizer(TrainState(), "epoch 1 step 2", restore=lambda: None)
    assert "train.batch_size" in str(info.value)


def test_a_rollback_keeps_the_per_parameter_optimizer() -> None:
    state = TrainState(global_step=30, optimizer_per_parameter=True)
    after = rolled_back(state, "epoch 3 step 6", max_rollbacks=3, restore=TrainState)
    assert after.optimizer_per_parameter

"""Following a trial job's epoch lines: each epoch once and in order, the verdict stops the job."""

from __future__ import annotations

import optuna
import pytest

from trainpipe.errors import TuningError
from trainpipe.train.epoch_line import format_epoch_line
from trainpipe.tune.trial_job import EpochFollower

pytestmark = pytest.mark.unit


def line(epoch: int, val_loss: float) -> str:
    return "[node 0] " + format_epoch_line(epoch, 10, {"val_loss": val_loss})


def test_each_epoch_reaches_the_trial_once_and_in_order() -> None:
    heard: list[tuple[int, float]] = []
    follower = EpochFollower(lambda epoch, row: heard.append((epoch, row["val_loss"])))
    for text in (line(0, 0.9), "[node 0] some other line", line(1, 0.8), line(1, 0.8),
                 line(0, 0.9), line(2, 0.7)):  # fmt: skip
        follower.line(text)
    assert heard == [(0, 0.9), (1, 0.8), (2, 0.7)]
    assert follower.reported == 3 and follower.logged == 3  # the restart's repeats count once
    assert not follower.stop.is_set()
    follower.raise_verdict()  # none


def test_a_pruned_trial_stops_the_job_and_its_verdict_is_raised_later() -> None:
    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        if epoch == 1:
            raise optuna.TrialPruned("pruned after epoch 2")

    follower = EpochFollower(on_epoch)
    follower.line(line(0, 0.9))
    follower.line(line(1, 0.95))  # raises inside: never into the backend's reader thread
    follower.line(line(2, 0.99))  # the job finishing its epoch while it stops
    assert follower.stop.is_set()
    assert follower.reported == 1 and follower.logged == 3
    with pytest.raises(optuna.TrialPruned, match="after epoch 2"):
        follower.raise_verdict()


def test_an_unusable_metric_stops_the_job_as_a_failure() -> None:
    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        raise TuningError("val_loss is nan: the trial diverged")

    follower = EpochFollower(on_epoch)
    follower.line(line(0, float("nan")))
    assert follower.stop.is_set()
    with pytest.raises(TuningError, match="diverged"):
        follower.raise_verdict()

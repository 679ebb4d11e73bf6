"""The epoch line rank 0 logs, and reading it back from a job's log."""

from __future__ import annotations

import math

import pytest

from trainpipe.train.epoch_line import format_epoch_line, parse_epoch_line

pytestmark = pytest.mark.unit


def test_an_epoch_line_reads_back_with_four_significant_digits() -> None:
    row = {
        "epoch": 3.0,
        "train_loss": 0.412345,
        "val_loss": float("nan"),
        "samples_per_second": 1e5,
    }
    line = format_epoch_line(2, 20, row)
    assert " [trainpipe] epoch 3/20 train_loss=0.4123 val_loss=nan " in line
    parsed = parse_epoch_line(f"[node 0] {line}")
    assert parsed is not None
    epoch, back = parsed
    assert epoch == 2
    assert back["train_loss"] == 0.4123 and back["samples_per_second"] == 1e5
    assert math.isnan(back["val_loss"]) and back["epoch"] == 3.0


@pytest.mark.parametrize(
    "line",
    [
        "[trainpipe] resumed from checkpoint at epoch 3 step 40",
        "[trainpipe] epoch 3/20 val_loss=fast",
        "epoch 3/20 val_loss=0.5",
        "",
    ],
)
def test_other_lines_are_not_epoch_lines(line: str) -> None:
    assert parse_epoch_line(line) is None

"""Input reports of several batches combine into one for the rows of all of them."""

from __future__ import annotations

import pytest

from trainpipe.train.input_report import InputReport

pytestmark = pytest.mark.unit


def test_reports_of_blocks_combine_counts_and_keep_the_first_examples() -> None:
    first = InputReport(
        rows=10, policy="mean", filled={"age": 2}, unseen={"plan": 1},
        unseen_examples={"plan": ["gold"]},
    )  # fmt: skip
    second = InputReport(
        rows=5, policy="mean", filled={"age": 1, "income": 4}, unseen={"plan": 3},
        unseen_examples={"plan": ["gold", "silver", "bronze", "tin"]},
    )  # fmt: skip
    both = InputReport.combine([first, second])
    assert both.rows == 15 and both.policy == "mean"
    assert both.filled == {"age": 3, "income": 4} and both.unseen == {"plan": 4}
    assert both.unseen_examples == {"plan": ["gold", "silver", "bronze"]}
    assert "'plan': 4 of 15 rows" in both.unseen_message()
    assert InputReport.combine([]) == InputReport(rows=0)

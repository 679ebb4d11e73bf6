"""Unit tests for trainpipe.evaluate.latency."""

from __future__ import annotations

import time
from typing import Any

import pytest

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.latency import measure_latency

pytestmark = pytest.mark.unit


def test_percentiles_are_sane_with_a_sleeping_predict() -> None:
    calls: list[Any] = []

    def predict(sample: Any) -> Any:
        calls.append(sample)
        time.sleep(0.001)
        return sample

    result = measure_latency(predict, [1, 2, 3], warmup=2, repeats=20)

    assert set(result) == {"latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "latency_n"}
    assert result["latency_n"] == 20.0
    assert 0.9 <= result["latency_p50_ms"] <= result["latency_p95_ms"]
    assert result["latency_mean_ms"] >= 0.9
    assert result["latency_p50_ms"] < 500  # a 1 ms sleep, with generous slack for slow CI
    # 2 warmup + 20 timed calls, each on a single sample, cycling in order.
    assert len(calls) == 22
    assert calls[:7] == [1, 2, 1, 2, 3, 1, 2]


def test_default_repeats_is_one_call_per_sample() -> None:
    calls: list[Any] = []
    result = measure_latency(calls.append, ["a", "b", "c", "d"], warmup=0)
    assert result["latency_n"] == 4.0
    assert calls == ["a", "b", "c", "d"]


def test_invalid_arguments() -> None:
    with pytest.raises(TrainpipeError, match="at least one sample"):
        measure_latency(lambda s: s, [])
    with pytest.raises(TrainpipeError, match="repeats must be a positive integer"):
        measure_latency(lambda s: s, [1], repeats=0)
    with pytest.raises(TrainpipeError, match="warmup must be a non-negative integer"):
        measure_latency(lambda s: s, [1], warmup=-1)

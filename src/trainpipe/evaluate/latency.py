"""Single-sample inference latency measurement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trainpipe.errors import TrainpipeError

__all__ = ["measure_latency", "summarize_latency", "time_predictions"]


def time_predictions(
    predict: Callable[[Any], Any],
    samples: Sequence[Any],
    *,
    warmup: int = 5,
    repeats: int | None = None,
) -> np.ndarray:
    """Time ``predict`` on one sample at a time; return each call's latency in milliseconds.

    ``warmup`` untimed calls run first. Then ``repeats`` timed calls (default: one per sample)
    cycle through ``samples`` in order, each timed with :func:`time.perf_counter`.
    """
    if len(samples) == 0:
        raise TrainpipeError("measure_latency needs at least one sample, got none")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise TrainpipeError(f"warmup must be a non-negative integer, got {warmup!r}")
    count = len(samples) if repeats is None else repeats
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise TrainpipeError(f"repeats must be a positive integer, got {repeats!r}")

    n_samples = len(samples)
    for i in range(warmup):
        predict(samples[i % n_samples])

    durations = np.empty(count, dtype=np.float64)
    clock = time.perf_counter
    for i in range(count):
        sample = samples[i % n_samples]
        start = clock()
        predict(sample)
        durations[i] = clock() - start
    return durations * 1000.0


def summarize_latency(millis: np.ndarray) -> dict[str, float]:
    """``latency_p50_ms``, ``latency_p95_ms``, ``latency_mean_ms`` and ``latency_n`` of
    per-call latencies in milliseconds (from :func:`time_predictions`)."""
    if len(millis) == 0:
        raise TrainpipeError("summarize_latency needs at least one latency, got none")
    p50, p95 = np.percentile(millis, [50.0, 95.0])
    return {
        "latency_p50_ms": float(p50),
        "latency_p95_ms": float(p95),
        "latency_mean_ms": float(np.mean(millis)),
        "latency_n": float(len(millis)),
    }


def measure_latency(
    predict: Callable[[Any], Any],
    samples: Sequence[Any],
    *,
    warmup: int = 5,
    repeats: int | None = None,
) -> dict[str, float]:
    """Time ``predict`` on one sample at a time and summarize the latencies in milliseconds.

    ``warmup`` untimed calls run first. Then ``repeats`` timed calls (default: one per sample)
    cycle through ``samples`` in order, each timed with :func:`time.perf_counter`. Returns
    ``latency_p50_ms``, ``latency_p95_ms``, ``latency_mean_ms`` and ``latency_n`` (the number of
    timed calls).
    """
    return summarize_latency(time_predictions(predict, samples, warmup=warmup, repeats=repeats))

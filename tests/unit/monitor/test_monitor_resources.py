"""Resource sampling: psutil numbers, GPU fields, bounded history."""

from __future__ import annotations

import itertools
from typing import Any

import psutil
import pytest

from trainpipe.monitor import resources
from trainpipe.monitor.resources import GpuProbe, ResourceSampler

pytestmark = pytest.mark.unit


class FakeGpus(GpuProbe):
    def __init__(self, readings: list[tuple[int, float, float]]) -> None:
        self.handles = []
        self.readings = readings

    def read(self) -> list[tuple[int, float, float]]:
        return list(self.readings)


def test_a_sample_is_this_process_without_gpus() -> None:
    seen: list[dict[str, Any]] = []
    sampler = ResourceSampler(rank=3, interval=1.0, on_sample=seen.append)
    sample = sampler.sample()
    rss = psutil.Process().memory_info().rss
    assert sample["rank"] == 3
    assert 0.5 * rss < sample["rss_bytes"] < 2 * rss
    assert sample["cpu_percent"] >= 0
    assert sample["gpu_utilization_percent"] is None and sample["gpu_memory_used_bytes"] is None
    assert set(sample) == {
        "seconds",
        "rank",
        "cpu_percent",
        "rss_bytes",
        "gpu_utilization_percent",
        "gpu_memory_used_bytes",
    }
    assert seen[0]["gpus"] == [] and sampler.history() == [sample]


def test_gpu_fields_average_utilization_and_sum_memory() -> None:
    sampler = ResourceSampler(rank=0, interval=1.0, gpus=FakeGpus([(0, 40.0, 1e9), (1, 60.0, 3e9)]))
    sample = sampler.sample()
    assert sample["gpu_utilization_percent"] == 50.0
    assert sample["gpu_memory_used_bytes"] == 4e9


def test_history_is_thinned_not_unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "MAX_SAMPLES", 8)
    clock = iter(float(i) for i in range(1000))
    sampler = ResourceSampler(rank=0, interval=1.0, clock=lambda: next(clock))
    for _ in range(40):
        sampler.sample()
    kept = [s["seconds"] for s in sampler.history()]
    assert len(kept) < 8
    assert kept == sorted(kept) and kept[-1] >= 30  # evenly thinned, still covers the run
    gaps = {b - a for a, b in itertools.pairwise(kept)}
    assert len(gaps) == 1


def test_start_samples_in_the_background_and_stop_takes_a_last_one() -> None:
    sampler = ResourceSampler(rank=0, interval=0.05)
    sampler.start()
    sampler.stop()
    sampler.stop()  # idempotent
    assert len(sampler.history()) >= 2

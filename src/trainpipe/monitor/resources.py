"""Resource use over time: CPU and resident memory (psutil), GPU use and memory (NVML).

A background thread samples every ``interval`` seconds, so the training loop pays nothing per
step. NVML comes from the optional ``nvidia-ml-py`` package; without it (or without a GPU) the
GPU fields are ``None`` and no GPU series exist.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

MAX_SAMPLES = 600
"""Samples kept per process; beyond it every other one is dropped and the interval doubles."""


class GpuProbe:
    """NVML handles of the GPUs this process may use; empty when NVML is absent."""

    def __init__(self, indices: list[int] | None = None) -> None:
        self.nvml: Any = None
        self.handles: list[tuple[int, Any]] = []
        try:
            import pynvml  # nvidia-ml-py (optional)

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            wanted = indices if indices is not None else list(range(count))
            self.handles = [
                (i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in wanted if 0 <= i < count
            ]
            self.nvml = pynvml
        except Exception:  # no package, no driver, no GPU: monitoring goes on without GPUs
            self.handles = []

    def read(self) -> list[tuple[int, float, float]]:
        """``(index, utilization percent, memory used bytes)`` of each GPU."""
        found = []
        for index, handle in self.handles:
            try:
                rates = self.nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception:  # a GPU that fell off the bus must not stop training
                continue
            found.append((index, float(rates.gpu), float(memory.used)))
        return found


class ResourceSampler:
    """Samples this process's CPU, RSS and GPUs; hands each sample to ``on_sample`` and keeps
    a bounded history for ``metrics.json``."""

    def __init__(
        self,
        *,
        rank: int,
        interval: float,
        gpus: GpuProbe | None = None,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rank = rank
        self.interval = interval
        self.gpus = gpus if gpus is not None else GpuProbe([])
        self.on_sample = on_sample
        self.clock = clock
        self.started = clock()
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call only sets the reference point
        self._kept: list[tuple[int, dict[str, Any]]] = []
        self._every = 1
        self._taken = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, Any]:
        """Take one sample now, record it (thinned to ``MAX_SAMPLES``) and return it."""
        gpus = self.gpus.read()
        sample = {
            "seconds": round(self.clock() - self.started, 3),
            "rank": self.rank,
            "cpu_percent": float(self.process.cpu_percent(None)),
            "rss_bytes": int(self.process.memory_info().rss),
            "gpu_utilization_percent": sum(g[1] for g in gpus) / len(gpus) if gpus else None,
            "gpu_memory_used_bytes": sum(g[2] for g in gpus) if gpus else None,
        }
        if self.on_sample is not None:
            self.on_sample({**sample, "gpus": gpus})
        with self._lock:
            number, self._taken = self._taken, self._taken + 1
            if number % self._every == 0:
                self._kept.append((number, sample))
            if len(self._kept) >= MAX_SAMPLES:
                self._every *= 2  # keep every other one: evenly spaced, half as dense
                self._kept = [(n, s) for n, s in self._kept if n % self._every == 0]
        return sample

    def history(self) -> list[dict[str, Any]]:
        """The recorded samples so far."""
        with self._lock:
            return [sample for _, sample in self._kept]

    def start(self) -> None:
        """Sample now and then every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self.sample()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self._thread = threading.Thread(target=loop, name="trainpipe-resources", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop the thread (idempotent)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        self.sample()

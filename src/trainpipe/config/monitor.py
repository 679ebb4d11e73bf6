"""The ``monitor`` section: thresholds of the anomaly detectors that watch every training rank."""

from __future__ import annotations

from dataclasses import dataclass

from trainpipe.config.problems import Problems

__all__ = ["MonitorConfig"]


@dataclass(kw_only=True)
class MonitorConfig:
    """Thresholds of the anomaly detectors that watch every training rank (0 disables one)."""

    divergence_factor: float = 4.0
    """Divergence: the median loss of the last ``window_steps`` steps exceeds this multiple of
    the best such median."""
    divergence_rising_epochs: int = 3
    """Divergence too: the training loss rose this many epochs in a row (by more than 25%)."""
    warmup_steps: int = 20
    """Steps at the start of a run that the divergence, throughput and starvation detectors do not
    count (worker start-up, first-batch compiles)."""
    window_steps: int = 20
    """Steps each step-level detector looks back over."""
    plateau_patience: int = 5
    """Plateau: epochs without a validation-loss improvement of more than ``plateau_min_delta``."""
    plateau_min_delta: float = 1e-4
    stall_seconds: float = 300.0
    """Stall: no training step finished for this many seconds."""
    stall_fraction: float = 0.2
    """Stall too: recent samples/s below this fraction of the run's usual samples/s."""
    starvation_fraction: float = 0.5
    """Loader starvation: waiting for batches takes more than this share of the step time (and
    at least 50 ms over the window, so scheduler noise on millisecond steps is not starvation)."""
    resource_interval_seconds: float = 1.0
    """How often CPU, memory and GPU use are sampled (a background thread)."""

    def check(self, problems: Problems) -> None:
        """Non-negative thresholds, fractions below 1, a positive sampling interval."""
        need = problems.need
        for key in ("divergence_factor", "plateau_min_delta", "stall_seconds"):
            value = getattr(self, key)
            need(value >= 0, f"monitor.{key}", ">= 0 (0: off)", value)
        for key in ("divergence_rising_epochs", "warmup_steps", "plateau_patience"):
            value = getattr(self, key)
            need(value >= 0, f"monitor.{key}", ">= 0", value)
        need(self.window_steps >= 1, "monitor.window_steps", ">= 1", self.window_steps)
        for key in ("stall_fraction", "starvation_fraction"):
            value = getattr(self, key)
            need(0 <= value < 1, f"monitor.{key}", "in [0, 1) (0: off)", value)
        need(
            self.resource_interval_seconds > 0,
            "monitor.resource_interval_seconds",
            "> 0",
            self.resource_interval_seconds,
        )

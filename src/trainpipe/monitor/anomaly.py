"""Anomaly detectors: small pure state machines fed per step or per epoch.

Each detector reports one :class:`~trainpipe.monitor.events.Finding` when an episode starts and
then stays quiet until the condition clears (it re-arms), so a long plateau or a slow data
loader yields one event, not one per step. Decisions are rank-local: every rank runs its own
detectors on its own numbers.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from trainpipe.config import MonitorConfig
from trainpipe.monitor.events import Finding

RISING_MIN_GROWTH = 0.25
"""A training loss that rises epoch after epoch diverges only once it grew by more than this
share over those epochs; smaller rises are the noise of warmup and small data."""
STARVATION_MIN_WAIT_SECONDS = 0.05
"""Loader starvation needs the window's data waits to add up to at least this: on steps of a
millisecond, one scheduler pause in a batch fetch is a large share of the step time and costs
nothing worth reporting."""
DIVERGENCE_LOSS_FLOOR = 0.05
"""Divergence compares against at least this loss, so a near-zero best loss plus noise is not
mistaken for a factor-of-N rise."""


class RollingMedian:
    """The median of the last ``size`` values, as ``statistics.median`` of them would give it,
    kept in a sorted list as values come and go: a step's update costs a bisection and a short
    memmove instead of sorting the whole window again (a 200-step history, every step)."""

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=max(1, size))
        self.ordered: list[float] = []

    def __len__(self) -> int:
        return len(self.values)

    @property
    def full(self) -> bool:
        """Whether ``size`` values have come in."""
        return len(self.values) == self.values.maxlen

    def add(self, value: float) -> None:
        """Feed one value (not NaN: it has no place in the order); the oldest leaves when full."""
        if self.full:
            del self.ordered[bisect.bisect_left(self.ordered, self.values[0])]
        self.values.append(value)
        bisect.insort(self.ordered, value)

    def median(self) -> float:
        """The median of the values in the window (the mean of the middle two for an even
        count); NaN when empty."""
        n = len(self.ordered)
        if n == 0:
            return math.nan
        if n % 2:
            return self.ordered[n // 2]
        return (self.ordered[n // 2 - 1] + self.ordered[n // 2]) / 2


class Episode:
    """Once per episode: :meth:`begins` is true when a condition starts holding, then false until
    the condition has cleared (the detector re-arms)."""

    def __init__(self) -> None:
        self.active = False

    def begins(self, holds: bool) -> bool:
        """Feed whether the condition holds now; true only on the first of a run of holds."""
        started = holds and not self.active
        self.active = holds
        return started


class DivergenceDetector:
    """The loss runs away: the median over the last ``window`` steps exceeds
    ``factor`` x the best such median seen after ``warmup`` steps, or the epoch's training loss
    rose ``rising_epochs`` epochs in a row, by more than :data:`RISING_MIN_GROWTH` in all."""

    def __init__(self, *, factor: float, warmup: int, window: int, rising_epochs: int = 3) -> None:
        self.factor = factor
        self.warmup = warmup
        self.losses = RollingMedian(window)
        self.rising_epochs = rising_epochs
        self.best = math.inf
        self.steps = 0
        self.episode = Episode()
        self.epoch_losses: list[float] = []
        self.rising = Episode()

    def step(self, loss: float) -> Finding | None:
        """Feed one step's (rank-local, per-sample) training loss."""
        if self.factor <= 0:
            return None
        self.steps += 1
        if not math.isfinite(loss):
            return None  # non-finite values are the non_finite detector's business
        self.losses.add(loss)
        if self.steps < self.warmup or not self.losses.full:
            return None
        median = self.losses.median()
        threshold = self.factor * max(self.best, DIVERGENCE_LOSS_FLOOR)
        diverging = self.best < math.inf and median > threshold
        if self.episode.begins(diverging):
            return Finding(
                "divergence",
                median,
                threshold,
                f"training loss diverges: median {median:.4g} over the last "
                f"{len(self.losses)} steps exceeds {self.factor:g}x the best {self.best:.4g}; "
                "lower train.learning_rate or set train.grad_clip / train.warmup_epochs",
            )
        if not diverging:
            self.best = min(self.best, median)
        return None

    def epoch(self, train_loss: float) -> Finding | None:
        """Feed one epoch's training loss: a loss that rises epoch after epoch diverges too."""
        if self.rising_epochs <= 0 or not math.isfinite(train_loss):
            return None
        self.epoch_losses.append(train_loss)
        recent = self.epoch_losses[-(self.rising_epochs + 1) :]
        rising = (
            len(recent) == self.rising_epochs + 1
            and all(b > a for a, b in itertools.pairwise(recent))
            and recent[-1] > (1 + RISING_MIN_GROWTH) * recent[0]
        )
        if not self.rising.begins(rising):
            return None
        return Finding(
            "divergence",
            train_loss,
            recent[0],
            f"training loss rose {self.rising_epochs} epochs in a row "
            f"({' -> '.join(f'{v:.4g}' for v in recent)}); lower train.learning_rate",
        )


class PlateauDetector:
    """Validation loss has not improved by more than ``min_delta`` for ``patience`` epochs."""

    def __init__(self, *, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.since = 0
        self.episode = Episode()

    def epoch(self, val_loss: float) -> Finding | None:
        """Feed one epoch's validation loss."""
        if self.patience <= 0 or not math.isfinite(val_loss):
            return None
        improved = val_loss < self.best - self.min_delta
        if improved:
            self.best, self.since = val_loss, 0
        else:
            self.since += 1
        if not self.episode.begins(not improved and self.since >= self.patience):
            return None
        return Finding(
            "plateau",
            val_loss,
            self.best - self.min_delta,
            f"validation loss has not improved by more than {self.min_delta:g} for "
            f"{self.since} epochs (best {self.best:.4g}, now {val_loss:.4g}); stop earlier, "
            "change train.learning_rate or the model",
        )


class Warmup:
    """Counts the first ``steps`` steps of a run, which a step-level detector ignores: they pay
    for starting the loader's workers, compiling kernels and filling caches, not for the data
    source or the node being slow."""

    def __init__(self, steps: int) -> None:
        self.left = max(0, steps)

    def passing(self) -> bool:
        """Feed one step; true while it is still one of the warm-up steps."""
        if self.left > 0:
            self.left -= 1
            return True
        return False


class ThroughputDetector:
    """Training slows down: the median samples/s of the last ``window`` steps falls below
    ``fraction`` x the median of the longer history (the ``stall`` kind). The first ``warmup``
    steps are not counted."""

    def __init__(
        self, *, fraction: float, window: int, history: int = 200, warmup: int = 0
    ) -> None:
        self.fraction = fraction
        self.warmup = Warmup(warmup)
        self.window = max(1, window)
        self.recent = RollingMedian(self.window)
        self.history = RollingMedian(max(history, 2 * self.window))
        self.episode = Episode()

    def step(self, samples_per_second: float) -> Finding | None:
        """Feed one step's throughput."""
        if self.fraction <= 0 or samples_per_second <= 0 or self.warmup.passing():
            return None
        self.recent.add(samples_per_second)
        self.history.add(samples_per_second)
        if len(self.history) < 2 * self.window:
            return None
        now, usual = self.recent.median(), self.history.median()
        threshold = self.fraction * usual
        if not self.episode.begins(now < threshold):
            return None
        return Finding(
            "stall",
            now,
            threshold,
            f"throughput fell to {now:.4g} samples/s over the last {self.window} steps, below "
            f"{self.fraction:g}x the usual {usual:.4g}; check the node's load and the data source",
        )


class StarvationDetector:
    """The data loader starves the step: over the last ``window`` steps, waiting for batches
    takes more than ``fraction`` of the step time, and at least
    :data:`STARVATION_MIN_WAIT_SECONDS` in all. The first ``warmup`` steps are not counted: the
    first batch waits for the loader's workers to start."""

    def __init__(self, *, fraction: float, window: int, warmup: int = 0) -> None:
        self.fraction = fraction
        self.warmup = Warmup(warmup)
        self.steps: deque[tuple[float, float]] = deque(maxlen=max(1, window))
        self.episode = Episode()

    def step(self, wait_seconds: float, step_seconds: float) -> Finding | None:
        """Feed one step's data wait and total duration (the wait included)."""
        if self.fraction <= 0 or self.warmup.passing():
            return None
        self.steps.append((wait_seconds, step_seconds))
        total = sum(s for _, s in self.steps)
        waited = sum(w for w, _ in self.steps)
        share = waited / total if total > 0 else 0.0
        starved = share > self.fraction and waited >= STARVATION_MIN_WAIT_SECONDS
        if not self.episode.begins(starved):
            return None
        return Finding(
            "loader_starvation",
            share,
            self.fraction,
            f"waiting for data took {share:.0%} of the step time over the last "
            f"{len(self.steps)} steps; speed up the input pipeline (storage, augmentation)",
        )


class Watchdog:
    """A thread that reports a ``stall`` when no step finished for ``seconds`` seconds.

    The training loop calls :meth:`beat` after every step (and checkpoint); the watchdog calls
    ``report`` once per silent episode, from its own thread, while the loop is stuck.
    """

    def __init__(
        self,
        seconds: float,
        report: Callable[[Finding], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.report = report
        self.clock = clock
        self.last = clock()
        self.fired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Something finished: the loop is alive."""
        self.last = self.clock()
        self.fired = False

    def check(self) -> Finding | None:
        """One watchdog look: a finding when the silence just crossed the limit."""
        silent = self.clock() - self.last
        if self.seconds <= 0 or silent <= self.seconds or self.fired:
            return None
        self.fired = True
        return Finding(
            "stall",
            silent,
            self.seconds,
            f"no training step finished for {silent:.1f}s (limit monitor.stall_seconds="
            f"{self.seconds:g}); the loop may be stuck in data loading, a collective or I/O",
        )

    def start(self) -> None:
        """Watch in a daemon thread until :meth:`stop`."""
        if self.seconds <= 0 or self._thread is not None:
            return
        self.beat()
        interval = min(1.0, self.seconds / 4)

        def watch() -> None:
            while not self._stop.wait(interval):
                finding = self.check()
                if finding is not None:
                    self.report(finding)

        self._thread = threading.Thread(target=watch, name="trainpipe-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def detectors_from_config(
    config: MonitorConfig,
) -> tuple[DivergenceDetector, PlateauDetector, ThroughputDetector, StarvationDetector]:
    """The per-step and per-epoch detectors with ``monitor.*`` thresholds."""
    return (
        DivergenceDetector(
            factor=config.divergence_factor,
            warmup=config.warmup_steps,
            window=config.window_steps,
            rising_epochs=config.divergence_rising_epochs,
        ),
        PlateauDetector(patience=config.plateau_patience, min_delta=config.plateau_min_delta),
        ThroughputDetector(
            fraction=config.stall_fraction, window=config.window_steps, warmup=config.warmup_steps
        ),
        StarvationDetector(
            fraction=config.starvation_fraction,
            window=config.window_steps,
            warmup=config.warmup_steps,
        ),
    )

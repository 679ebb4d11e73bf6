"""The anomaly detectors: one finding per episode, re-armed when the condition clears."""

from __future__ import annotations

import random
import statistics
import threading
from collections import deque

import pytest

from trainpipe.config import MonitorConfig
from trainpipe.monitor.anomaly import (
    DIVERGENCE_LOSS_FLOOR,
    DivergenceDetector,
    PlateauDetector,
    RollingMedian,
    StarvationDetector,
    ThroughputDetector,
    Watchdog,
    detectors_from_config,
)
from trainpipe.monitor.events import Finding

pytestmark = pytest.mark.unit


def feed(detector: DivergenceDetector, losses: list[float]) -> list[Finding]:
    return [f for f in (detector.step(loss) for loss in losses) if f is not None]


@pytest.mark.parametrize("size", [1, 2, 5, 20])
def test_rolling_median_is_the_median_of_the_window(size: int) -> None:
    rng = random.Random(size)
    rolling, window = RollingMedian(size), deque[float](maxlen=size)
    assert rolling.median() != rolling.median()  # NaN while empty
    for _ in range(300):
        value = float(rng.randint(0, 9))  # ties leave and come back
        rolling.add(value)
        window.append(value)
        assert rolling.median() == statistics.median(window)
        assert len(rolling) == len(window)
        assert rolling.full == (len(window) == size)


def test_divergence_fires_once_per_episode_and_rearms() -> None:
    detector = DivergenceDetector(factor=3, warmup=4, window=3, rising_epochs=0)
    calm = feed(detector, [1.0, 0.8, 0.6, 0.5, 0.5, 0.5])
    assert calm == [] and detector.best == pytest.approx(0.5)
    (finding,) = feed(detector, [5.0, 6.0, 7.0, 8.0, 9.0])  # median 5 > 3 x 0.5, then stays
    assert finding.kind == "divergence"
    assert finding.value == pytest.approx(5.0) and finding.threshold == pytest.approx(1.5)
    assert "exceeds 3x the best 0.5" in finding.message
    assert feed(detector, [0.4, 0.4, 0.4]) == []  # recovered: a new best, re-armed
    (again,) = feed(detector, [4.0, 4.0, 4.0])
    assert again.threshold == pytest.approx(1.2)


def test_divergence_waits_for_warmup_and_ignores_single_spikes() -> None:
    detector = DivergenceDetector(factor=3, warmup=10, window=5, rising_epochs=0)
    assert feed(detector, [2.0, 50.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == []
    assert feed(detector, [1.0, 100.0, 1.0, 1.0]) == []  # one spike does not move a median
    assert feed(detector, [float("nan"), float("inf")]) == []  # the non_finite detector's job


def test_divergence_floor_keeps_a_tiny_best_loss_from_false_alarms() -> None:
    detector = DivergenceDetector(factor=4, warmup=1, window=1, rising_epochs=0)
    assert feed(detector, [0.001, 0.003, 0.01]) == []  # 10x the best, but far below the floor
    (finding,) = feed(detector, [4 * DIVERGENCE_LOSS_FLOOR + 0.01])
    assert finding.threshold == pytest.approx(4 * DIVERGENCE_LOSS_FLOOR)


def test_divergence_by_rising_epochs() -> None:
    detector = DivergenceDetector(factor=0, warmup=0, window=1, rising_epochs=2)
    assert detector.step(1e9) is None  # factor 0: the step rule is off
    findings = [detector.epoch(v) for v in (1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.5, 0.6)]
    fired = [(i, f) for i, f in enumerate(findings) if f is not None]
    assert [i for i, _ in fired] == [3, 7]  # 0.5->0.6->0.7, then after the fall 0.4->0.5->0.6
    assert fired[0][1].value == pytest.approx(0.7) and fired[0][1].threshold == pytest.approx(0.5)


def test_a_small_rise_over_the_epochs_is_not_divergence() -> None:
    """GunPoint's transformer: 0.327 -> 0.358 -> 0.377 -> 0.388 is noise (+19%), not a runaway."""
    detector = DivergenceDetector(factor=0, warmup=0, window=1, rising_epochs=3)
    assert [detector.epoch(v) for v in (0.3273, 0.3582, 0.3769, 0.3879)] == [None] * 4
    finding = detector.epoch(0.5)  # 0.358 -> 0.5: +40% over three rising epochs
    assert finding is not None and finding.kind == "divergence"


def test_plateau_after_patience_epochs_without_improvement() -> None:
    detector = PlateauDetector(patience=2, min_delta=0.01)
    results = [detector.epoch(v) for v in (1.0, 0.9, 0.895, 0.899, 0.898, 0.5, 0.5, 0.5)]
    fired = [i for i, f in enumerate(results) if f is not None]
    assert fired == [3, 7]
    finding = results[3]
    assert finding is not None and finding.kind == "plateau"
    assert finding.threshold == pytest.approx(0.89)
    assert PlateauDetector(patience=0, min_delta=0).epoch(1.0) is None


def test_throughput_drop_is_a_stall() -> None:
    detector = ThroughputDetector(fraction=0.5, window=3, history=12)
    assert [detector.step(100.0) for _ in range(6)] == [None] * 6
    results = [detector.step(10.0) for _ in range(4)]
    fired = [f for f in results if f is not None]
    assert len(fired) == 1 and fired[0].kind == "stall"
    assert fired[0].value == pytest.approx(10.0) and fired[0].threshold == pytest.approx(50.0)
    assert ThroughputDetector(fraction=0, window=1).step(1.0) is None


def test_starvation_by_share_of_step_time() -> None:
    detector = StarvationDetector(fraction=0.5, window=4)
    assert [detector.step(0.001, 0.01) for _ in range(4)] == [None] * 4
    finding = detector.step(2.0, 2.01)  # (3 x 0.001 + 2) / (3 x 0.01 + 2.01) = 98%
    assert finding is not None and finding.kind == "loader_starvation"
    assert finding.value == pytest.approx(2.003 / 2.04) and finding.threshold == 0.5
    assert [detector.step(0.001, 0.01) for _ in range(3)] == [None] * 3  # same episode
    assert detector.step(0.001, 0.01) is None  # the stall left the window: re-armed
    assert detector.step(5.0, 5.0) is not None


def test_short_waits_on_millisecond_steps_are_not_starvation() -> None:
    """A 20 ms scheduler pause in the batch fetch of 1 ms steps is 80% of the step time and
    nothing worth reporting; the same share of real waiting is."""
    detector = StarvationDetector(fraction=0.5, window=4)
    assert [detector.step(0.0001, 0.001) for _ in range(3)] == [None] * 3
    assert detector.step(0.02, 0.021) is None
    assert detector.step(0.2, 0.21) is not None


def test_the_first_steps_of_a_run_are_warm_up_for_throughput_and_starvation() -> None:
    starvation = StarvationDetector(fraction=0.5, window=4, warmup=3)
    # the first batches wait for the loader's workers to start: not starvation
    assert [starvation.step(2.0, 2.01) for _ in range(3)] == [None] * 3
    assert [starvation.step(0.001, 0.01) for _ in range(4)] == [None] * 4
    assert starvation.step(2.0, 2.01) is not None  # after the warm-up it counts

    throughput = ThroughputDetector(fraction=0.5, window=2, history=4, warmup=2)
    assert [throughput.step(rate) for rate in (1.0, 1.0, 100.0, 100.0, 100.0, 100.0)] == [
        None
    ] * 6  # the slow first steps are not the history a later step is compared with
    assert [throughput.step(10.0) for _ in range(2)][-1] is not None


def test_detectors_from_config_pass_the_warm_up_to_every_step_detector() -> None:
    divergence, _, throughput, starvation = detectors_from_config(MonitorConfig(warmup_steps=7))
    assert divergence.warmup == 7
    assert throughput.warmup.left == 7 and starvation.warmup.left == 7


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_check_fires_once_per_silence() -> None:
    clock = FakeClock()
    dog = Watchdog(10, lambda f: None, clock=clock)
    clock.now += 9
    assert dog.check() is None
    clock.now += 2
    finding = dog.check()
    assert finding is not None and finding.kind == "stall"
    assert finding.value == pytest.approx(11) and finding.threshold == 10
    assert "monitor.stall_seconds=10" in finding.message
    clock.now += 50
    assert dog.check() is None  # the same silence
    dog.beat()
    clock.now += 11
    assert dog.check() is not None


def test_watchdog_thread_reports_while_the_loop_is_stuck() -> None:
    seen: list[Finding] = []
    reported = threading.Event()

    def report(finding: Finding) -> None:
        seen.append(finding)
        reported.set()

    dog = Watchdog(0.2, report)
    dog.start()
    try:
        assert reported.wait(10), "the watchdog never reported the silence"
    finally:
        dog.stop()
    assert [f.kind for f in seen] == ["stall"]
    off = Watchdog(0, report)
    off.start()
    assert off._thread is None

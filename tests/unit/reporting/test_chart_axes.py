"""Round axis bounds, steps and tick labels (trainpipe.reporting.axes)."""

from __future__ import annotations

import itertools

import pytest

from trainpipe.reporting.axes import nice_step, round_axis, tick_label

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("span", "target", "integer", "step"),
    [
        (10.0, 5, False, 2.0),
        (1.0, 4, False, 0.25),  # 2.5 is a nice mantissa for continuous axes...
        (10.0, 4, True, 5.0),  # ...but not for integer ones
        (3.0, 6, True, 1.0),  # integer steps are at least 1
        (0.003, 5, False, 0.001),
        (7000.0, 5, False, 2000.0),
    ],
)
def test_nice_step(span: float, target: int, integer: bool, step: float) -> None:
    assert nice_step(span, target, integer) == pytest.approx(step)


def test_round_axis_widens_to_multiples_of_the_step() -> None:
    lo, hi, ticks = round_axis(0.13, 0.87, 5, False)
    assert (lo, hi) == pytest.approx((0.0, 1.0))
    assert ticks == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # rounded: no 0.6000000000000001


@pytest.mark.parametrize(
    ("lo", "hi", "integer"),
    [(-3.7, 12.2, False), (1.0, 40.0, True), (0.9991, 0.9999, False), (-250.0, -1.0, False)],
)
def test_round_axis_covers_the_data_with_evenly_spaced_ticks(
    lo: float, hi: float, integer: bool
) -> None:
    start, end, ticks = round_axis(lo, hi, 5, integer)
    assert start <= lo and end >= hi
    assert ticks[0] == pytest.approx(start) and ticks[-1] == pytest.approx(end)
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert steps == pytest.approx([steps[0]] * len(steps))
    assert 2 <= len(ticks) <= 12
    if integer:
        assert all(t == int(t) for t in ticks)


def test_round_axis_pads_a_range_without_width() -> None:
    assert round_axis(0.0, 0.0, 5, False)[:2] == pytest.approx((-1.0, 1.0))
    lo, hi, _ = round_axis(5.0, 5.0, 5, False)  # padded by a tenth of the value
    assert 4.0 < lo < 5.0 < hi < 6.0
    assert round_axis(3.0, 3.0, 6, True) == (2.0, 4.0, [2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("ticks", "labels"),
    [
        ([0.0, 0.25, 0.5], ["0", "0.25", "0.50"]),  # as many decimals as the step needs
        ([0.0, 0.5, 1.0], ["0", "0.5", "1.0"]),
        ([0.0, 2.0, 4.0], ["0", "2", "4"]),
        ([-0.2, 0.0, 0.2], ["-0.2", "0", "0.2"]),  # never "-0.0"
        ([0.0, 1e6, 2e6], ["0", "1e+06", "2e+06"]),  # large values: significant digits
        ([0.0, 2e-5, 4e-5], ["0", "2e-05", "4e-05"]),  # tiny steps too
    ],
)
def test_tick_labels(ticks: list[float], labels: list[str]) -> None:
    assert [tick_label(t, ticks) for t in ticks] == labels


def test_tick_label_of_a_single_tick() -> None:
    assert tick_label(3.0, [3.0]) == "3"

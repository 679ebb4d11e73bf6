"""Round axis bounds and tick labels for the SVG charts.

An axis over ``[lo, hi]`` is widened to multiples of a "nice" step (1, 2, 2.5 or 5 times a power
of ten; 1, 2 or 5 for integer data such as epochs), and each tick label gets just the decimals
that its step needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["nice_step", "round_axis", "tick_label"]


def nice_step(span: float, target: int, integer: bool) -> float:
    """The smallest nice step that divides ``span`` into at most about ``target`` intervals.

    An ``integer`` axis only takes steps of 1, 2 or 5 times a power of ten, and at least 1.
    """
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    mantissas = (1.0, 2.0, 5.0, 10.0) if integer else (1.0, 2.0, 2.5, 5.0, 10.0)
    step = next(m * magnitude for m in mantissas if raw <= m * magnitude * (1 + 1e-9))
    return max(step, 1.0) if integer else step


def round_axis(
    lo: float, hi: float, target: int, integer: bool
) -> tuple[float, float, list[float]]:
    """Widen ``[lo, hi]`` to multiples of :func:`nice_step`; returns ``(lo, hi, ticks)``.

    A range without width (``lo == hi``) is first padded by 1 (integer axes and zero) or by a
    tenth of the value, so a single point still gets an axis around it.
    """
    if hi - lo <= 0:
        pad = 1.0 if integer or lo == 0 else abs(lo) * 0.1
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target, integer)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = round((end - start) / step)
    ticks = [round(start + i * step, 12) for i in range(count + 1)]
    return start, end, ticks


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """The label of the tick at ``value`` on an axis with ``ticks``.

    Labels get as many decimals as the step between ticks needs (0.25 steps get two), and three
    significant digits when the values reach a million or the step is below 0.0001.
    """
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    biggest = max(abs(t) for t in ticks)
    if biggest >= 1e6 or (0 < step < 1e-4):
        return f"{value:.3g}"
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text

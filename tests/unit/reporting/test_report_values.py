"""Which values count as numbers and how values show as text (trainpipe.reporting.values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainpipe.reporting.values import (
    DASH,
    finite_float,
    format_count,
    format_number,
    format_value,
    is_number,
)

pytestmark = pytest.mark.unit


def test_is_number_takes_real_numbers_but_not_bools_or_text() -> None:
    assert all(is_number(v) for v in (1, 2.5, math.nan, np.float32(1.5), np.int64(3)))
    assert not any(is_number(v) for v in (True, False, "1", None, [1], 1j))


def test_finite_float() -> None:
    assert finite_float(np.int64(3)) == 3.0 and isinstance(finite_float(np.int64(3)), float)
    assert finite_float(-0.5) == -0.5
    assert [finite_float(v) for v in (math.nan, math.inf, -math.inf, True, "2", None)] == [None] * 6


@pytest.mark.parametrize(
    ("number", "decimals", "significant", "text"),
    [
        (0.8, 4, 4, "0.8000"),  # scores line up
        (0.0, 4, 4, "0.0000"),
        (123456.789, 4, 4, "123456.7890"),
        (1e-5, 4, 4, "1e-05"),  # too small for four decimals: significant digits
        (2.5e7, 4, 4, "2.5e+07"),  # too large: significant digits
        (-0.001, 2, 4, "0.00"),  # rounds to zero: no sign
        (0.001, None, 6, "0.001"),
        (1 / 3, None, 6, "0.333333"),
        (1 / 3, None, 3, "0.333"),
        (-0.0, None, 4, "0"),
        (math.nan, 4, 4, "nan"),  # shown, never hidden
        (math.inf, None, 4, "inf"),
        (-math.inf, None, 4, "-inf"),
    ],
)
def test_format_number(number: float, decimals: int | None, significant: int, text: str) -> None:
    assert format_number(number, decimals=decimals, significant=significant) == text


def test_format_value_shows_any_value() -> None:
    assert format_value(None) == DASH
    assert (format_value(True), format_value(False)) == ("true", "false")
    assert format_value(12345678901) == "12345678901"  # integers in full
    assert format_value(np.int64(7)) == "7"
    assert format_value(0.5) == "0.5"
    assert format_value(0.5, decimals=4) == "0.5000"
    assert format_value(math.nan) == "nan"
    assert format_value("<b>") == "<b>"  # escaping is the page's job
    assert format_value({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert format_value((1, "x")) == '[1, "x"]'


def test_format_count() -> None:
    assert format_count(12.0) == "12"
    assert format_count(1234567.0) == "1234567"  # no rounding to significant digits
    assert format_count(np.int64(4)) == "4"
    assert format_count(12.5) == "12.5"  # not a whole number: not rounded
    assert format_count(math.nan) == "nan"
    assert format_count(None) == DASH

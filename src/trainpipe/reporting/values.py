"""How the reports recognise numbers and show values as text.

A report shows whatever a summary or a metrics file holds, so these helpers accept any value:
only real numbers that are not bools count as numbers, and non-finite numbers are shown as they
are (``nan``, ``inf``) rather than hidden.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, TypeGuard

__all__ = ["DASH", "finite_float", "format_count", "format_number", "format_value", "is_number"]

#: What a missing value (None) shows as.
DASH = "\u2014"


def is_number(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a real number (int, float, numpy scalar); bools are not numbers."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def finite_float(value: object) -> float | None:
    """``value`` as a finite float, or None for anything else (None, bools, text, NaN, inf)."""
    if not is_number(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def format_number(number: float, *, decimals: int | None = None, significant: int = 4) -> str:
    """``number`` as display text.

    With ``decimals``, numbers from 0.001 up to a million (and zero) get exactly that many
    decimals, so a column of scores lines up (``0.8000``); other numbers, and every number
    without ``decimals``, get ``significant`` significant digits (``0.001``, ``1.5e+07``).
    NaN and infinities show as ``nan``, ``inf`` and ``-inf``; minus zero shows as ``0``.
    """
    number = float(number)
    if not math.isfinite(number):
        return str(number)
    if number == 0:
        number = 0.0  # drops the sign of -0.0
    if decimals is not None and (number == 0 or 1e-3 <= abs(number) < 1e6):
        text = f"{number:.{decimals}f}"
        # A small negative number can round to "-0.00": show it without the sign.
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return f"{number:.{significant}g}"


def format_value(value: Any, *, decimals: int | None = None, significant: int = 6) -> str:
    """Any summary or metric value as display text (not yet HTML-escaped).

    None shows as an em dash, bools as ``true``/``false``, integers in full, other real numbers
    through :func:`format_number` with ``decimals`` and ``significant``, text as it is, and
    anything else (lists, mappings) as compact JSON with sorted keys.
    """
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return format_number(float(value), decimals=decimals, significant=significant)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def format_count(value: Any) -> str:
    """A count as a whole number even when stored as a float (``12.0`` shows as ``12``).

    A value that is not a whole finite number is shown by :func:`format_value`, so nothing that
    is not a count gets rounded.
    """
    number = finite_float(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return format_value(value)

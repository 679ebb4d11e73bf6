"""Quality gate: decide whether a trained model is "blessed" for release.

Thresholds are a flat mapping whose keys name a metric and a direction::

    {"accuracy_min": 0.95, "latency_p95_ms_max": 50}

``<metric>_min`` requires ``metric >= value``; ``<metric>_max`` requires ``metric <= value``. A
threshold on a metric the evaluation did not produce fails (it never passes silently), and so does
one on a metric that is not a finite number.

A :class:`Check` may also compare with something other than a configured number: the evaluate
stage adds, by default, one against the stronger baseline (``against="linear baseline"``), which
the verdict names with both scores.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from trainpipe.config.evaluate import THRESHOLD_FORMS, split_threshold_key, threshold_problems
from trainpipe.errors import ConfigError

__all__ = ["Check", "GateResult", "evaluate_gate", "validate_thresholds"]

_NEGATED: dict[str, str] = {">=": "<", "<=": ">"}


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _format(value: float, digits: int) -> str:
    whole = len(str(int(abs(value)))) if math.isfinite(value) and abs(value) >= 1 else 0
    return f"{value:.{max(digits, whole)}g}"


def _format_pair(value: float, threshold: float) -> tuple[str, str]:
    """Format two numbers compactly, with enough digits that unequal numbers print differently."""
    for digits in range(4, 18):
        left, right = _format(value, digits), _format(threshold, digits)
        if left != right or value == threshold:
            return left, right
    return repr(value), repr(threshold)


def _split_key(key: str) -> tuple[str, str]:
    split = split_threshold_key(key)
    if split is None:
        raise ConfigError(f"threshold {key!r} is not a valid threshold name: use {THRESHOLD_FORMS}")
    return split


@dataclass(frozen=True)
class Check:
    """One threshold evaluated against one metric value (``None`` when the metric is missing)."""

    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    against: str = ""
    """What the threshold is when it is not a configured number, e.g. ``linear baseline``."""

    @property
    def key(self) -> str:
        """The threshold key this check came from, e.g. ``accuracy_min``."""
        return self.metric + ("_min" if self.op == ">=" else "_max")

    @property
    def description(self) -> str:
        """One phrase saying what was compared, e.g. ``accuracy 0.91 < 0.95`` or
        ``validation accuracy 0.81 < linear baseline 0.86``."""
        if self.value is None and self.against:
            return f"{self.metric} cannot be compared with the {self.against}"
        if self.value is None:
            return (
                f"{self.metric} is missing from the evaluation metrics "
                f"(required {self.op} {_format(self.threshold, 4)})"
            )
        if not math.isfinite(self.value):
            return (
                f"{self.metric} is {self.value} (required {self.op} {_format(self.threshold, 4)})"
            )
        value, threshold = _format_pair(self.value, self.threshold)
        op = self.op if self.passed else _NEGATED[self.op]
        if self.against:
            threshold = f"{self.against} {threshold}"
        return f"{self.metric} {value} {op} {threshold}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of this check (a non-finite value becomes ``None``)."""
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        data: dict[str, Any] = {
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "value": value,
            "passed": self.passed,
            "description": self.description,
        }
        if self.against:
            data["against"] = self.against
        return data


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: ``blessed`` when every check passed (or none was configured)."""

    blessed: bool
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        """The checks that did not pass."""
        return tuple(check for check in self.checks if not check.passed)

    @property
    def reason(self) -> str:
        """A one-line explanation of the verdict."""
        if not self.checks:
            return "blessed: no thresholds configured"
        failed = self.failed
        if not failed:
            total = len(self.checks)
            # A comparison with something other than a configured number (a baseline) is
            # named with its numbers even when it holds.
            named = "; ".join(check.description for check in self.checks if check.against)
            return f"blessed: {total}/{total} thresholds hold" + (f" ({named})" if named else "")
        return "not blessed: " + "; ".join(check.description for check in failed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with ``blessed``, ``reason`` and ``checks``."""
        return {
            "blessed": self.blessed,
            "reason": self.reason,
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """Rebuild a result from :meth:`to_dict` output."""
        checks = tuple(
            Check(
                metric=str(item["metric"]),
                op=str(item["op"]),
                threshold=float(item["threshold"]),
                value=None if item.get("value") is None else float(item["value"]),
                passed=bool(item["passed"]),
                against=str(item.get("against", "")),
            )
            for item in data.get("checks", ())
        )
        return cls(blessed=bool(data["blessed"]), checks=checks)


def validate_thresholds(thresholds: Mapping[str, float]) -> dict[str, float]:
    """Check a threshold spec and return it as a ``{key: float}`` dict.

    Raises :class:`~trainpipe.errors.ConfigError` naming the offending key when a key does not end
    in ``_min``/``_max``, a value is not a finite number, or a ``_min`` exceeds the ``_max`` of the
    same metric.
    """
    if not isinstance(thresholds, Mapping):
        raise ConfigError(
            f"thresholds must be a mapping of threshold name to number, "
            f"got {type(thresholds).__name__}"
        )
    validated: dict[str, float] = {}
    for key, value in thresholds.items():
        if not isinstance(key, str):
            raise ConfigError(
                f"threshold {key!r} is not a valid threshold name: use {THRESHOLD_FORMS}"
            )
        _split_key(key)
        if not _is_number(value) or not math.isfinite(float(value)):
            raise ConfigError(f"threshold {key!r} must be a finite number, got {value!r}")
        validated[key] = float(value)
    conflicts = threshold_problems(validated)
    if conflicts:
        raise ConfigError(conflicts[0])
    return validated


def evaluate_gate(metrics: Mapping[str, Any], thresholds: Mapping[str, float]) -> GateResult:
    """Compare ``metrics`` against ``thresholds`` and return the verdict with one check each.

    A threshold naming a metric absent from ``metrics`` (or not a number) gives a failed check with
    ``value=None``; a NaN metric fails too. With no thresholds the model is blessed vacuously.
    """
    spec = validate_thresholds(thresholds)
    checks: list[Check] = []
    for key, threshold in spec.items():
        metric, op = _split_key(key)
        raw = metrics.get(metric)
        value = float(raw) if _is_number(raw) else None
        if value is None or not math.isfinite(value):
            passed = False
        elif op == ">=":
            passed = value >= threshold
        else:
            passed = value <= threshold
        checks.append(Check(metric=metric, op=op, threshold=threshold, value=value, passed=passed))
    return GateResult(blessed=all(check.passed for check in checks), checks=tuple(checks))

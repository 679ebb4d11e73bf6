"""Build the typed config dataclasses from plain data, reporting every structural problem.

:func:`build` walks a dataclass's type hints: nested dataclasses, ``Literal`` choices, optional
values, lists, string-keyed mappings and the scalars ``bool``, ``int``, ``float`` (ints accepted,
non-finite refused) and ``str``. An unknown key, a missing required key or a value of the wrong
type is recorded in :class:`~trainpipe.config.problems.Problems` and building goes on with the
field's default, so one pass finds every such problem.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from trainpipe.config.problems import Problems

__all__ = ["build", "join"]

T = TypeVar("T")


class _Invalid:
    """The result of coercing a value that was recorded as a problem."""


_INVALID = _Invalid()


def build(cls: type[T], data: Any, problems: Problems, path: str = "") -> T | None:
    """Dataclass ``cls`` from ``data``; None when a required field is missing or invalid."""
    where = path or "top level"
    if not isinstance(data, Mapping):
        problems.add(path, f"{where} must be a mapping, got {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        keys = [join(path, k) for k in unknown]
        problems.add(
            "",
            f"unknown key {', '.join(keys)}; known keys here: {', '.join(sorted(fields))}",
            also=keys,
        )
    kwargs: dict[str, Any] = {}
    complete = True
    for name, f in fields.items():
        key = join(path, name)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name in data:
            value = _coerce(hints[name], data[name], key, problems)
            if value is not _INVALID:
                kwargs[name] = value
            elif required:
                complete = False
        elif required:
            problems.add(key, f"missing required key {key}")
            complete = False
    return cls(**kwargs) if complete else None


def join(path: str, name: str) -> str:
    """``path.name``, or ``name`` at the top level."""
    return f"{path}.{name}" if path else name


def _coerce(tp: Any, value: Any, key: str, problems: Problems) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        built = build(tp, value, problems, key)
        return _INVALID if built is None else built
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            return _bad(problems, key, f"one of {choices}", value)
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _coerce(inner, value, key, problems)
    if origin is list:
        if not isinstance(value, list):
            return _bad(problems, key, "a list", value)
        (item_tp,) = get_args(tp)
        items = [_coerce(item_tp, v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
        return _INVALID if any(item is _INVALID for item in items) else items
    if origin is dict:
        if not isinstance(value, Mapping):
            return _bad(problems, key, "a mapping", value)
        _, value_tp = get_args(tp)
        entries = {str(k): _coerce(value_tp, v, f"{key}.{k}", problems) for k, v in value.items()}
        return _INVALID if any(v is _INVALID for v in entries.values()) else entries
    return _scalar(tp, value, key, problems)


def _scalar(tp: Any, value: Any, key: str, problems: Problems) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        return value if isinstance(value, bool) else _bad(problems, key, "true or false", value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return _bad(problems, key, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _bad(problems, key, "a number", value)
        if not math.isfinite(value):
            return _bad(problems, key, "a finite number", value)
        return float(value)
    if tp is str:
        return value if isinstance(value, str) else _bad(problems, key, "a string", value)
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in a section's fields


def _bad(problems: Problems, key: str, rule: str, value: Any) -> _Invalid:
    problems.add(key, f"{key} must be {rule}, got {value!r}")
    return _INVALID

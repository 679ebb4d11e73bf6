"""Every problem of a config document, collected before anything raises.

Loading a config runs in two passes, both reporting into one :class:`Problems`: building checks
structure and types (unknown keys, missing keys, wrong types) and marks each bad key; checking
validates values and the rules between settings. A value check on a bad key is skipped, because
the value it would see is the default standing in for the bad one. At the end the whole list is
raised as one :class:`~trainpipe.errors.ConfigError`, so one run of a broken file names every
problem in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trainpipe.errors import ConfigError

__all__ = ["Problems"]


@dataclass
class Problems:
    """The problems found in one config document (``origin`` names it), in the order found."""

    origin: str
    messages: list[str] = field(default_factory=list)
    bad_keys: set[str] = field(default_factory=set)
    """Dotted keys whose value could not be built; checks that involve them are skipped."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Dotted keys set on the command line, each with what set it (``--set KEY=VALUE``): a
    problem that involves one says so, since the document itself is not where it came from."""

    def add(self, key: str, message: str, *, also: Sequence[str] = ()) -> None:
        """Record ``message`` (a whole phrase that names ``key``) and mark ``key`` as bad.

        When ``key`` or one of ``also`` (the keys the problem depends on) was set by an
        override, the message ends with where: ``(from --set train.epochs=three)``.
        """
        sources = [
            source
            for set_key, source in self.overrides.items()
            if any(_related(k, set_key) for k in (key, *also) if k)
        ]
        if sources:
            message = f"{message} (from {', '.join(sources)})"
        self.messages.append(message)
        if key:
            self.bad_keys.add(key)

    def need(self, ok: bool, key: str, rule: str, value: Any, *, also: Sequence[str] = ()) -> bool:
        """Unless ``ok``, record "KEY must be RULE, got VALUE"; return ``ok``.

        Skipped (returns True) when ``key`` or one of the keys in ``also`` that the rule depends on
        could not be built.
        """
        if ok or self.involves_bad(key, *also):
            return True
        self.add(key, f"{key} must be {rule}, got {value!r}", also=also)
        return False

    def involves_bad(self, *keys: str) -> bool:
        """Whether any of ``keys`` is bad, lies inside a bad section, or holds a bad key."""
        return any(_related(key, bad) for key in keys for bad in self.bad_keys)

    def raise_if_any(self) -> None:
        """Raise one ConfigError listing every problem; do nothing when there is none."""
        if not self.messages:
            return
        if len(self.messages) == 1:
            raise ConfigError(f"{self.origin}: {self.messages[0]}", problems=self.messages)
        listed = "\n".join(f"  - {message}" for message in self.messages)
        raise ConfigError(
            f"{self.origin}: {len(self.messages)} problems:\n{listed}", problems=self.messages
        )


def _related(key: str, bad: str) -> bool:
    if key == bad:
        return True
    return any(a.startswith(b) and a[len(b)] in ".[" for a, b in ((key, bad), (bad, key)))

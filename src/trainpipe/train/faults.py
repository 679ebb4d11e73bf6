"""Fault drills for tests and rehearsals, armed by ``TRAINPIPE_INJECT_*`` environment variables.

:meth:`Faults.from_env` reads them once, before training starts, and rejects a value that is not
a global step (a whole number >= 0) or a number of seconds (>= 0) with an error naming the
variable; an empty value counts as unset. The loop then asks the one :class:`Faults` object at
each step whether a drill fires. NaN, OOM and stall drills fire once per process (the retry after
a rollback or a back-off is clean, like after a real hiccup); the divergence drill lasts from its
step on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from trainpipe.errors import ConfigError

INJECT_NAN_ENV = "TRAINPIPE_INJECT_NAN_AT_STEP"
"""Fault injection for tests and drills: make the loss non-finite once at this global step."""
INJECT_OOM_ENV = "TRAINPIPE_INJECT_OOM_AT_STEP"
"""Fault injection: raise an out-of-memory error once at this global step (on rank 0)."""
INJECT_OOM_PHASE_ENV = "TRAINPIPE_INJECT_OOM_PHASE"
"""Where in the step the injected out-of-memory error is raised: one of :data:`OOM_PHASES`
(default ``forward``)."""
OOM_PHASES = ("forward", "backward", "optimizer")
"""The parts of a step that allocate: the forward pass, the backward pass (the last one, that
reduces the gradients over ranks, included) and the optimizer step."""
INJECT_DIVERGENCE_ENV = "TRAINPIPE_INJECT_DIVERGENCE_AT_STEP"
"""Fault injection: from this global step on, multiply the learning rate by
:data:`DIVERGENCE_LR_FACTOR` so the loss really diverges."""
INJECT_STALL_ENV = "TRAINPIPE_INJECT_STALL_AT_STEP"
"""Fault injection: the batch fetch of this global step sleeps (once per process, every rank)."""
INJECT_STALL_SECONDS_ENV = "TRAINPIPE_INJECT_STALL_SECONDS"
"""How long the injected stall sleeps (default :data:`DEFAULT_STALL_SECONDS`)."""
INJECT_PREEMPT_ENV = "TRAINPIPE_INJECT_PREEMPT_AT_STEP"
"""Fault injection: once training reaches this global step (every rank), it stops as after a
SIGTERM: a checkpoint at that step, then exit 143. Replaying an elastic job's membership
history ends each segment this way (:mod:`trainpipe.launch.elastic`)."""
DIVERGENCE_LR_FACTOR = 1000.0
DEFAULT_STALL_SECONDS = 5.0


@dataclass(kw_only=True)
class Faults:
    """The drills armed in this process: a global step per drill (None: not armed)."""

    nan_at: int | None = None
    oom_at: int | None = None
    oom_phase: str = "forward"
    divergence_at: int | None = None
    stall_at: int | None = None
    stall_seconds: float = DEFAULT_STALL_SECONDS
    preempt_at: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Faults:
        """Read the ``TRAINPIPE_INJECT_*`` variables of ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        seconds = _seconds(env, INJECT_STALL_SECONDS_ENV)
        return cls(
            nan_at=_step(env, INJECT_NAN_ENV),
            oom_at=_step(env, INJECT_OOM_ENV),
            oom_phase=_phase(env, INJECT_OOM_PHASE_ENV),
            divergence_at=_step(env, INJECT_DIVERGENCE_ENV),
            stall_at=_step(env, INJECT_STALL_ENV),
            stall_seconds=DEFAULT_STALL_SECONDS if seconds is None else seconds,
            preempt_at=_step(env, INJECT_PREEMPT_ENV),
        )

    def nan_fires(self, global_step: int) -> bool:
        """True, once, at the NaN drill's step: the loss should turn non-finite."""
        if global_step != self.nan_at:
            return False
        self.nan_at = None
        return True

    def oom_fires(self, global_step: int, phase: str = "forward") -> bool:
        """True, once, at the OOM drill's step and phase (:data:`OOM_PHASES`): that part of the
        step should run out of memory."""
        if global_step != self.oom_at or phase != self.oom_phase:
            return False
        self.oom_at = None
        return True

    def stall_fires(self, global_step: int) -> bool:
        """True, once, at the stall drill's step: the batch fetch should sleep
        :attr:`stall_seconds`."""
        if global_step != self.stall_at:
            return False
        self.stall_at = None
        return True

    def preempts(self, global_step: int) -> bool:
        """True, once, when training has reached the preemption drill's step: it should
        checkpoint there and stop as after a SIGTERM."""
        if global_step != self.preempt_at:
            return False
        self.preempt_at = None
        return True

    def diverging(self, global_step: int) -> bool:
        """True from the divergence drill's step on: the learning rate should be multiplied by
        :data:`DIVERGENCE_LR_FACTOR`."""
        return self.divergence_at is not None and global_step >= self.divergence_at


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _step(env: Mapping[str, str], name: str) -> int | None:
    value = _raw(env, name)
    if value is None:
        return None
    try:
        step = int(value)
    except ValueError:
        step = -1
    if step < 0:
        raise ConfigError(
            f"environment variable {name}={value!r} is not a global step (a whole number >= 0): "
            "set the step the drill should fire at, or unset it to train without the drill"
        )
    return step


def _phase(env: Mapping[str, str], name: str) -> str:
    value = _raw(env, name)
    if value is None:
        return "forward"
    if value not in OOM_PHASES:
        raise ConfigError(
            f"environment variable {name}={value!r} is not a part of a step: set one of "
            f"{', '.join(OOM_PHASES)}, or unset it for forward"
        )
    return value


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    value = _raw(env, name)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(
            f"environment variable {name}={value!r} is not a number of seconds (>= 0): "
            f"set how long the injected stall sleeps, or unset it for {DEFAULT_STALL_SECONDS:g}"
        )
    return seconds

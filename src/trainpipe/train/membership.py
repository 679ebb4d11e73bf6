"""An elastic job's membership history: which nodes trained from which global step.

An elastic job (``job.elastic_min_nodes < job.elastic_max_nodes``) goes on with fewer nodes when
one is lost and grows back when it returns; each time torchrun restarts the worker group and
training resumes from the newest checkpoint. Rank 0 records a ``membership`` event in the run's
events whenever the group it starts with differs from the last recorded one (always on the first
start)::

    {"type": "membership", "nodes": 1, "world_size": 1, "global_step": 40, "epoch": 2,
     "restart": 1, "time": "2026-01-01T00:00:00.000000Z"}

Data order and the global batch depend on (seed, epoch) only, so the weights are a function of
this history: :func:`membership_history` reads it back, and replaying it
(:func:`trainpipe.launch.elastic.replay_membership`) reproduces them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trainpipe.monitor.events import rfc3339_now

MEMBERSHIP_EVENT = "membership"


@dataclass(frozen=True)
class Membership:
    """From ``global_step`` on, ``nodes`` nodes (``world_size`` processes) trained."""

    global_step: int
    nodes: int
    world_size: int


def current_membership(
    world_size: int, global_step: int, environ: Mapping[str, str] | None = None
) -> Membership:
    """This worker group's membership, training from ``global_step``: the node count torchrun
    gives its workers (``GROUP_WORLD_SIZE``; outside torchrun, one node per ``LOCAL_WORLD_SIZE``
    processes)."""
    env = os.environ if environ is None else environ
    per_node = int(env.get("LOCAL_WORLD_SIZE", "") or world_size)
    nodes = int(env.get("GROUP_WORLD_SIZE", "") or max(1, world_size // max(1, per_node)))
    return Membership(global_step=global_step, nodes=nodes, world_size=world_size)


def membership_event(
    member: Membership, *, epoch: int, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``membership`` event of ``member`` (the torchrun restart count included)."""
    env = os.environ if environ is None else environ
    return {
        "type": MEMBERSHIP_EVENT,
        "nodes": member.nodes,
        "world_size": member.world_size,
        "global_step": member.global_step,
        "epoch": epoch,
        "restart": int(env.get("TORCHELASTIC_RESTART_COUNT", "") or 0),
        "time": rfc3339_now(),
    }


def membership_history(events: Iterable[Mapping[str, Any]]) -> list[Membership]:
    """The membership changes recorded in a run's ``events``, in order."""
    return [
        Membership(
            global_step=int(event["global_step"]),
            nodes=int(event["nodes"]),
            world_size=int(event["world_size"]),
        )
        for event in events
        if event.get("type") == MEMBERSHIP_EVENT
    ]


def changed(history: list[Membership], member: Membership) -> bool:
    """Whether ``member`` is a change to record: the first, or another group than the last."""
    if not history:
        return True
    last = history[-1]
    return (last.nodes, last.world_size) != (member.nodes, member.world_size)

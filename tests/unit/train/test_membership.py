"""The membership history of an elastic job: what a worker group records, and reading it back."""

from __future__ import annotations

import pytest

from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import record_membership
from trainpipe.train.membership import (
    Membership,
    changed,
    current_membership,
    membership_event,
    membership_history,
)
from trainpipe.train.state import TrainState

pytestmark = pytest.mark.unit


def test_the_node_count_comes_from_torchrun_or_the_processes_per_node() -> None:
    env = {"GROUP_WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "2"}
    assert current_membership(6, 40, env) == Membership(global_step=40, nodes=3, world_size=6)
    assert current_membership(4, 0, {"LOCAL_WORLD_SIZE": "2"}).nodes == 2
    assert current_membership(1, 0, {}).nodes == 1


def test_events_round_trip_and_other_events_are_ignored() -> None:
    member = Membership(global_step=51, nodes=2, world_size=4)
    event = membership_event(member, epoch=2, environ={"TORCHELASTIC_RESTART_COUNT": "1"})
    assert event["type"] == "membership" and event["restart"] == 1 and event["epoch"] == 2
    anomaly = {"type": "anomaly", "kind": "plateau", "global_step": 3}
    assert membership_history([anomaly, event]) == [member]


def test_only_a_changed_group_is_recorded() -> None:
    two, one = Membership(0, 2, 2), Membership(40, 1, 1)
    assert changed([], two)
    assert not changed([two], Membership(30, 2, 2)), "a restart on the same nodes"
    assert changed([two], one)


def test_rank_zero_records_a_changed_group_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    state = TrainState(global_step=40, epoch=2)
    state.events.append(membership_event(Membership(0, 2, 2), epoch=0))
    lines: list[str] = []
    record_membership(state, DistContext(), log=lines.append)
    assert membership_history(state.events) == [Membership(0, 2, 2), Membership(40, 1, 1)]
    assert lines == [
        "[trainpipe] membership changed: 1 node(s), 1 process(es) train from global step 40 "
        "(were 2 node(s), 2 process(es))"
    ]
    record_membership(state, DistContext(), log=lines.append)
    assert len(membership_history(state.events)) == 2 and len(lines) == 1
    other_rank = TrainState()
    record_membership(other_rank, DistContext(rank=1, world_size=2), log=lines.append)
    assert other_rank.events == []


def test_an_elastic_group_s_workers_build_no_store_on_the_agent_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from trainpipe.train import distributed

    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")
    # Each rendezvous round has its own store, served by rank 0 (init_process_group's env://).
    assert distributed._restart_store(timedelta(seconds=1)) is None

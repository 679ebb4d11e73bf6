"""An elastic local job (``job.elastic_min_nodes=1``, ``job.elastic_max_nodes=2``) that loses a
node: node 1 is SIGKILLed whole (agent and worker) after the second epoch. Node 0 goes on alone
from the newest checkpoint; the backend starts node 1 again a few seconds later, as a kubelet
restarts a pod, and the group grows back to two nodes. The job finishes, its events record the
membership (2 nodes, then 1, then 2, with the global step of each change), and replaying that
history as fixed-size stretches gives the same weights bit for bit.

A stall drill holds node 0's lone worker for a while after it resumed, so node 1 is back while
that worker still trains alone (without it, on a fast machine, the lone stretch could end
before it began); a stall changes no weight.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from training_jobs import (
    TWO_NODE_DRILL,
    assert_bit_identical,
    watch_and_kill,
    weights,
    write_spec,
)
from trainpipe.config import load_config
from trainpipe.launch.elastic import replay_membership
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.spec import job_spec_from_config
from trainpipe.train.faults import INJECT_STALL_ENV, INJECT_STALL_SECONDS_ENV
from trainpipe.train.membership import membership_history

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
EPOCHS = 6
OVERRIDES = [
    f"train.epochs={EPOCHS}",
    *TWO_NODE_DRILL,
    "job.elastic_min_nodes=1",
    "job.elastic_max_nodes=2",
    "job.max_restarts=3",
    "train.timeout_seconds=120",
]
STALL_AT_STEP = 50
"""In epoch 3 (20 steps an epoch): after node 1's loss, node 0 trains alone to here and stalls."""


def test_an_elastic_job_shrinks_grows_back_and_replays_bit_identically(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    config = load_config(CONFIG, OVERRIDES)
    out = tmp_path / "elastic"
    spec_path = write_spec(digits_splits, out, config)
    job = job_spec_from_config(
        config,
        name="elastic-drill",
        args=["--spec", str(spec_path)],
        env={INJECT_STALL_ENV: str(STALL_AT_STEP), INJECT_STALL_SECONDS_ENV: "12"},
    )
    killed: list[int] = []
    watch = watch_and_kill(job.name, 1, f"epoch 2/{EPOCHS}", 0.0, killed)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        watch(line)

    result = LocalJobBackend(node_restart_delay=9.0).run(job, log=log)
    shown = "\n".join(lines[-60:])
    assert result.succeeded, shown
    assert killed and killed[0] >= 2, "node 1's agent and worker were not found"
    assert result.attempts == 1, "an elastic job goes on without a restart of the whole job"
    assert any("node 1 lost" in line for line in lines), shown
    assert any("node 1 is back" in line for line in lines), shown

    events = json.loads((out / "metrics.json").read_text())["events"]
    history = membership_history(events)
    assert [(m.nodes, m.world_size) for m in history] == [(2, 2), (1, 1), (2, 2)], events
    start, shrunk, grown = (m.global_step for m in history)
    assert start == 0 < shrunk < grown <= STALL_AT_STEP + 2, history
    assert any("membership changed: 1 node(s)" in line for line in lines), shown

    replayed = tmp_path / "replayed"
    replay_spec = write_spec(digits_splits, replayed, config)
    again = dataclasses.replace(
        job, name="elastic-replay", args=["--spec", str(replay_spec)], env={}
    )
    replay_lines: list[str] = []
    final = replay_membership(LocalJobBackend(), again, history, log=replay_lines.append)
    assert final.succeeded, "\n".join(replay_lines[-40:])
    assert_bit_identical(weights(replayed), weights(out))
    replay_events = json.loads((replayed / "metrics.json").read_text())["events"]
    assert membership_history(replay_events) == history

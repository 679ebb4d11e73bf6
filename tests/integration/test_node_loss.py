"""A lost node: in a 2-node local job (one torchrun agent and its worker per node), a node is
SIGKILLed whole, agent and workers together as a node loss takes a pod: node 1 at a random moment
after the first epoch (within epochs 2 to 7), node 1 while the agents start and meet at the
rendezvous, and node 0 (the rendezvous host, and rank 0, which writes the checkpoints) as an
epoch's checkpoint is being written. Each time the job is restarted (the restart policy's retry
of a signal), rendezvous forms again, training resumes from the newest checkpoint and ends
bit-identical to an uninterrupted run. One kill of each in a normal test run;
``TRAINPIPE_NODE_LOSS_TRIALS=10`` runs each drill ten times at other moments and prints the count.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

from training_jobs import (
    TWO_NODE_DRILL,
    assert_bit_identical,
    run_job,
    watch_and_kill,
    weights,
    write_spec,
)
from trainpipe.config import load_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
EPOCHS = 10
OVERRIDES = [f"train.epochs={EPOCHS}", *TWO_NODE_DRILL]
TRIALS = int(os.environ.get("TRAINPIPE_NODE_LOSS_TRIALS", "1"))


@pytest.fixture(scope="module")
def reference(
    digits_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, torch.Tensor], float]:
    """The uninterrupted job's weights, and its shortest epoch in seconds."""
    config = load_config(CONFIG, OVERRIDES)
    out = tmp_path_factory.mktemp("node-loss") / "reference"
    run_job(config, write_spec(digits_splits, out, config))
    history = json.loads((out / "metrics.json").read_text())["history"]
    return weights(out), min(row["seconds"] for row in history)


@pytest.mark.parametrize("moment", ["after an epoch", "during rendezvous", "during a checkpoint"])
def test_a_lost_node_recovers_bit_identically(
    digits_splits: dict[str, str],
    reference: tuple[dict[str, torch.Tensor], float],
    tmp_path: Path,
    moment: str,
) -> None:
    expected, epoch_seconds = reference
    config = load_config(CONFIG, OVERRIDES)
    rng = random.Random(f"20261207 {moment}")
    recovered = 0
    for trial in range(TRIALS):
        out = tmp_path / f"trial-{trial}"
        spec_path = write_spec(digits_splits, out, config)
        job = f"ft-{spec_path.stem}"  # run_job's job name
        epoch = rng.randint(1, 6)
        if moment == "after an epoch":  # at a random point of the epoch after ``epoch``
            node, trigger, delay = 1, f"epoch {epoch}/{EPOCHS}", rng.uniform(0, epoch_seconds)
        elif moment == "during rendezvous":  # the agents import torch and meet
            node, trigger, delay = 1, "", rng.uniform(0.0, 1.0)
        else:  # the epoch's checkpoint was handed to rank 0's writer as the line was logged
            node, trigger, delay = 0, f"epoch {epoch}/{EPOCHS}", 0.0
        killed: list[int] = []
        watch = watch_and_kill(job, node, trigger, delay, killed)
        lines = run_job(config, spec_path, on_line=watch)
        assert killed and killed[0] >= 1, f"node {node} was not found"
        restarts = [line for line in lines if "restarting the job after exit codes" in line]
        assert restarts, "\n".join(lines[-30:])
        assert_bit_identical(weights(out), expected)
        recovered += 1
        print(f"{moment}, trial {trial + 1}: node {node} killed ({killed[0]} processes) "
              f"{delay:.2f}s after {trigger or 'the start'!r}, recovered")  # fmt: skip
    print(f"node loss drill, {moment}: {recovered}/{TRIALS} recovered bit-identically")

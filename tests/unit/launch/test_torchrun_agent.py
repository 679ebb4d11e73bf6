"""The torchrun agent exits with its workers' verdict, and the entrypoint with a retryable code
when a peer was lost: what a pod's ``ExitCode`` restart policy and the local backend decide on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from trainpipe.launch.diagnose import diagnose_failure, retryable
from trainpipe.launch.torchrun_agent import agent_exit_code, shell_code
from trainpipe.train.guards import RETRYABLE_EXIT_CODE
from trainpipe.train.lost_peer import LOST_PEER_EXIT_CODE, lost_peer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("workers", "agent"),
    [
        ([1, -15], 143),  # one failed on its own, the agent stopped the other: retryable
        ([-9], 137),  # SIGKILL: a lost node, an OOM kill
        ([RETRYABLE_EXIT_CODE, 0], 143),  # a preemption's checkpoint and exit
        ([1, 1], 1),  # a config, data or code error: not retried
        ([LOST_PEER_EXIT_CODE, 1], LOST_PEER_EXIT_CODE),
        ([], 1),
    ],
)
def test_the_agent_exits_with_the_workers_verdict(workers: list[int], agent: int) -> None:
    assert agent_exit_code(workers) == agent
    assert retryable([agent]) == (agent >= 128)


def test_a_signal_reads_as_a_shell_reports_it() -> None:
    assert [shell_code(c) for c in (-9, -15, 0, 1, 143)] == [137, 143, 0, 1, 143]


def test_collectives_that_lost_a_peer_are_told_from_other_errors() -> None:
    gloo = RuntimeError(
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:43956: "
        "Connection reset by peer."
    )
    assert lost_peer(gloo)
    assert lost_peer(dist.DistBackendError("NCCL communicator was aborted on rank 1"))
    wrapped = ValueError("while reducing")
    wrapped.__cause__ = gloo
    assert lost_peer(wrapped)
    assert not lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not lost_peer(ValueError("train.batch_size must be >= 1"))


def test_a_lost_peer_is_diagnosed_as_such() -> None:
    found = diagnose_failure([LOST_PEER_EXIT_CODE], [])
    assert found.kind == "lost_peer" and "newest checkpoint" in found.action


def test_a_failed_worker_makes_the_agent_exit_with_its_code(tmp_path: Path) -> None:
    """A real torchrun under the agent: a worker that exits 3 makes the agent exit 3, one
    killed by SIGKILL makes it exit 137 (torchrun alone exits 1 for both)."""
    for body, expected in (("sys.exit(3)", 3), ("os.kill(os.getpid(), signal.SIGKILL)", 137)):
        script = tmp_path / "worker.py"
        script.write_text(f"import os, signal, sys\n{body}\n")
        done = subprocess.run(
            [sys.executable, "-m", "trainpipe.launch.torchrun_agent", "--nproc-per-node", "1",
             "--max-restarts", "0", str(script)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == expected, done.stderr[-2000:]
        assert f"the agent exits {expected}" in done.stderr

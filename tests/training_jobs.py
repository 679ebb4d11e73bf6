"""Training jobs for integration tests: write a spec, run it as a local torchrun job, find its
workers, compare the weights it wrote."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import torch
from safetensors.torch import load_file

from trainpipe.config import RunConfig
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.spec import job_spec_from_config
from trainpipe.train.spec import TrainSpec

WITHOUT_SANITY_CHECKS = ["train.sanity_checks=false", "evaluate.require_beat_baseline=false"]
"""Overrides for a job whose point is not the sanity checks: rank 0 runs them before the first
step (scikit-learn's import, a linear fit, a one-batch overfit) while the other ranks wait. Their
own tests and the pipeline runs cover them."""
TWO_NODE_DRILL = [
    "train.nnodes=2",
    "train.nproc_per_node=1",
    "train.checkpoint_every_steps=5",
    "train.timeout_seconds=300",
    *WITHOUT_SANITY_CHECKS,
]
"""A 2-node local job of one process a node that checkpoints every 5 steps: the node drills'."""


def write_spec(splits: dict[str, str], out: Path, config: RunConfig) -> Path:
    """The job's spec file beside ``out`` (the model output), training on ``splits``."""
    path = out.parent / f"{out.name}-spec.json"
    spec = TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out),
    )
    path.write_text(spec.to_json())
    return path


def run_job(
    config: RunConfig,
    spec_path: Path,
    *,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Run the spec as a local torchrun job (``config``'s topology); its log lines. It must
    succeed."""
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    job = job_spec_from_config(
        config, name=f"ft-{spec_path.stem}", args=["--spec", str(spec_path)], env=env or {}
    )
    result = LocalJobBackend().run(job, log=log)
    assert result.succeeded, "\n".join(lines[-40:])
    return lines


def weights(out: Path) -> dict[str, torch.Tensor]:
    """The weights a job wrote to ``out``."""
    return load_file(str(out / "model.safetensors"))


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """The same tensors under the same names, bit for bit."""
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def worker_pids(spec_path: Path) -> list[int]:
    """The training workers of one job, found by their command line: not the torchrun agents,
    nor the processes a worker starts."""
    pids: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(spec_path).encode() in cmdline and b"trainpipe.launch.torchrun_agent" not in cmdline:
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            pids[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return sorted(pid for pid, parent in pids.items() if parent not in pids)


def kill_a_worker_after(spec_path: Path, marker: str, killed: list[float]) -> Callable[[str], None]:
    """A log handler for :func:`run_job`: at the first line holding ``marker`` (an epoch line),
    SIGKILL the job's newest training worker 50 ms later (into the next epoch, between
    checkpoints) and append the time it did to ``killed``."""

    started: list[bool] = []

    def on_line(line: str) -> None:
        if marker not in line or started:
            return
        started.append(True)

        def kill() -> None:
            time.sleep(0.05)
            os.kill(max(worker_pids(spec_path)), signal.SIGKILL)
            killed.append(time.monotonic())

        threading.Thread(target=kill, daemon=True).start()

    return on_line


def node_processes(job: str, node: int) -> list[psutil.Process]:
    """Every process of one node of a local job: its torchrun agent (found by the node's
    rendezvous environment) and all it started, its workers and theirs."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if "trainpipe.launch.torchrun_agent" not in (proc.info["cmdline"] or []):
                continue
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("PET_RDZV_ID") == job and env.get("PET_NODE_RANK") == str(node):
            found += [proc, *proc.children(recursive=True)]
    return found


def kill_node(job: str, node: int) -> int:
    """SIGKILL the node's processes at once; how many there were."""
    victims = node_processes(job, node)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    return len(victims)


def watch_and_kill(
    job: str, node: int, trigger: str, delay: float, killed: list[int]
) -> Callable[[str], None]:
    """A log watcher that kills ``node`` ``delay`` seconds after the first line holding
    ``trigger`` (an empty trigger: the job's first line, while the agents start); it appends to
    ``killed`` how many processes that took."""
    armed: list[bool] = []

    def on_line(line: str) -> None:
        if trigger in line and not armed:
            armed.append(True)

            def kill() -> None:
                time.sleep(delay)
                killed.append(kill_node(job, node))

            threading.Thread(target=kill, daemon=True).start()

    return on_line

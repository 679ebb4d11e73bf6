"""Training survives a killed worker, preemption (SIGTERM) and a non-finite loss.

Every test compares against an uninterrupted run of the same config: the recovered run must end
with bit-identical weights, because data order, dropout and the learning rate are functions of
(seed, epoch, step, rank) and checkpoints restore everything else.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training_jobs import (
    WITHOUT_SANITY_CHECKS,
    assert_bit_identical,
    kill_a_worker_after,
    run_job,
    weights,
    worker_pids,
    write_spec,
)
from trainpipe.config import load_config
from trainpipe.launch.diagnose import diagnose_result
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.spec import job_spec_from_config
from trainpipe.train.faults import INJECT_NAN_ENV, INJECT_OOM_ENV, INJECT_OOM_PHASE_ENV
from trainpipe.train.guards import RETRYABLE_EXIT_CODE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
OVERRIDES = [
    "train.epochs=6",
    "train.nproc_per_node=2",
    "train.checkpoint_every_steps=7",
    *WITHOUT_SANITY_CHECKS,
]


@pytest.fixture(scope="module")
def reference(digits_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted 2-process run (with dropout) that every recovery is compared with."""
    out = tmp_path_factory.mktemp("reference") / "model"
    config = load_config(CONFIG, OVERRIDES)
    run_job(config, write_spec(digits_splits, out, config))
    return {"weights": weights(out), "metrics": json.loads((out / "metrics.json").read_text())}


def test_sigkill_of_a_worker_recovers_bit_identically(
    digits_splits: dict[str, str], reference: dict, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    config = load_config(CONFIG, OVERRIDES)
    spec_path = write_spec(digits_splits, out, config)
    killed: list[float] = []
    resumed: dict[str, float] = {}
    kill = kill_a_worker_after(spec_path, "epoch 2/6", killed)  # into epoch 3

    def on_line(line: str) -> None:
        kill(line)
        if "resumed from checkpoint" in line and killed and not resumed:
            resumed["at"] = time.monotonic()

    lines = run_job(config, spec_path, on_line=on_line)
    assert killed, "the worker was never killed"
    assert resumed, "\n".join(lines[-30:])
    restarts = [line for line in lines if "restarting the job after exit codes" in line]
    assert len(restarts) == 1 and "137" in restarts[0], restarts  # the worker's SIGKILL
    recovery = resumed["at"] - killed[0]
    print(f"recovery time (SIGKILL -> resumed from checkpoint): {recovery:.2f}s")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_step"] > 0
    assert_bit_identical(weights(out), reference["weights"])


def test_sigterm_checkpoints_and_exits_retryably(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    config = load_config(
        CONFIG, ["train.epochs=4", "train.nproc_per_node=1", *WITHOUT_SANITY_CHECKS]
    )
    spec_path = write_spec(digits_splits, out, config)
    command = [sys.executable, "-m", "trainpipe.train", "--spec", str(spec_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:
        output.append(line)
        if "epoch 1/4" in line:
            time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            break
    output += proc.stdout.readlines()
    assert proc.wait(timeout=60) == RETRYABLE_EXIT_CODE, "".join(output)
    assert any("preempted" in line for line in output)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints and not (out / "model.safetensors").exists()

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed from checkpoint" in again.stdout

    fresh = tmp_path / "fresh"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainpipe.train",
            "--spec",
            str(write_spec(digits_splits, fresh, config)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_bit_identical(weights(out), weights(fresh))


def test_non_finite_loss_rolls_back_and_finishes(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    config = load_config(CONFIG, OVERRIDES)
    lines = run_job(config, write_spec(digits_splits, out, config), env={INJECT_NAN_ENV: "38"})
    metrics = json.loads((out / "metrics.json").read_text())
    (event,) = [e for e in metrics["events"] if e["type"] == "non_finite"]
    assert event["type"] == "non_finite" and event["action"] == "rollback"
    # ...and every rank reported the episode as a non_finite anomaly (monitoring contract).
    anomalies = [e for e in metrics["events"] if e["type"] == "anomaly"]
    assert sorted(e["rank"] for e in anomalies if e["kind"] == "non_finite") == list(
        range(metrics["world_size"])
    )
    assert event["global_step"] == 38 and event["resumed_at_step"] == 35
    assert event["lr_scale"] == 0.5
    assert len(metrics["history"]) == 6
    assert metrics["final"]["val_accuracy"] > 0.8  # still learning, at half the learning rate
    assert any("rolled back to step 35" in line for line in lines)


@pytest.mark.parametrize("phase", ["backward", "optimizer"])
def test_out_of_memory_in_each_part_of_a_step_backs_off(
    phase: str, digits_splits: dict[str, str], reference: dict, tmp_path: Path
) -> None:
    """Rank 0 runs out of memory in the reducing backward or in the optimizer step; the other
    rank never waits in a collective for it, and the run ends near the uninterrupted one (the
    forward pass's drill runs in one process in the unit tests)."""
    out = tmp_path / "model"
    config = load_config(CONFIG, OVERRIDES)
    env = {INJECT_OOM_ENV: "25", INJECT_OOM_PHASE_ENV: phase}
    lines = run_job(config, write_spec(digits_splits, out, config), env=env)
    metrics = json.loads((out / "metrics.json").read_text())
    (event,) = [e for e in metrics["events"] if e["type"] == "out_of_memory"]
    assert event["global_step"] == 25
    if phase == "backward":
        assert event["micro_batches"] == 2
        assert any("retrying with 2 micro-batches" in line for line in lines)
    else:
        assert event["action"] == "optimizer_per_parameter" and event["resumed_at_step"] == 21
        assert any("back to step 21, updating one parameter at a time" in line for line in lines)
    # Same global batch, same data, same dropout: only the summation order differs.
    for name, tensor in reference["weights"].items():
        torch.testing.assert_close(weights(out)[name], tensor, rtol=0, atol=1e-3)


USER_CODE = Path(__file__).resolve().parents[1] / "user_code"
USER_LOOP = [
    "train.epochs=4",
    "train.nproc_per_node=2",
    "train.checkpoint_every_steps=7",
    "train.entrypoint=digits_net.loop:train",
    *WITHOUT_SANITY_CHECKS,
]


def test_sigkill_of_a_user_loop_recovers_bit_identically(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    """``train.entrypoint``: the user's loop, using the context's loaders and checkpoints,
    killed between two checkpoints in the middle of an epoch, ends where an uninterrupted run
    of it does."""
    config = load_config(CONFIG, USER_LOOP)
    env = {"PYTHONPATH": str(USER_CODE)}  # the torchrun ranks import digits_net
    straight = tmp_path / "straight"
    run_job(config, write_spec(digits_splits, straight, config), env=env)
    out = tmp_path / "model"
    spec_path = write_spec(digits_splits, out, config)
    killed: list[float] = []
    on_line = kill_a_worker_after(spec_path, "epoch 2/4", killed)  # into epoch 3
    lines = run_job(config, spec_path, on_line=on_line, env=env)
    assert killed, "the worker was never killed"
    resumed = [line for line in lines if "resumed from checkpoint at epoch 3" in line]
    assert resumed, "\n".join(lines[-30:])
    print(resumed[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == 2 and metrics["resumed_from_step"] >= 40
    assert [row["epoch"] for row in metrics["history"]] == [1.0, 2.0, 3.0, 4.0]
    assert_bit_identical(weights(out), weights(straight))


def test_a_sigkilled_worker_past_its_restarts_is_diagnosed_killed_not_unknown(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    """The agent exits with its worker's SIGKILL as a shell reports it (137; torchrun alone
    exits 1), and with no sign of memory (no rise in the cgroup's OOM kills) the class is
    ``killed``, not ``host_oom``."""
    out = tmp_path / "model"
    overrides = ["train.epochs=4", "train.nproc_per_node=1", "job.max_restarts=0"]
    config = load_config(CONFIG, [*overrides, *WITHOUT_SANITY_CHECKS])
    spec_path = write_spec(digits_splits, out, config)
    job = job_spec_from_config(config, name="ft-killed", args=["--spec", str(spec_path)])
    killed: list[int] = []

    def on_line(line: str) -> None:
        if "epoch 1/4" in line and not killed:
            (victim,) = worker_pids(spec_path)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = LocalJobBackend().run(job, log=on_line)
    assert killed and not result.succeeded
    assert result.exit_codes == [137]  # the agent's: its worker's verdict
    diagnosis = diagnose_result(result)
    assert (diagnosis.kind, diagnosis.evidence) == ("killed", "exit code 137"), result.log_tail
    assert "out of memory or an outside kill" in diagnosis.action


def test_a_config_error_fails_once_not_once_per_restart(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    """A deterministic failure (exit 1) is not retried, whatever ``job.max_restarts`` allows."""
    config = load_config(CONFIG, ["train.nproc_per_node=1", "job.max_restarts=3"])
    missing = {**digits_splits, "train": str(tmp_path / "no-such-split")}
    spec_path = write_spec(missing, tmp_path / "model", config)
    job = job_spec_from_config(config, name="ft-config", args=["--spec", str(spec_path)])
    lines: list[str] = []
    result = LocalJobBackend().run(job, log=lines.append)
    assert not result.succeeded and result.attempts == 1
    assert any("is not restarted: exit codes [1" in line for line in lines), lines[-20:]
    assert diagnose_result(result).kind == "user_error"

"""Unit tests for trainpipe.launch: job names, pod environment, the local torchrun backend."""

from __future__ import annotations

import os
import re
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainpipe.errors import LaunchError, TrainingError
from trainpipe.launch.local import LocalJobBackend, pod_environment
from trainpipe.launch.spec import JobSpec, job_name

pytestmark = pytest.mark.unit

DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --- job names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        ("run-1", "train"),
        ("Run_ABC", "Train Step"),
        ("a" * 200,),
        ("-leading", "trailing-"),
        ("___", "!!!"),
        ("",),
        ("ünïcödé", "日本"),
        ("x" * 29 + "-" + "y" * 40,),
        ("UPPER.CASE/with/slashes",),
    ],
)
def test_job_name_is_dns_1123(parts: tuple[str, ...]) -> None:
    name = job_name(*parts)
    assert DNS_1123.match(name), name
    assert len(name) <= 63
    assert name.startswith("trainpipe-")
    assert job_name(*parts) == name  # deterministic


def test_job_name_is_readable_and_distinct() -> None:
    name = job_name("Run_42", "train")
    assert re.fullmatch(r"trainpipe-run-42-train-[0-9a-f]{10}", name)
    assert job_name("run-42", "train") != name  # same readable part, different ids
    assert job_name("run-42", "tune") != job_name("run-42", "train")
    assert job_name("x", prefix="tp").startswith("tp-x-")
    assert re.fullmatch(r"trainpipe-[0-9a-f]{10}", job_name("___"))


# --- the pod environment ---------------------------------------------------------------------


def test_pod_environment() -> None:
    spec = JobSpec(name="j", args=[], nnodes=3, nproc_per_node=4, env={"EXTRA": "1"})
    env = pod_environment(spec, 2, "10.0.0.1", 29400)
    assert env["MASTER_ADDR"] == "10.0.0.1"
    assert env["MASTER_PORT"] == "29400"
    assert env["WORLD_SIZE"] == "3"  # pods, as the training operator sets it
    assert env["RANK"] == "2"
    assert env["PET_MASTER_ADDR"] == "10.0.0.1"
    assert env["PET_MASTER_PORT"] == "29400"
    assert env["PET_NNODES"] == "3"
    assert env["PET_NODE_RANK"] == "2"
    assert env["PET_NPROC_PER_NODE"] == "4"
    assert env["EXTRA"] == "1"
    assert all(isinstance(v, str) for v in env.values())


def test_pod_environment_spec_env_wins() -> None:
    spec = JobSpec(name="j", args=[], env={"MASTER_PORT": "1"})
    assert pod_environment(spec, 0, "127.0.0.1", 5000)["MASTER_PORT"] == "1"


def test_job_spec_validation() -> None:
    assert JobSpec(name="j", args=[], nnodes=2, nproc_per_node=3).world_size == 6
    with pytest.raises(LaunchError, match="nnodes and nproc_per_node must be >= 1"):
        JobSpec(name="j", args=[], nnodes=0)
    with pytest.raises(LaunchError, match="nproc_per_node=0"):
        JobSpec(name="j", args=[], nproc_per_node=0)
    with pytest.raises(LaunchError, match="timeout_seconds"):
        JobSpec(name="j", args=[], timeout_seconds=0)


# --- the local backend (real torchrun processes) ---------------------------------------------

WORKER = """
import os
import sys
import time

mode = sys.argv[1]
rank = os.environ["RANK"]
print(
    f"WORKER rank={rank} world={os.environ['WORLD_SIZE']} local={os.environ['LOCAL_RANK']} "
    f"args={sys.argv[1:]}",
    flush=True,
)
if mode == "fail":
    print("trainpipe.errors.TrainingError: boom", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "sleep":
    with open(os.path.join(os.environ["PIDS_DIR"], f"{rank}-{os.getpid()}"), "w") as f:
        f.write("")
    # Let go of the log pipe so a stray sleeper cannot hold the backend's log reader open.
    sys.stdout.flush()
    os.close(1)
    os.close(2)
    time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def worker_module(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A tiny worker module on PYTHONPATH; yields the env a JobSpec needs to import it."""
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "tp_probe_worker.py").write_text(textwrap.dedent(WORKER), encoding="utf-8")
    pids = tmp_path / "pids"
    pids.mkdir()
    yield {
        "PYTHONPATH": os.pathsep.join([str(module_dir), os.environ.get("PYTHONPATH", "")]),
        "PIDS_DIR": str(pids),
        "OMP_NUM_THREADS": "1",
    }
    # Never leave a sleeping worker behind, whatever the backend did.
    for entry in pids.iterdir():
        pid = int(entry.name.split("-")[1])
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def probe_spec(env: dict[str, str], *args: str, **kw: int) -> JobSpec:
    return JobSpec(name="probe", args=list(args), env=env, module="tp_probe_worker", **kw)


@pytest.mark.integration
def test_local_backend_runs_every_rank(worker_module: dict[str, str]) -> None:
    lines: list[str] = []
    spec = probe_spec(
        worker_module, "ok", "--flag", nnodes=2, nproc_per_node=1, timeout_seconds=120
    )
    result = LocalJobBackend().run(spec, log=lines.append)
    assert result.succeeded, lines
    assert result.exit_codes == [0, 0]
    assert result.error == ""
    assert result.name == "probe"
    assert result.seconds > 0
    found = {}
    for line in lines:
        match = re.search(
            r"^\[node (\d)\] .*WORKER rank=(\d) world=(\d) local=(\d) args=(.*)$", line
        )
        if match:
            node, rank, world, local, args = match.groups()
            found[int(rank)] = (int(node), int(world), int(local), args)
    assert sorted(found) == [0, 1], lines
    assert {v[1] for v in found.values()} == {2}
    assert {v[2] for v in found.values()} == {0}
    assert {v[0] for v in found.values()} == {0, 1}  # one rank per node
    assert {v[3] for v in found.values()} == {"['ok', '--flag']"}


@pytest.mark.integration
def test_local_backend_reports_a_failing_worker(worker_module: dict[str, str]) -> None:
    lines: list[str] = []
    spec = probe_spec(worker_module, "fail", nnodes=1, nproc_per_node=1, timeout_seconds=120)
    result = LocalJobBackend().run(spec, log=lines.append)
    assert not result.succeeded
    assert result.exit_codes != [0]
    assert all(code != 0 for code in result.exit_codes)
    assert "boom" in result.error
    assert result.error.startswith("TrainingError")
    assert any("[node 0]" in line and "boom" in line for line in lines)


@pytest.mark.integration
def test_local_backend_times_out(worker_module: dict[str, str]) -> None:
    spec = probe_spec(worker_module, "sleep", "30", nnodes=1, nproc_per_node=1, timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(TrainingError) as info:
        LocalJobBackend().run(spec, log=lambda line: None)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert "did not finish" in message
    assert "train.timeout_seconds=2" in message
    assert "probe" in message
    assert 2 <= elapsed < 10


@pytest.mark.integration
def test_timed_out_job_leaves_no_worker_behind(
    worker_module: dict[str, str], tmp_path: Path
) -> None:
    spec = probe_spec(worker_module, "sleep", "30", nnodes=1, nproc_per_node=1, timeout_seconds=4)
    with pytest.raises(TrainingError, match="did not finish"):
        LocalJobBackend().run(spec, log=lambda line: None)
    pids = [int(p.name.split("-")[1]) for p in (tmp_path / "pids").iterdir()]
    assert pids, "the worker never started within the timeout"
    deadline = time.monotonic() + 0.5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Killing only the torchrun agent (SIGKILL) orphans the workers it started.
    assert not any(_alive(pid) for pid in pids), "a training worker outlived the timed-out job"

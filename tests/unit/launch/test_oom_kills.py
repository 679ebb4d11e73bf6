"""The local evidence of an OOM kill: the memory cgroup's ``oom_kill`` count, v1 and v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainpipe.launch.oom_kills import oom_kill_count, oom_kill_evidence

pytestmark = pytest.mark.unit


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cgroup_v2_memory_events(tmp_path: Path) -> None:
    proc = write(tmp_path / "proc", "0::/kubepods/pod1/trainer\n")
    events = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n"
    write(tmp_path / "cg" / "kubepods/pod1/trainer/memory.events", events)
    assert oom_kill_count(tmp_path / "cg", proc) == 2


def test_cgroup_v1_oom_control_and_a_namespaced_root(tmp_path: Path) -> None:
    proc = write(tmp_path / "proc", "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n")
    write(
        tmp_path / "cg" / "memory/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
    )
    assert oom_kill_count(tmp_path / "cg", proc) == 7  # the container sees its cgroup at the root


def test_no_cgroup_says_nothing(tmp_path: Path) -> None:
    assert oom_kill_count(tmp_path / "cg", tmp_path / "missing") is None
    assert oom_kill_evidence(None, 3) == [] and oom_kill_evidence(2, 2) == []
    (line,) = oom_kill_evidence(2, 3)
    assert "OOM killer killed 1 process" in line and "oom_kill 2 -> 3" in line

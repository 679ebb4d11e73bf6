"""The kernel's count of out-of-memory kills in this process's memory cgroup: the local
evidence that tells an OOM kill from another SIGKILL.

cgroup v2 keeps it as ``oom_kill`` in ``memory.events``, cgroup v1 in ``memory.oom_control``
(kernels since 4.13). A container sees its own cgroup either at the path ``/proc/self/cgroup``
names under the mount or, with a cgroup namespace, at the mount's root; both are tried.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def oom_kill_count(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """OOM kills so far in this process's memory cgroup, or None where the kernel does not say."""
    for path in _candidates(root, proc_cgroup):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def _candidates(root: Path, proc_cgroup: Path) -> list[Path]:
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    found: list[Path] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        relative = path.strip().lstrip("/")
        if controllers == "":  # v2: one unified hierarchy
            found += [root / relative / "memory.events", root / "memory.events"]
        elif "memory" in controllers.split(","):
            found += [
                root / "memory" / relative / "memory.oom_control",
                root / "memory" / "memory.oom_control",
            ]
    return found


def oom_kill_evidence(before: int | None, after: int | None) -> list[str]:
    """A reason line for the failure diagnosis when the count rose during a job, else none."""
    if before is None or after is None or after <= before:
        return []
    return [
        f"the kernel's OOM killer killed {after - before} process(es) in this machine's memory "
        f"cgroup during the job (oom_kill {before} -> {after})"
    ]

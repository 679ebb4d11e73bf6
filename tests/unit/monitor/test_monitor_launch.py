"""What the launchers do for monitoring: metrics ports and labels on pods, port offsets locally."""

from __future__ import annotations

import sys

import pytest

from trainpipe.config import RunConfig
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.render import METRICS_PORT_NAME, TRAINING_POD_LABELS, render_pytorchjob
from trainpipe.launch.spec import JobSpec, job_spec_from_config
from trainpipe.monitor.training import PORT_OFFSET_ENV

pytestmark = pytest.mark.unit


def test_training_pods_declare_a_metrics_port_per_local_rank() -> None:
    config = RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "train": {"nproc_per_node": 3, "nnodes": 2, "batch_size": 60, "metrics_port": 9500},
        }
    )
    spec = job_spec_from_config(config, name="trainpipe-r-train-0123456789", args=[])
    assert spec.metrics_port == 9500
    job = render_pytorchjob(spec)
    for replica in ("Master", "Worker"):
        template = job["spec"]["pytorchReplicaSpecs"][replica]["template"]
        (container,) = template["spec"]["containers"]
        metrics = [p for p in container["ports"] if p["name"].startswith(METRICS_PORT_NAME)]
        assert metrics == [
            {"name": "metrics", "containerPort": 9500, "protocol": "TCP"},
            {"name": "metrics-1", "containerPort": 9501, "protocol": "TCP"},
            {"name": "metrics-2", "containerPort": 9502, "protocol": "TCP"},
        ]
        labels = template["metadata"]["labels"]
        assert labels.items() >= TRAINING_POD_LABELS.items()
        assert labels["app.kubernetes.io/part-of"] == "trainpipe"


def test_metrics_port_zero_declares_no_port() -> None:
    job = render_pytorchjob(JobSpec(name="trainpipe-bare-0123456789", args=[], image="img"))
    (container,) = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
    assert [p["name"] for p in container["ports"]] == ["pytorchjob-port"]


class EnvEcho(LocalJobBackend):
    """Runs a one-liner instead of torchrun: each "node" prints its metrics port offset."""

    def command(self, spec: JobSpec) -> list[str]:
        return [
            sys.executable,
            "-c",
            f"import os; print('offset', os.environ[{PORT_OFFSET_ENV!r}])",
        ]


def test_local_nodes_share_a_machine_so_their_ports_are_offset() -> None:
    lines: list[str] = []
    spec = JobSpec(name="offsets", args=[], nnodes=2, nproc_per_node=3, timeout_seconds=60)
    result = EnvEcho().run(spec, log=lines.append)
    assert result.succeeded, lines
    assert sorted(line for line in lines if "offset" in line) == [
        "[node 0] offset 0",
        "[node 1] offset 3",
    ]

"""The job backend contract over the local backend (real torchrun) and both Kubeflow kinds."""

import json
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from fake_kube import FakeKubeApi, Step
from job_backend_contract import Behaviour, Harness, JobBackendContract
from trainpipe.launch.base import JobBackend
from trainpipe.launch.local import LocalJobBackend
from trainpipe.launch.pytorchjob import KubeflowJobBackend
from trainpipe.launch.spec import JobSpec

pytestmark = pytest.mark.unit

JOB_MODULE = """
import json, os, sys, time
behaviour = json.loads(os.environ["CONTRACT_BEHAVIOUR"])
if int(os.environ.get("RANK", "0")) == 0:
    for line in behaviour["lines"]:
        print(line, flush=True)
if behaviour["hang"]:
    time.sleep(600)
sys.exit(behaviour["exit_code"])
"""


class LocalHarness(Harness):
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "contract_job.py").write_text(JOB_MODULE)

    def prepare(self, behaviour: Behaviour, *, timeout_seconds: int) -> tuple[JobBackend, JobSpec]:
        spec = JobSpec(
            name="contract-local",
            args=[],
            module="contract_job",
            nproc_per_node=2,
            timeout_seconds=timeout_seconds,
            env={
                "PYTHONPATH": str(self.root),
                "CONTRACT_BEHAVIOUR": json.dumps(behaviour.__dict__),
            },
        )
        return LocalJobBackend(python=sys.executable), spec


class KubeflowHarness(Harness):
    lead: ClassVar[dict[str, str]] = {"pytorchjob": "master-0", "trainjob": "node-0-0"}
    done: ClassVar[dict[str, str]] = {"pytorchjob": "Succeeded", "trainjob": "Complete"}

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def prepare(self, behaviour: Behaviour, *, timeout_seconds: int) -> tuple[JobBackend, JobSpec]:
        spec = JobSpec(
            name=f"contract-{self.kind}",
            args=[],
            image="ghcr.io/trainpipe/trainpipe:0.1.0-cpu",
            nnodes=2,
            timeout_seconds=timeout_seconds,
        )
        fake = FakeKubeApi()
        lead = self.lead[self.kind]
        steps = [Step("Running", logs={lead: behaviour.lines})]
        if not behaviour.hang:
            failed = behaviour.exit_code != 0
            steps += [
                Step(exit_codes={lead: behaviour.exit_code}),
                Step("Failed" if failed else self.done[self.kind], message="contract job"),
            ]
        fake.script(spec.name, steps)
        backend = KubeflowJobBackend(
            fake, kind=self.kind, clock=fake.clock, sleep=fake.clock.sleep, poll_interval=1
        )
        return backend, spec


class TestLocalBackend(JobBackendContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> Harness:
        return LocalHarness(tmp_path)


class TestPyTorchJobBackend(JobBackendContract):
    @pytest.fixture
    def harness(self) -> Harness:
        return KubeflowHarness("pytorchjob")


class TestTrainJobBackend(JobBackendContract):
    @pytest.fixture
    def harness(self) -> Harness:
        return KubeflowHarness("trainjob")

"""Failure diagnosis: each failure class is recognised from its exit code or log signature."""

import pytest

from trainpipe.launch.diagnose import diagnose_failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("codes", "lines", "reasons", "kind"),
    [
        ([143], ["[trainpipe] preempted: stopped at global step 40"], [], "preempted"),
        ([0, 143], [], [], "preempted"),
        ([137], ["Killed"], [], "host_oom"),
        ([1], [], ["OOMKilled"], "host_oom"),
        ([1], ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"], [], "cuda_oom"),
        (
            [1],
            ["torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError"],
            [],
            "rendezvous_timeout",
        ),
        (
            [1],
            ["[E] Watchdog caught collective operation timeout: WorkNCCL"],
            [],
            "rendezvous_timeout",
        ),
        (
            [1],
            ["trainpipe.errors.TrainingError: non-finite loss or gradient at epoch 3"],
            [],
            "non_finite",
        ),
        ([1], ["exec /usr/local/bin/python: exec format error"], [], "image_mismatch"),
        (
            [1],
            ["RuntimeError: CUDA error: no kernel image is available for execution"],
            [],
            "image_mismatch",
        ),
        ([1], [], ["Back-off pulling image: ErrImagePull"], "image_mismatch"),
        ([1], ["trainpipe.errors.DataError: label column 'y' not found"], [], "user_error"),
        ([1], ["ModuleNotFoundError: No module named 'trainpipe'"], [], "user_error"),
        ([3], ["something odd"], [], "unknown"),
    ],
)
def test_classes(codes: list[int], lines: list[str], reasons: list[str], kind: str) -> None:
    diagnosis = diagnose_failure(codes, lines, reasons)
    assert diagnosis.kind == kind
    assert diagnosis.action
    assert diagnosis.evidence


def test_memory_beats_the_rendezvous_noise_it_causes() -> None:
    lines = ["RendezvousConnectionError: peer went away"]
    assert diagnose_failure([137], lines).kind == "host_oom"

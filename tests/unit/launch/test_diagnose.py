"""Failure diagnosis: each failure class is recognised from its exit code or log signature."""

import pytest

from trainpipe.launch.diagnose import diagnose_failure, retryable, worker_exit_codes

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("codes", "lines", "reasons", "kind"),
    [
        ([143], ["[trainpipe] preempted: stopped at global step 40"], [], "preempted"),
        ([0, 143], [], [], "preempted"),
        ([137], ["Killed"], [], "killed"),  # SIGKILL alone: out of memory or an outside kill
        ([-9], [], [], "killed"),
        ([1], [], ["OOMKilled"], "host_oom"),
        ([137], [], ["pod train-master-0: OOMKilled"], "host_oom"),
        ([1], ["[  912.1] Out of memory: Killed process 4242 (python)"], [], "host_oom"),
        (
            [-9],
            [],
            ["the kernel's OOM killer killed 1 process(es) ... (oom_kill 0 -> 1)"],
            "host_oom",
        ),
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


def test_a_kill_beats_the_rendezvous_noise_it_causes() -> None:
    lines = ["RendezvousConnectionError: peer went away"]
    assert diagnose_failure([137], lines).kind == "killed"
    assert diagnose_failure([137], lines, ["pod x: OOMKilled"]).kind == "host_oom"


# What torchrun prints when a worker dies: the agent exits 1, the worker's code is in the report.
TORCHRUN_REPORT = """\
[node 1] torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
[node 1] ============================================================
[node 1] trainpipe.train FAILED
[node 1] ------------------------------------------------------------
[node 1] Root Cause (first observed failure):
[node 1] [0]:
[node 1]   time      : 2026-12-06_22:01:07
[node 1]   host      : runner
[node 1]   rank      : 1 (local_rank: 0)
[node 1]   exitcode  : -9 (pid: 4242)
[node 1]   error_file: <N/A>
[node 1]   traceback : Signal 9 (SIGKILL) received by PID 4242
""".splitlines()


def test_the_workers_exit_code_in_torchruns_report_is_read_not_the_agents() -> None:
    assert worker_exit_codes(TORCHRUN_REPORT) == [-9]
    diagnosis = diagnose_failure([1], TORCHRUN_REPORT)
    assert diagnosis.kind == "killed" and diagnosis.evidence == "exit code -9"
    assert "out of memory or an outside kill" in diagnosis.action
    assert "raise job.memory" in diagnosis.action and "resume" in diagnosis.action


@pytest.mark.parametrize(
    ("codes", "retry"),
    [
        ([1], False),  # a config, data or code error: a retry repeats it
        ([1, 1], False),
        ([2], False),
        ([-9, 1], True),  # a SIGKILLed worker, and its peer that lost it
        ([137], True),
        ([143], True),  # preempted after a checkpoint
        ([-15], True),
        ([139], True),  # a crash
        ([], False),
    ],
)
def test_only_a_signal_is_worth_a_retry(codes: list[int], retry: bool) -> None:
    assert retryable(codes) is retry

"""What a run sets in torch before training: TF32 matmuls and convolutions on a CUDA rank
(``train.tf32``), nothing of the kind on a CPU rank; deterministic algorithms without NaN
filling, and on CUDA the cuBLAS workspace they need."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.train.distributed import DistContext
from trainpipe.train.seeding import configure_torch

pytestmark = pytest.mark.unit


@pytest.fixture
def precisions() -> Iterator[None]:
    """Whatever a test sets is put back afterwards."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    kept = matmul.fp32_precision, conv.fp32_precision
    matmul.fp32_precision = conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = kept


def _config(**train: object) -> RunConfig:
    threads = torch.get_num_threads()  # the test process keeps its own
    return RunConfig.from_dict(
        {"data": {"source": "builtin:iris"}, "train": {"num_threads": threads, **train}}
    )


@pytest.mark.parametrize(("device", "tf32", "expected"), [
    ("cuda:0", True, "tf32"), ("cuda:0", False, "ieee"), ("cpu", True, "ieee"),
])  # fmt: skip
def test_tf32_is_on_for_a_cuda_rank_unless_the_config_says_no(
    precisions: None, device: str, tf32: bool, expected: str
) -> None:
    configure_torch(_config(tf32=tf32, deterministic=False), DistContext(device=device))
    assert torch.backends.cuda.matmul.fp32_precision == expected
    assert torch.backends.cudnn.conv.fp32_precision == expected


@pytest.fixture
def determinism() -> Iterator[None]:
    """The test process's deterministic settings are put back afterwards."""
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    kept = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(kept, warn_only=warn)
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]


def test_deterministic_runs_use_deterministic_algorithms_without_nan_filling(
    determinism: None,
) -> None:
    torch.use_deterministic_algorithms(False)
    torch.utils.deterministic.fill_uninitialized_memory = True  # type: ignore[attr-defined]
    configure_torch(_config(deterministic=True), DistContext())
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("device", "deterministic", "expected"), [
    ("cuda:0", True, ":4096:8"), ("cuda:0", False, None), ("cpu", True, None),
])  # fmt: skip
def test_a_deterministic_cuda_rank_gets_the_cublas_workspace_determinism_needs(
    precisions: None,
    determinism: None,
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    deterministic: bool,
    expected: str | None,
) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "")  # so that the test's setting is undone
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    configure_torch(_config(deterministic=deterministic), DistContext(device=device))
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == expected


def test_a_cublas_workspace_the_environment_sets_is_kept(
    precisions: None, determinism: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    configure_torch(_config(deterministic=True), DistContext(device="cuda:0"))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"

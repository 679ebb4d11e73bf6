"""``benchmarks/gpu.py`` runs on the CPU with a tiny model (``--device cpu --smoke``), so the
script a GPU machine runs cannot rot: both arms train, under DDP in one process and under FSDP
in two, and the figures it prints are computed from what they measured."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/gpu.py`` as the module ``gpu``, importable by the ranks it spawns."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu")


@pytest.mark.parametrize("strategy,nproc", [("ddp", 1), ("fsdp", 2)])
def test_the_gpu_benchmark_runs_on_the_cpu(
    benchmark: ModuleType, strategy: str, nproc: int, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = benchmark.main(
        ["--device", "cpu", "--smoke", "--strategy", strategy, "--nproc", str(nproc),
         "--threads", "1"]
    )  # fmt: skip
    shown = capsys.readouterr().out
    assert f"CPU x{nproc}, {strategy}, bf16" in shown
    assert len(figures["pairs"]) == 2
    for pair in figures["pairs"]:
        assert pair["bare"] > 0 and pair["trainpipe"] > 0
    ratios = [p["trainpipe"] / p["bare"] for p in figures["pairs"]]
    assert figures["ratio"] == pytest.approx(sum(ratios) / 2)  # the median of two
    assert figures["parameters"] > 1000
    assert figures["mfu"] is None, "a CPU has no bf16 peak to divide by"
    assert "target >= 0.97" in shown


def test_the_mfu_divides_by_the_named_devices_peak(benchmark: ModuleType) -> None:
    assert benchmark.peak_flops("cpu", 0.0) is None
    assert benchmark.peak_flops("cpu", 100.0) == 100e12
    names = list(benchmark.PEAK_BF16_TFLOPS)
    assert names.index("H100 PCIe") < names.index("H100"), "the longer name is tried first"

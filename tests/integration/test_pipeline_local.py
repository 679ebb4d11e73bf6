"""The whole pipeline through kfp.local, driven by the `trainpipe` CLI as a user runs it.

One real run of the digits pipeline (module-scoped) serves every assertion about a successful
run: its summary, its stage records, its console progress, its report, the doctor and the
registry listing. A second, cheaper run (no tuning) then registers the next version.
"""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from html_tree import parse_html
from trainpipe.registry.registry import ModelRegistry
from trainpipe.runs.stages import read_records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "pipelines" / "configs" / "digits.yaml"
BREAST_CANCER = REPO / "pipelines" / "configs" / "breast_cancer.yaml"
STAGE_NAMES = [
    "ingest",
    "split",
    "tune-setup",
    "tune-worker[0]",
    "tune-worker[1]",
    "tune-select",
    "train",
    "validate",
    "evaluate",
    "register",
]


def trainpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


@dataclass
class Run:
    root: Path
    registry: Path
    summary_path: Path
    result: subprocess.CompletedProcess[str]

    @property
    def summary(self) -> dict[str, Any]:
        return dict(json.loads(self.summary_path.read_text()))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("pipeline")
    registry = root / "registry"
    summary_path = root / "summary.json"
    result = trainpipe(
        "run",
        "--config",
        str(DIGITS),
        "--set",
        f"registry.uri={registry}",
        "--set",
        "tune.max_trials=2",
        "--set",
        "tune.epochs=2",
        "--run-dir",
        str(root / "run1"),
        "--summary-out",
        str(summary_path),
        cwd=root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Run(root=root, registry=registry, summary_path=summary_path, result=result)


def test_the_run_succeeds_blessed_and_registered(digits_run: Run) -> None:
    summary = digits_run.summary
    assert summary["status"] == "succeeded" and summary["error"] is None
    assert summary["metrics"]["test"]["accuracy"] >= 0.95
    for key in ("f1_macro", "precision_macro", "recall_macro", "latency_p95_ms"):
        assert key in summary["metrics"]["test"]
    assert summary["metrics"]["validation"]["accuracy"] > 0.9
    assert summary["diagnosis"]["verdict"]
    assert summary["blessed"] is True
    assert summary["tuning"]["n_complete"] + summary["tuning"]["n_pruned"] == 2
    assert summary["model"]["name"] == "digits-cnn"
    assert summary["model"]["version"] == 1
    assert summary["model"]["alias"] == "champion"  # the first blessed model has no rival


def test_every_stage_and_worker_records_its_wall_core_and_overhead(digits_run: Run) -> None:
    summary = digits_run.summary
    assert [s["name"] for s in summary["stages"]] == STAGE_NAMES
    for stage in summary["stages"]:
        assert stage["status"] == "succeeded"
        assert 0 <= stage["core_seconds"] <= stage["seconds"]
        assert stage["overhead_seconds"] == pytest.approx(
            stage["seconds"] - stage["core_seconds"], abs=2e-3
        )
    trained = next(s for s in summary["stages"] if s["name"] == "train")
    assert trained["core_seconds"] > trained["overhead_seconds"]  # training dominates its stage
    total = sum(s["overhead_seconds"] for s in summary["stages"])
    assert summary["overhead_seconds"] == pytest.approx(total, abs=0.05)
    records = read_records(str(digits_run.root / "run1" / "stages"))
    assert [r.name for r in records] == STAGE_NAMES
    assert records[0].outputs["data_hash"] and records[0].outputs["rows"] > 1000


def test_the_console_shows_every_stage_and_worker_as_it_finishes(digits_run: Run) -> None:
    lines = digits_run.result.stdout.splitlines()
    shown = [line.split()[1] for line in lines if line.startswith("  ok   ")]
    assert sorted(shown) == sorted(STAGE_NAMES), digits_run.result.stdout
    assert any("overhead" in line for line in lines if line.startswith("  ok   "))
    assert "registered: digits-cnn:1" in digits_run.result.stdout


def test_the_report_holds_the_runs_own_numbers(digits_run: Run) -> None:
    summary = digits_run.summary
    root = parse_html(Path(summary["report"]).read_text())
    history = json.loads((Path(summary["artifacts"]["model"]) / "metrics.json").read_text())
    epochs = len(history["history"])
    assert root.find_id("loss-curve") and root.find_id("confusion-matrix")
    lines = {
        str(p.attrs["data-series"]): len((p.attrs["points"] or "").split())
        for p in root.find_id("loss-curve").iter("polyline")
    }
    assert lines == {"train_loss": epochs, "val_loss": epochs}
    labels = summary["metrics"]["test"]["labels"]
    assert len(root.find_id("confusion-heatmap").by_class("cell", "rect")) == len(labels) ** 2
    assert len(root.find_id("per-class-chart").by_class("bar", "rect")) == 3 * len(labels)
    root.find_id("section-resources")  # present even if the job recorded no samples
    wrong = sum(
        sum(row) - row[i] for i, row in enumerate(summary["metrics"]["test"]["confusion_matrix"])
    )
    if wrong:
        samples = root.find_id("misclassified-grid").by_class("sample", "g")
        assert len(samples) == min(wrong, 16)
        assert all(len(s.by_class("px", "rect")) == 64 for s in samples)  # 8x8 digits
    assert summary["baseline"]["beats"] is True and summary["baseline"]["baseline"] == "linear"
    assert "linear baseline" in summary["gate"]["reason"]  # the default gate compared with it
    # the HTML artifacts are pages a browser opens
    assert summary["report"].endswith(".html") and summary["tuning"]["report"].endswith(".html")


def test_the_doctor_reads_the_run(digits_run: Run) -> None:
    doctor = trainpipe("doctor", str(digits_run.summary_path), "--json", cwd=digits_run.root)
    assert doctor.returncode == 0, doctor.stderr
    found = json.loads(doctor.stdout)
    assert found["status"] == "succeeded"
    assert not [f for f in found["findings"] if f["severity"] == "error"], found


def test_running_again_registers_the_next_version(digits_run: Run) -> None:
    # No tuning this time (an empty fan-out), a short training on one process, no sanity
    # checks, no thresholds and no baseline requirement (two epochs need not beat a linear
    # model): the point is the registry, which must give the next version and keep the champion.
    root = digits_run.root
    second = trainpipe(
        "run",
        "--config",
        str(DIGITS),
        "--set",
        f"registry.uri={digits_run.registry}",
        "--set",
        "tune.max_trials=0",
        "--set",
        "train.epochs=2",
        "--set",
        "train.nproc_per_node=1",
        "--set",
        "train.sanity_checks=false",
        "--set",
        "evaluate.thresholds={}",
        "--set",
        "evaluate.require_beat_baseline=false",
        "--run-dir",
        str(root / "run2"),
        cwd=root,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads((root / "run2" / "summary.json").read_text())
    assert summary["model"]["version"] == 2 and summary["model"]["alias"] == "challenger"
    names = [s["name"] for s in summary["stages"] if s["status"] != "skipped"]
    assert "tune-worker[0]" not in names and "tune-select" in names
    versions = ModelRegistry.open(str(digits_run.registry)).list_versions("digits-cnn")
    assert [v.version for v in versions] == [1, 2]
    listing = trainpipe("registry", "list", "--store", str(digits_run.registry), cwd=root)
    assert listing.returncode == 0 and "digits-cnn: 2 version(s)" in listing.stdout
    assert "champion=1" in listing.stdout and "challenger=2" in listing.stdout


def test_bad_data_fails_with_one_line_and_registers_nothing(tmp_path: Path) -> None:
    # Every bad-input message of ingest is unit-tested; this is the one run through the CLI that
    # shows how any of them ends a pipeline run.
    data = tmp_path / "data.csv"
    data.write_text("a,b,c\n1,2,3\n4,5,6\n")
    registry_dir = tmp_path / "registry"
    result = trainpipe(
        "run",
        "--config",
        str(BREAST_CANCER),
        "--set",
        f"data.source={data}",
        "--set",
        f"registry.uri={registry_dir}",
        "--run-dir",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("trainpipe: error")]
    expected = "label column 'target' not found"
    assert len(errors) == 1 and expected in errors[0] and str(data) in errors[0], result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]["stage"] == "ingest"
    assert summary["error"]["type"] == "DataError"
    assert summary["model"] is None
    assert [s["status"] for s in summary["stages"]][:2] == ["failed", "skipped"]
    assert not registry_dir.exists()


def test_negative_learning_rate_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    result = trainpipe(
        "run",
        "--config",
        str(DIGITS),
        "--set",
        "train.learning_rate=-0.1",
        "--run-dir",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "train.learning_rate must be > 0, got -0.1" in result.stderr
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "runs").exists()

"""The whole pipeline through kfp.local, driven by the `trainpipe` CLI as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from html_tree import parse_html
from trainpipe.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "pipelines" / "configs" / "digits.yaml"
BREAST_CANCER = REPO / "pipelines" / "configs" / "breast_cancer.yaml"
TRAIN_METRICS = "artifacts/**/train-op/model/metrics.json"


def trainpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_digits_pipeline_registers_the_next_version(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    summary_path = tmp_path / "summary.json"
    args = [
        "run",
        "--config",
        str(DIGITS),
        "--set",
        f"registry.uri={registry_dir}",
        "--set",
        "tune.max_trials=2",
        "--set",
        "tune.epochs=2",
        "--run-dir",
        str(tmp_path / "run1"),
        "--summary-out",
        str(summary_path),
    ]
    first = trainpipe(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "succeeded"
    names = [s["name"] for s in summary["stages"]]
    assert names == [
        "ingest",
        "split",
        "tune-setup",
        "tune",
        "tune-select",
        "train",
        "validate",
        "evaluate",
        "register",
    ]
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 for s in summary["stages"])
    assert summary["metrics"]["test"]["accuracy"] >= 0.95
    for key in ("f1_macro", "precision_macro", "recall_macro", "latency_p95_ms"):
        assert key in summary["metrics"]["test"]
    assert summary["blessed"] is True
    assert summary["tuning"]["n_complete"] + summary["tuning"]["n_pruned"] == 2
    assert summary["model"]["name"] == "digits-cnn"
    assert summary["model"]["version"] == 1
    report = Path(summary["report"]).read_text()
    assert 'id="loss-curve"' in report and 'id="confusion-matrix"' in report
    _check_report_and_doctor(report, summary, summary_path, tmp_path)

    args[args.index(str(tmp_path / "run1"))] = str(tmp_path / "run2")
    second = trainpipe(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(summary_path.read_text())["model"]["version"] == 2
    versions = ModelRegistry.open(str(registry_dir)).list_versions("digits-cnn")
    assert [v.version for v in versions] == [1, 2]

    listing = trainpipe("registry", "list", "--store", str(registry_dir), cwd=tmp_path)
    assert listing.returncode == 0 and "digits-cnn: 2 version(s)" in listing.stdout


def _check_report_and_doctor(
    report: str, summary: dict[str, Any], summary_path: Path, cwd: Path
) -> None:
    """The report's sections hold the run's own numbers; the doctor reads the run."""
    root = parse_html(report)
    history = json.loads(next(Path(summary["run_dir"]).glob(TRAIN_METRICS)).read_text())
    epochs = len(history["history"])
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
    assert summary["baseline"]["beats"] is True
    doctor = trainpipe("doctor", str(summary_path), "--json", cwd=cwd)
    assert doctor.returncode == 0, doctor.stderr
    found = json.loads(doctor.stdout)
    assert found["status"] == "succeeded"
    assert not [f for f in found["findings"] if f["severity"] == "error"], found


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("a,b,c\n1,2,3\n4,5,6\n", "label column 'target' not found"),
    ],
    ids=["empty-csv", "no-label-column"],
)
def test_bad_data_fails_with_one_line_and_registers_nothing(
    tmp_path: Path, content: str, expected: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_text(content)
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
    assert len(errors) == 1 and expected in errors[0] and str(data) in errors[0], result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]["stage"] == "ingest"
    assert summary["model"] is None
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

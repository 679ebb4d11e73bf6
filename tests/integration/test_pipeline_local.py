"""The whole pipeline through kfp.local, driven by the `trainpipe` CLI as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainpipe.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "pipelines" / "configs" / "digits.yaml"
BREAST_CANCER = REPO / "pipelines" / "configs" / "breast_cancer.yaml"


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

    args[args.index(str(tmp_path / "run1"))] = str(tmp_path / "run2")
    second = trainpipe(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(summary_path.read_text())["model"]["version"] == 2
    versions = ModelRegistry.open(str(registry_dir)).list_versions("digits-cnn")
    assert [v.version for v in versions] == [1, 2]

    listing = trainpipe("registry", "list", "--store", str(registry_dir), cwd=tmp_path)
    assert listing.returncode == 0 and "digits-cnn: 2 version(s)" in listing.stdout


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

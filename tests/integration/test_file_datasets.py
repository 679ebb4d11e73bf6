"""Datasets kept as files, each through ``trainpipe run`` with 2 processes and seeded augmentation
of its training batches and the zoo's model for it: an image folder (RGB shapes at random places
and sizes, 32x32 PNG files, a folder per class) with the ResNet, whose registered model scores a
folder of image files with ``trainpipe predict``; and an audio folder (tones of three pitches as
WAV files) with the 1-D CNN over log-mel frames, whose registered model scores the WAV files
(decoded with the settings it was trained with)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from audio_data import tone_folder
from image_data import shape_folder

pytestmark = [pytest.mark.integration, pytest.mark.slow]


CLI = [sys.executable, "-m", "trainpipe.cli"]


def run_pipeline(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """``trainpipe run`` on ``config`` (registry in ``tmp_path``): the run's blessed summary."""
    path = tmp_path / "config.yaml"
    registry = {"uri": str(tmp_path / "registry"), "model_name": config["name"]}
    path.write_text(yaml.safe_dump({**config, "tune": {"max_trials": 0}, "registry": registry}))
    run = subprocess.run([*CLI, "run", "--config", str(path), "--run-dir", str(tmp_path / "run")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    summary: dict[str, Any] = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["blessed"] and summary["model"]["version"] == 1, summary["gate"]
    assert summary["metrics"]["test"]["accuracy"] > 0.9
    return summary


def predict_folder(tmp_path: Path, model: str, folder: Path) -> float:
    """``trainpipe predict`` over ``folder`` in a fresh process: the share of files predicted as
    the class folder they are in."""
    scored = tmp_path / "scored.parquet"
    predicted = subprocess.run(
        [*CLI, "predict", "--model", f"{model}@champion", "--input", str(folder),
         "--output", str(scored), "--store", str(tmp_path / "registry")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    table = pd.read_parquet(scored)
    assert list(table.columns[:2]) == ["file", "prediction"]
    return float((table["prediction"] == table["file"].str.split("/").str[0]).mean())


def statistics(summary: dict[str, Any]) -> dict[str, Any]:
    stats: dict[str, Any] = json.loads(
        (Path(summary["artifacts"]["dataset"]) / "stats.json").read_text()
    )
    return stats


def test_an_image_folder_trains_registers_and_scores_image_files(tmp_path: Path) -> None:
    images = shape_folder(tmp_path / "shapes")
    summary = run_pipeline(
        tmp_path,
        {
            "name": "shapes",
            "data": {"source": str(images), "label": "shape"},
            "model": {"kind": "resnet", "image_shape": [3, 32, 32], "channels": [16, 32]},
            "train": {"epochs": 12, "batch_size": 32, "learning_rate": 0.01, "warmup_epochs": 1,
                      "nproc_per_node": 2, "augment": ["hflip", "scale", "color_jitter"]},
        },
    )  # fmt: skip
    found = statistics(summary)["image"]
    assert found["modes"] == {"RGB": 600}
    assert found["decode_workers"] >= 1  # 600 files: decoded by processes (data.decode_workers)
    assert predict_folder(tmp_path, "shapes", images) > 0.9


def test_an_audio_folder_trains_registers_and_scores_wav_files(tmp_path: Path) -> None:
    clips = tone_folder(tmp_path / "tones", per_class=60)
    summary = run_pipeline(
        tmp_path,
        {
            "name": "tones",
            "data": {"source": str(clips), "label": "pitch",
                     "audio": {"sample_rate": 8000, "seconds": 0.5, "n_mels": 16}},
            "model": {"kind": "cnn1d", "image_shape": [1, 16, 48], "channels": [16, 32]},
            "train": {"epochs": 6, "batch_size": 32, "learning_rate": 0.003,
                      "nproc_per_node": 2, "augment": ["time_mask", "freq_mask"]},
        },
    )  # fmt: skip
    found = statistics(summary)["audio"]
    assert found["files"] == 180 and found["resampled"] > 0
    assert predict_folder(tmp_path, "tones", clips) > 0.9

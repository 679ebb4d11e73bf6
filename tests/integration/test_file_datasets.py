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

import pandas as pd
import pytest
import yaml

from audio_data import tone_folder
from image_data import shape_folder

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_an_image_folder_trains_registers_and_scores_image_files(tmp_path: Path) -> None:
    images = shape_folder(tmp_path / "shapes")
    config = tmp_path / "images.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "shapes",
                "data": {"source": str(images), "label": "shape"},
                "model": {"kind": "resnet", "image_shape": [3, 32, 32], "channels": [16, 32]},
                "train": {"epochs": 12, "batch_size": 32, "learning_rate": 0.01,
                          "warmup_epochs": 1, "nproc_per_node": 2,
                          "augment": ["hflip", "scale", "color_jitter"]},
                "tune": {"max_trials": 0},
                "registry": {"uri": str(tmp_path / "registry"), "model_name": "shapes"},
            }
        )
    )  # fmt: skip
    cli = [sys.executable, "-m", "trainpipe.cli"]
    run = subprocess.run([*cli, "run", "--config", str(config), "--run-dir", str(tmp_path / "run")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["blessed"] and summary["model"]["version"] == 1, summary["gate"]
    assert summary["metrics"]["test"]["accuracy"] > 0.9
    stats = json.loads((Path(summary["artifacts"]["dataset"]) / "stats.json").read_text())
    assert stats["image"]["files"] == 600 and stats["image"]["modes"] == {"RGB": 600}

    scored = tmp_path / "scored.csv"
    predicted = subprocess.run(
        [*cli, "predict", "--model", "shapes@champion", "--input", str(images),
         "--output", str(scored), "--store", str(tmp_path / "registry")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    table = pd.read_csv(scored)
    assert len(table) == 600 and list(table.columns[:2]) == ["file", "prediction"]
    truth = table["file"].str.split("/").str[0]
    assert (table["prediction"] == truth).mean() > 0.9


def test_an_audio_folder_trains_registers_and_scores_wav_files(tmp_path: Path) -> None:
    clips = tone_folder(tmp_path / "tones", per_class=60)
    config = tmp_path / "audio.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "tones",
                "data": {"source": str(clips), "label": "pitch",
                         "audio": {"sample_rate": 8000, "seconds": 0.5, "n_mels": 16}},
                "model": {"kind": "cnn1d", "image_shape": [1, 16, 48], "channels": [16, 32]},
                "train": {"epochs": 6, "batch_size": 32, "learning_rate": 0.003,
                          "nproc_per_node": 2, "augment": ["time_mask", "freq_mask"]},
                "tune": {"max_trials": 0},
                "registry": {"uri": str(tmp_path / "registry"), "model_name": "tones"},
            }
        )
    )  # fmt: skip
    cli = [sys.executable, "-m", "trainpipe.cli"]
    run = subprocess.run([*cli, "run", "--config", str(config), "--run-dir", str(tmp_path / "run")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["blessed"] and summary["model"]["version"] == 1, summary["gate"]
    assert summary["metrics"]["test"]["accuracy"] > 0.9
    stats = json.loads((Path(summary["artifacts"]["dataset"]) / "stats.json").read_text())
    assert stats["audio"]["files"] == 180 and stats["audio"]["resampled"] > 0

    scored = tmp_path / "scored.parquet"
    predicted = subprocess.run(
        [*cli, "predict", "--model", "tones@champion", "--input", str(clips),
         "--output", str(scored), "--store", str(tmp_path / "registry")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    table = pd.read_parquet(scored)
    assert len(table) == 180 and list(table.columns[:2]) == ["file", "prediction"]
    assert (table["prediction"] == table["file"].str.split("/").str[0]).mean() > 0.9

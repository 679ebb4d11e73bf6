"""An audio folder (WAV files, a folder per class) ingests as rows of log-mel features or
samples, resampled and cut to one length; every bad file or folder is refused by its path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio_data import tone, tone_folder
from trainpipe.config import RunConfig
from trainpipe.config.data import AudioConfig
from trainpipe.data.audio_folder import audio_shape, is_audio_folder, log_mel, read_audio_folder
from trainpipe.data.ingest import ingest
from trainpipe.errors import ConfigError, DataError

pytestmark = pytest.mark.unit

AUDIO = AudioConfig(sample_rate=8000, seconds=0.5, n_mels=16)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tone_folder(tmp_path / "tones", per_class=8)


def make_config(source: Path, **audio: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": str(source), "label": "pitch",
                     "audio": {"sample_rate": 8000, "seconds": 0.5, "n_mels": 16, **audio}},
            "model": {"kind": "cnn", "image_shape": [1, 16, 48]},
        }
    )  # fmt: skip


def test_clips_become_rows_of_one_shape_and_the_statistics_say_how(folder: Path) -> None:
    assert is_audio_folder(str(folder)) and audio_shape(AUDIO) == [1, 16, 48]
    frame, found = read_audio_folder(str(folder), audio=AUDIO, label="pitch")
    assert frame.shape == (24, 16 * 48 + 1)
    assert sorted(frame["pitch"].unique()) == ["high", "low", "mid"]
    assert found["files_per_class"] == {"high": 8, "low": 8, "mid": 8}
    assert found["resampled"] == sum(n for r, n in found["sample_rates"].items() if r != "8000")
    assert found["cut"] + found["padded"] == 24  # none is exactly 0.5 s
    assert found["channels"] == {"1": 18, "2": 6}
    assert 0.3 <= found["seconds"]["min"] <= found["seconds"]["max"] <= 0.8


def test_log_mel_puts_a_higher_pitch_in_a_higher_band() -> None:
    rng = np.random.default_rng(0)
    bands = []
    for pitch in (300.0, 600.0, 1200.0):
        clip = np.sin(2 * np.pi * pitch * np.arange(4000) / 8000).astype(np.float32)
        bands.append(int(log_mel(clip, AUDIO).mean(axis=1).argmax()))
    assert bands[0] < bands[1] < bands[2]
    noisy = tone(440.0, rate=8000, seconds=0.5, rng=rng)
    assert log_mel(noisy, AUDIO).shape == (16, 48) and np.isfinite(log_mel(noisy, AUDIO)).all()


def test_waveform_features_are_the_resampled_samples(folder: Path) -> None:
    audio = AudioConfig(sample_rate=8000, seconds=0.5, features="waveform")
    frame, _ = read_audio_folder(str(folder), audio=audio, label="y")
    assert frame.shape == (24, 4001) and list(frame.columns[:2]) == ["sample_0", "sample_1"]


def test_ingest_writes_the_table_with_the_audio_statistics(folder: Path, tmp_path: Path) -> None:
    ingest(make_config(folder), str(tmp_path / "dataset"))
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert stats["audio"]["files"] == 24 and stats["audio"]["shape"] == [1, 16, 48]
    report = (tmp_path / "dataset" / "statistics.html").read_text()
    assert "resampled / cut / padded" in report and "log_mel of shape [1, 16, 48]" in report


def test_a_truncated_wav_is_refused_by_name_or_skipped_and_counted(
    folder: Path, tmp_path: Path
) -> None:
    whole = (folder / "mid" / "001.wav").read_bytes()
    (folder / "mid" / "cut.wav").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"mid/cut\.wav is a truncated WAV file \(its data chunk"):
        ingest(make_config(folder), str(tmp_path / "dataset"))
    assert not (tmp_path / "dataset").exists()
    ingest(RunConfig.from_dict({**make_config(folder).to_dict(),
                                "data": {**make_config(folder).to_dict()["data"],
                                         "bad_files": "skip"}}),
           str(tmp_path / "skipping"))  # fmt: skip
    stats = json.loads((tmp_path / "skipping" / "stats.json").read_text())
    assert stats["audio"]["skipped_files"] == 1 and stats["audio"]["files_per_class"]["mid"] == 8


def test_a_file_that_is_not_audio_is_refused_by_name(folder: Path) -> None:
    (folder / "low" / "notes.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match=r"low/notes\.wav"):
        read_audio_folder(str(folder), audio=AUDIO, label="y")


def test_an_empty_class_folder_is_refused_by_name(folder: Path) -> None:
    (folder / "silence").mkdir()
    with pytest.raises(DataError, match=r"class folder .*/silence has no WAV files"):
        read_audio_folder(str(folder), audio=AUDIO, label="y")


def test_the_audio_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.audio\.seconds"):
        make_config(tmp_path, seconds=0.01)

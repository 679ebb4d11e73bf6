"""An image or audio folder whose decoded table exceeds the threshold is ingested a chunk of
files at a time, into the dataset the in-memory ingest writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audio_data import tone_folder
from image_data import digit_folder
from trainpipe.config import RunConfig
from trainpipe.data import stream_folder
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def config(source: Path, threshold: int, **data: Any) -> RunConfig:
    image = {"kind": "cnn", "image_shape": [1, 8, 8]}
    return RunConfig.from_dict({
        "data": {"source": str(source), "label": "digit", "stream_threshold_mb": threshold,
                 **data},
        "model": image if "audio" not in data else {"kind": "cnn1d"},
    })  # fmt: skip


def both(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **data: Any) -> tuple:
    monkeypatch.setattr(stream_folder, "BATCH_FILES", 7)  # many batches from a small folder
    streamed = ingest(config(source, 0, **data), str(tmp_path / "stream"))
    memory = ingest(config(source, 10_000, **data), str(tmp_path / "memory"))
    return streamed, memory


def test_an_image_folder_streams_into_the_in_memory_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = digit_folder(tmp_path / "digits", per_class=5)
    (folder / "3" / "copy.png").write_bytes((folder / "3" / "0001.png").read_bytes())
    streamed, memory = both(folder, tmp_path, monkeypatch)
    assert streamed.stats["ingest_mode"]["mode"] == "stream"
    assert streamed.stats["ingest_mode"]["reason"].startswith("an image folder, 51 files")
    assert memory.stats["ingest_mode"]["mode"] == "memory"
    assert "decoded and written 7 files at a time" in capsys.readouterr().out
    frame, schema = read_dataset(str(tmp_path / "stream"))
    expected, expected_schema = read_dataset(str(tmp_path / "memory"))
    pd.testing.assert_frame_equal(frame, expected)
    assert schema.features == expected_schema.features and schema.files == expected_schema.files
    assert streamed.stats["image"] == memory.stats["image"]
    assert streamed.stats["image"]["duplicate_files"] == 1
    assert streamed.stats["class_balance"] == memory.stats["class_balance"]
    stats = json.loads((tmp_path / "stream" / "stats.json").read_text())
    assert stats["image"]["files"] == 51


def test_an_audio_folder_streams_into_the_in_memory_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = tone_folder(tmp_path / "tones", per_class=4)
    audio = {"label": "pitch", "audio": {"features": "waveform", "seconds": 0.1}}
    streamed, memory = both(clips, tmp_path, monkeypatch, **audio)
    assert streamed.stats["ingest_mode"]["mode"] == "stream"
    pd.testing.assert_frame_equal(
        read_dataset(str(tmp_path / "stream"))[0], read_dataset(str(tmp_path / "memory"))[0]
    )
    assert streamed.stats["audio"] == memory.stats["audio"]


def test_a_corrupt_image_stops_a_streamed_folder_by_name_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_folder, "BATCH_FILES", 7)
    folder = digit_folder(tmp_path / "digits", per_class=5)
    (folder / "8" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    with pytest.raises(DataError, match=r"8/broken\.png does not decode as an image"):
        ingest(config(folder, 0), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    skipped = ingest(config(folder, 0, bad_files="skip"), str(tmp_path / "skip"))
    assert skipped.stats["image"]["skipped_files"] == 1 and skipped.stats["rows"] == 50

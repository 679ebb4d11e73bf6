"""An image folder (a folder per class) ingests as rows of pixels, and every bad file or folder
is refused with its path named, or skipped and counted when asked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from image_data import digit_folder
from trainpipe.config import RunConfig
from trainpipe.data import class_folders
from trainpipe.data.dataset import read_dataset
from trainpipe.data.image_folder import is_image_folder, read_image_folder
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def make_config(source: Path, shape: list[int] | None = None, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": str(source), "label": "digit", **data},
            "model": {"kind": "cnn", "image_shape": shape or [1, 16, 16]},
        }
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return digit_folder(tmp_path / "digits", per_class=6)


def test_the_layout_is_detected_and_each_image_becomes_a_row(folder: Path) -> None:
    assert is_image_folder(str(folder)) and not is_image_folder(str(folder / "3"))
    frame, found = read_image_folder(str(folder), image_shape=[1, 16, 16], label="digit")
    assert frame.shape == (60, 16 * 16 + 1)
    assert sorted(frame["digit"].unique()) == [str(d) for d in range(10)]
    pixels = frame.drop(columns="digit").to_numpy()
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0 and pixels.max() > 0.9
    assert found["files_per_class"] == {str(d): 6 for d in range(10)}
    assert found["width"] == {"min": 32, "median": 32.0, "max": 32} and found["modes"] == {"L": 60}


def test_rgb_images_keep_three_channels_in_channel_major_order(tmp_path: Path) -> None:
    folder = digit_folder(tmp_path / "rgb", per_class=2, mode="RGB")
    frame, _ = read_image_folder(str(folder), image_shape=[3, 8, 8], label="y")
    assert list(frame.columns[:2]) == ["pixel_0_0_0", "pixel_0_0_1"]
    image = frame.drop(columns="y").to_numpy()[0].reshape(3, 8, 8)
    assert np.allclose(image[0], image[1]) and np.allclose(image[1], image[2])  # gray in RGB


def test_ingest_writes_the_table_and_counts_the_files(folder: Path, tmp_path: Path) -> None:
    result = ingest(make_config(folder), str(tmp_path / "dataset"))
    frame, schema = read_dataset(str(tmp_path / "dataset"))
    assert len(frame) == 60 and schema.label == "digit" and len(schema.features) == 256
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert stats["image"]["files"] == 60 and stats["image"]["skipped_files"] == 0
    assert result.stats["ingest_mode"]["reason"].startswith("an image folder")
    report = (tmp_path / "dataset" / "statistics.html").read_text()
    assert 'id="files"' in report and "files read" in report and "32 / 32 / 32 px" in report
    assert "histogram-0" not in report  # 256 pixel columns are summarized, not charted


def test_a_corrupt_image_is_refused_by_name(folder: Path, tmp_path: Path) -> None:
    (folder / "4" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    with pytest.raises(DataError, match=r"4/broken\.png does not decode as an image"):
        ingest(make_config(folder), str(tmp_path / "dataset"))
    assert not (tmp_path / "dataset").exists()


def test_a_truncated_image_is_skipped_and_counted_when_asked(folder: Path, tmp_path: Path) -> None:
    whole = (folder / "7" / "0000.png").read_bytes()
    (folder / "7" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"7/truncated\.png does not decode.*data\.bad_files"):
        read_image_folder(str(folder), image_shape=[1, 8, 8], label="y")
    ingest(make_config(folder, bad_files="skip"), str(tmp_path / "dataset"))
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert stats["image"]["skipped_files"] == 1
    assert stats["image"]["skipped"][0]["file"].endswith("7/truncated.png")
    assert stats["image"]["files_per_class"]["7"] == 6


def test_an_empty_class_folder_is_refused_by_name(folder: Path, tmp_path: Path) -> None:
    (folder / "ten").mkdir()
    with pytest.raises(DataError, match=r"class folder .*/ten has no JPEG/JPG/PNG files"):
        ingest(make_config(folder), str(tmp_path / "dataset"))


def test_the_image_shape_must_be_set(folder: Path) -> None:
    with pytest.raises(DataError, match=r"set model\.image_shape to \[channels, height, width\]"):
        read_image_folder(str(folder), image_shape=[], label="y")


def test_repeated_files_are_counted(folder: Path) -> None:
    (folder / "1" / "copy.png").write_bytes((folder / "1" / "0000.png").read_bytes())
    _, found = read_image_folder(str(folder), image_shape=[1, 8, 8], label="y")
    assert found["duplicate_files"] == 1


def test_a_folder_without_class_folders_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "one.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"flat: a folder \(or prefix\) without class folders"):
        ingest(make_config(tmp_path / "flat"), str(tmp_path / "dataset"))


def test_the_first_bad_file_in_order_decides_whatever_is_fetched_first(folder: Path) -> None:
    (folder / "2" / "bad.png").write_bytes(b"no image")
    (folder / "8" / "bad.png").write_bytes(b"no image")
    with pytest.raises(DataError, match=r"/2/bad\.png does not decode"):
        read_image_folder(str(folder), image_shape=[1, 8, 8], label="y")


def test_decoding_processes_give_the_rows_of_one_process(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(class_folders, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(class_folders, "CHUNK_FILES", 7)
    (folder / "5" / "copy.png").write_bytes((folder / "5" / "0001.png").read_bytes())
    alone, found_alone = read_image_folder(str(folder), image_shape=[1, 8, 8], label="y")
    pooled, found = read_image_folder(
        str(folder), image_shape=[1, 8, 8], label="y", decode_workers=2
    )
    assert found_alone["decode_workers"] == 0 and found["decode_workers"] == 2
    assert pooled.equals(alone)
    assert {k: v for k, v in found.items() if k != "decode_workers"} == {
        k: v for k, v in found_alone.items() if k != "decode_workers"
    }
    (folder / "2" / "bad.png").write_bytes(b"no image")
    (folder / "8" / "bad.png").write_bytes(b"no image")
    with pytest.raises(DataError, match=r"/2/bad\.png does not decode.*data\.bad_files"):
        read_image_folder(str(folder), image_shape=[1, 8, 8], label="y", decode_workers=2)
    _, skipped = read_image_folder(
        str(folder), image_shape=[1, 8, 8], label="y", bad_files="skip", decode_workers=2
    )
    assert [s["file"][-9:] for s in skipped["skipped"]] == ["2/bad.png", "8/bad.png"]


def test_how_many_processes_decode() -> None:
    few, many = class_folders.PARALLEL_MIN_FILES - 1, class_folders.PARALLEL_MIN_FILES
    assert class_folders.decode_workers(-1, few) == 0  # not worth starting processes
    assert class_folders.decode_workers(0, many) == 0 and class_folders.decode_workers(3, many) == 3
    assert class_folders.decode_workers(-1, many) == len(os.sched_getaffinity(0))

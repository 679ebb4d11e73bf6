"""A manifest table (``path,label``) names image, audio or text files anywhere: they ingest as a
class folder's files do, and every row that cannot be used is refused by its number and file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audio_data import tone_folder
from image_data import digit_folder
from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.manifest import manifest_column
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def make_config(source: Path, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": str(source), "label": "label", **data,
                     "audio": {"sample_rate": 8000, "seconds": 0.5, "n_mels": 16}},
            "model": {"kind": "cnn", "image_shape": [1, 16, 16]},
        }
    )  # fmt: skip


def manifest_of(folder: Path, out: Path, *, absolute: bool = False) -> Path:
    rows = [
        {"path": str(p if absolute else p.relative_to(out.parent)), "label": p.parent.name,
         "photographer": "ann"}
        for p in sorted(folder.rglob("*")) if p.is_file()
    ]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def test_a_manifest_of_images_ingests_like_the_class_folders(tmp_path: Path) -> None:
    images = digit_folder(tmp_path / "data" / "digits", per_class=3)
    manifest = manifest_of(images, tmp_path / "data" / "manifest.csv")
    ingest(make_config(manifest), str(tmp_path / "from-manifest"))
    ingest(make_config(images), str(tmp_path / "from-folders"))
    by_manifest, _ = read_dataset(str(tmp_path / "from-manifest"))
    by_folders, _ = read_dataset(str(tmp_path / "from-folders"))
    pd.testing.assert_frame_equal(by_manifest, by_folders)
    stats = json.loads((tmp_path / "from-manifest" / "stats.json").read_text())
    assert stats["image"]["layout"] == "manifest"
    assert stats["image"]["unused_columns"] == ["photographer"]


def test_absolute_paths_and_audio_files(tmp_path: Path) -> None:
    clips = tone_folder(tmp_path / "clips", per_class=2)
    manifest = manifest_of(clips, tmp_path / "elsewhere" / "clips.csv", absolute=True)
    ingest(make_config(manifest), str(tmp_path / "dataset"))
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert stats["audio"]["files"] == 6 and stats["audio"]["files_per_class"]["mid"] == 2


def test_a_missing_file_is_refused_by_name_or_skipped(tmp_path: Path) -> None:
    images = digit_folder(tmp_path / "digits", per_class=2)
    manifest = manifest_of(images, tmp_path / "manifest.csv")
    (images / "5" / "0001.png").unlink()
    with pytest.raises(DataError, match=r"cannot read .*digits/5/0001\.png"):
        ingest(make_config(manifest), str(tmp_path / "dataset"))
    ingest(make_config(manifest, bad_files="skip"), str(tmp_path / "skipped"))
    stats = json.loads((tmp_path / "skipped" / "stats.json").read_text())
    assert stats["image"]["skipped_files"] == 1 and stats["image"]["files"] == 19


def test_rows_without_a_label_or_of_mixed_kinds_are_refused(tmp_path: Path) -> None:
    images = digit_folder(tmp_path / "digits", per_class=1)
    manifest = manifest_of(images, tmp_path / "manifest.csv")
    table = pd.read_csv(manifest, dtype=str)
    table.loc[3, "label"] = None
    table.to_csv(tmp_path / "unlabelled.csv", index=False)
    with pytest.raises(DataError, match="row 3 of the manifest has no label"):
        ingest(make_config(tmp_path / "unlabelled.csv"), str(tmp_path / "a"))
    table.loc[3, "label"] = "3"
    table.loc[4, "path"] = "notes/readme.txt"
    table.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(DataError, match=r"names files of several kinds \(image, text\)"):
        ingest(make_config(tmp_path / "mixed.csv"), str(tmp_path / "b"))


def test_an_ordinary_table_is_no_manifest() -> None:
    assert manifest_column(pd.DataFrame({"path": ["a/b", "c.png"], "y": [1, 2]})) is None
    assert manifest_column(pd.DataFrame({"file": ["a.PNG", "b.jpg"], "y": [1, 2]})) == "file"


def test_a_large_manifest_of_images_streams_its_files_into_the_same_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainpipe.data import stream_folder

    monkeypatch.setattr(stream_folder, "BATCH_FILES", 4)
    images = digit_folder(tmp_path / "data" / "digits", per_class=3)
    manifest = manifest_of(images, tmp_path / "data" / "manifest.csv")
    # above a threshold of 0 MiB: the manifest is still read whole, its files are streamed
    streamed = ingest(make_config(manifest, stream_threshold_mb=0), str(tmp_path / "stream"))
    memory = ingest(make_config(manifest), str(tmp_path / "memory"))
    assert streamed.stats["ingest_mode"]["mode"] == "stream"
    assert streamed.stats["ingest_mode"]["reason"].startswith("a manifest of image files, 30")
    pd.testing.assert_frame_equal(
        read_dataset(str(tmp_path / "stream"))[0], read_dataset(str(tmp_path / "memory"))[0]
    )
    assert streamed.stats["image"] == memory.stats["image"]
    assert streamed.stats["image"]["unused_columns"] == ["photographer"]

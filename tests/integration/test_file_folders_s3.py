"""Image and audio class folders read from an S3 prefix (moto's server through the minio SDK),
the same way as from a local folder; a prefix that cannot be read is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio_data import tone_folder
from image_data import digit_folder
from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

pytestmark = pytest.mark.integration


def config(source: str, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": source, "label": "y", **data,
                     "audio": {"sample_rate": 8000, "seconds": 0.5, "n_mels": 16}},
            "model": {"kind": "cnn", "image_shape": [1, 16, 16]},
        }
    )  # fmt: skip


def test_class_folders_on_s3_ingest_like_local_ones(s3_env: dict[str, str], tmp_path: Path) -> None:
    images = digit_folder(tmp_path / "digits", per_class=3)
    open_store("s3://files/photos").upload_dir(images)
    local = ingest(config(str(images)), str(tmp_path / "local"))
    remote = ingest(config("s3://files/photos"), str(tmp_path / "remote"))
    assert remote.schema.data_hash == local.schema.data_hash  # the same rows, byte for byte
    stats = json.loads((tmp_path / "remote" / "stats.json").read_text())
    assert stats["image"]["files"] == 30

    clips = tone_folder(tmp_path / "tones", per_class=2)
    (clips / "low" / "000.wav").write_bytes((clips / "low" / "000.wav").read_bytes()[:500])
    open_store("s3://files/clips").upload_dir(clips)
    with pytest.raises(DataError, match=r"s3://files/clips/low/000\.wav is a truncated WAV"):
        ingest(config("s3://files/clips"), str(tmp_path / "audio"))
    ingest(config("s3://files/clips", bad_files="skip"), str(tmp_path / "audio"))
    frame, _ = read_dataset(str(tmp_path / "audio"))
    assert len(frame) == 5


@pytest.mark.parametrize("source", ["s3://no-such-bucket/photos", "s3://files/nothing-here"])
def test_a_prefix_that_cannot_be_read_is_named(
    s3_env: dict[str, str], tmp_path: Path, source: str
) -> None:
    with pytest.raises(DataError, match=f"data.source {source}: a folder .* without class"):
        ingest(config(source), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()

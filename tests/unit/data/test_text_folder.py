"""A text folder (.txt files, a folder per class) ingests as a text column the text pipeline
trains on; a file that is not UTF-8 is refused by name, or skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.text_folder import is_text_folder, read_text_folder
from trainpipe.errors import DataError
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit

WORDS = {"pos": ["good", "great", "happy"], "neg": ["bad", "awful", "sad"]}
FILLER = ["the", "day", "was", "a", "movie", "really"]


def review_folder(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label, opinions in WORDS.items():
        (root / label).mkdir(parents=True)
        for n in range(per_class):
            words = [str(w) for w in rng.choice(FILLER, size=5)]
            words.insert(int(rng.integers(0, 6)), str(rng.choice(opinions)))
            (root / label / f"{n:03d}.txt").write_text(" ".join(words) + ".\n", encoding="utf-8")
    return root


def make_config(source: Path, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "seed": 1,
            "data": {"source": str(source), "label": "sentiment", "text": "text",
                     "max_tokens": 8, "vocab_size": 30, **data},
            "model": {"kind": "transformer", "d_model": 16, "heads": 2, "layers": 1},
            "train": {"epochs": 8, "batch_size": 16, "learning_rate": 0.01,
                      "backend": "inprocess", "num_threads": 1},
            "tune": {"max_trials": 0},
        }
    )  # fmt: skip


def test_each_file_becomes_a_text_row_and_trains(tmp_path: Path) -> None:
    folder = review_folder(tmp_path / "reviews")
    assert is_text_folder(str(folder))
    frame, found = read_text_folder(str(folder), label="sentiment")
    assert list(frame.columns) == ["text", "sentiment"] and len(frame) == 80
    assert found["files_per_class"] == {"neg": 40, "pos": 40} and found["words"]["min"] == 6
    config = make_config(folder)
    ingest(config, str(tmp_path / "dataset"))
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert stats["text_files"]["files"] == 80
    from trainpipe.data.split import split_dataset

    outs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    split_dataset(config, str(tmp_path / "dataset"), *outs)
    result = train_model(config, train_data=outs[0], validation_data=outs[1],
                         output=str(tmp_path / "model"), log=lambda s: None)  # fmt: skip
    assert result.final["val_accuracy"] > 0.8
    stored, schema = read_dataset(outs[0])
    assert schema.text == ["text"] and stored["text"].str.endswith(".\n").all()
    assert schema.files == {"kind": "text", "column": "text"}
    from trainpipe.predict import predict_file

    scored = tmp_path / "scored.csv"
    predict_file(str(tmp_path / "model"), str(folder), str(scored), registry="unused")
    table = pd.read_csv(scored)
    assert len(table) == 80 and list(table.columns[:2]) == ["file", "prediction"]
    assert (table["prediction"] == table["file"].str.split("/").str[0]).mean() > 0.8
    listed = sorted(folder.rglob("*.txt"))[::4]  # a manifest of new files, with its own columns
    manifest = pd.DataFrame({"path": [str(p.relative_to(tmp_path)) for p in listed],
                             "batch": "march"})  # fmt: skip
    manifest.to_csv(tmp_path / "to-score.csv", index=False)
    predict_file(str(tmp_path / "model"), str(tmp_path / "to-score.csv"), str(scored),
                 registry="unused")  # fmt: skip
    table = pd.read_csv(scored)
    assert list(table.columns[:3]) == ["path", "batch", "prediction"] and len(table) == 20
    assert (table["prediction"] == table["path"].str.split("/").str[1]).mean() > 0.8


def test_a_file_that_is_not_utf8_is_refused_or_skipped(tmp_path: Path) -> None:
    folder = review_folder(tmp_path / "reviews", per_class=3)
    (folder / "neg" / "latin1.txt").write_bytes("très mauvais".encode("latin-1"))
    with pytest.raises(DataError, match=r"neg/latin1\.txt is not UTF-8 text \(byte 0xe8 at"):
        ingest(make_config(folder), str(tmp_path / "dataset"))
    ingest(make_config(folder, bad_files="skip"), str(tmp_path / "skipped"))
    stats = json.loads((tmp_path / "skipped" / "stats.json").read_text())
    assert stats["text_files"]["skipped_files"] == 1


def test_the_text_column_must_be_named(tmp_path: Path) -> None:
    folder = review_folder(tmp_path / "reviews", per_class=2)
    with pytest.raises(DataError, match=r"is a folder of text files: set data\.text: text"):
        ingest(make_config(folder, text=""), str(tmp_path / "dataset"))

"""The streamed split: a seeded hash of each row's key decides its split, a row group at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.data.split import QUALITY_KEY, split_dataset
from trainpipe.data.split_stream import split_assignment, split_streamed
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def dataset(root: Path, frame: pd.DataFrame, *, block: int, group: str = "") -> str:
    root.mkdir(parents=True)
    frame.to_parquet(root / "data.parquet", index=False, row_group_size=block)
    features = [c for c in frame.columns if c not in ("y", "person")]
    schema = Schema(label="y", task="classification", features=features, classes=["a", "b"],
                    group=group)  # fmt: skip
    (root / "schema.json").write_text(json.dumps(schema.to_dict()))
    return str(root)


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.integers(0, 5, rows) * 1.0})
    frame["person"] = rng.integers(0, rows // 4, rows).astype(str)
    frame["y"] = np.where(frame["x1"] > 0, "a", "b")
    return frame


def config(**split: Any) -> RunConfig:
    return RunConfig.from_dict({"seed": 7, "data": {"source": "x.csv", "label": "y",
                                "stream_threshold_mb": 0}, "split": split})  # fmt: skip


def outputs(root: Path) -> tuple[str, str, str]:
    return (str(root / "train"), str(root / "validation"), str(root / "test"))


def test_the_assignment_is_seeded_and_keeps_equal_keys_together() -> None:
    keys = np.random.default_rng(0).integers(0, 2**63, 100_000, dtype=np.uint64)
    where = split_assignment(keys, seed=1, validation=0.15, test=0.15)
    assert np.array_equal(where, split_assignment(keys, seed=1, validation=0.15, test=0.15))
    assert not np.array_equal(where, split_assignment(keys, seed=2, validation=0.15, test=0.15))
    shares = np.bincount(where, minlength=3) / len(keys)
    np.testing.assert_allclose(shares, [0.7, 0.15, 0.15], atol=0.01)
    twice = split_assignment(np.repeat(keys[:50], 2), seed=1, validation=0.15, test=0.15)
    assert (twice[::2] == twice[1::2]).all()


def test_every_row_lands_once_and_repeats_share_a_split(tmp_path: Path) -> None:
    frame = table(3000)
    frame = pd.concat([frame, frame.iloc[:200]], ignore_index=True)  # 200 repeated rows
    source = dataset(tmp_path / "data", frame, block=256)
    rows, findings = split_streamed(config(), source, outputs(tmp_path))
    parts = [read_dataset(o)[0] for o in outputs(tmp_path)]
    assert [len(p) for p in parts] == list(rows) and sum(rows) == len(frame)
    assert abs(rows[1] / len(frame) - 0.15) < 0.03 and abs(rows[2] / len(frame) - 0.15) < 0.03
    together = pd.concat(parts, ignore_index=True)
    key = ["x1", "x2", "person", "y"]
    assert (
        together.sort_values(key)
        .reset_index(drop=True)
        .equals(frame.sort_values(key).reset_index(drop=True))
    )
    seen = [set(map(tuple, p[["x1", "x2"]].to_numpy().tolist())) for p in parts]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert (
        findings[0]["check"] == "streamed_split"
        and "3,200 rows split as a stream" in (findings[0]["message"])
    )
    assert ParquetBlocks.open(outputs(tmp_path)[0]).block_rows  # readable as a stream


def test_the_split_does_not_depend_on_the_row_groups(tmp_path: Path) -> None:
    frame = table(2000, seed=3)
    small = split_streamed(config(), dataset(tmp_path / "a", frame, block=100),
                           outputs(tmp_path / "out-a"))  # fmt: skip
    large = split_streamed(config(), dataset(tmp_path / "b", frame, block=1500),
                           outputs(tmp_path / "out-b"))  # fmt: skip
    assert small[0] == large[0]
    for a, b in zip(outputs(tmp_path / "out-a"), outputs(tmp_path / "out-b"), strict=True):
        (fa, sa), (fb, sb) = read_dataset(a), read_dataset(b)
        assert fa.equals(fb) and sa == sb


def test_a_group_stays_in_one_split(tmp_path: Path) -> None:
    frame = table(2000, seed=5)
    source = dataset(tmp_path / "data", frame, block=128, group="person")
    _, findings = split_streamed(config(), source, outputs(tmp_path))
    people = [set(read_dataset(o)[0]["person"]) for o in outputs(tmp_path)]
    assert not (people[0] & people[1]) and not (people[0] & people[2])
    assert "split.group_by value 'person'" in findings[0]["message"]


def test_an_empty_split_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    source = dataset(tmp_path / "data", table(8), block=4)
    with pytest.raises(DataError, match=r"the test split \(0\.001\) got no row"):
        split_streamed(config(test=0.001, validation=0.15), source, outputs(tmp_path))
    for location in outputs(tmp_path):
        assert not Path(location).exists() or not any(Path(location).iterdir())


def test_split_dataset_streams_above_the_threshold(tmp_path: Path) -> None:
    source = dataset(tmp_path / "data", table(1000), block=200)
    result = split_dataset(config(), source, *outputs(tmp_path))
    assert result.train_rows + result.validation_rows + result.test_rows == 1000
    quality = json.loads((tmp_path / "train" / QUALITY_KEY).read_text())
    assert quality[0]["check"] == "streamed_split"


def test_a_class_a_split_lacks_is_a_warning(tmp_path: Path) -> None:
    frame = table(2000, seed=1)
    frame.loc[:1, "y"] = "rare"  # two rows: at most two of the three splits hold it
    _, findings = split_streamed(config(), dataset(tmp_path / "data", frame, block=256),
                                 outputs(tmp_path))  # fmt: skip
    held = [set(read_dataset(o)[0]["y"]) for o in outputs(tmp_path)]
    lacking = [name for name, classes in zip(("validation", "test"), held[1:], strict=True)
               if "rare" not in classes]  # fmt: skip
    missing = [f for f in findings if f["check"] == "missing_classes"]
    assert lacking and [f["message"].split(" split")[0] for f in missing] == [
        f"the {name}" for name in lacking
    ]
    assert all(f["severity"] == "warn" for f in missing)
    assert "no rows of class 'rare' (2 rows in all)" in missing[0]["message"]
    assert "stratify" not in missing[0]["message"]  # a stream is not stratified
    assert findings[0]["check"] == "streamed_split"

"""Streaming ingest of a Parquet file: a row group at a time, with the in-memory ingest's
result; ingest streams a Parquet file above the threshold whose features are numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_files import make_config
from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.stream import ingest_parquet_stream
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit

STAT_KEYS = ("rows_in", "rows", "columns", "label_missing_dropped", "duplicates_dropped",
             "missing_rows_dropped", "missing_values")  # fmt: skip


def messy_table(task: str, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Missing cells and labels, and copies of early rows far into the file."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(3)})
    frame["count"] = rng.integers(0, 9, rows)  # an integer feature
    frame["on"] = rng.integers(0, 2, rows).astype(bool)  # a boolean feature
    if task == "classification":
        frame["y"] = pd.Series(rng.choice(["cat", "dog", "eel"], rows), dtype=object)
    else:
        frame["y"] = rng.normal(size=rows)
    frame.loc[rng.choice(rows, 25, replace=False), "x1"] = np.nan
    frame.loc[rng.choice(rows, 6, replace=False), "y"] = None
    early = frame.iloc[rng.choice(40, 20)]
    return pd.concat([frame, early], ignore_index=True)


@pytest.mark.parametrize(
    ("task", "policy"), [("classification", "drop"), ("classification", "mean"),
                         ("regression", "constant")],
)  # fmt: skip
def test_a_parquet_file_streams_to_what_the_in_memory_ingest_writes(
    tmp_path: Path, task: str, policy: str
) -> None:
    source = tmp_path / "data.parquet"
    messy_table(task).to_parquet(source, index=False, row_group_size=16)
    config = make_config(source, label="y", task=task, missing=policy, drop_duplicates=True)
    expected = ingest(config, str(tmp_path / "memory"))
    result = ingest_parquet_stream(config, source, str(tmp_path / "stream"))
    assert result.schema.features == expected.schema.features
    assert result.schema.classes == expected.schema.classes
    for key in STAT_KEYS:
        assert result.stats[key] == expected.stats[key], key
    assert result.stats["duplicates_dropped"] >= 15
    assert result.stats.get("class_balance") == expected.stats.get("class_balance")
    for column, described in result.stats["features"].items():
        for name in ("mean", "std", "min", "max"):
            assert described[name] == pytest.approx(
                expected.stats["features"][column][name], rel=1e-9, abs=1e-12
            ), (column, name)
    frame, _ = read_dataset(str(tmp_path / "stream"))
    memory, _ = read_dataset(str(tmp_path / "memory"))
    pd.testing.assert_frame_equal(frame, memory)
    roles = result.stats["column_roles"]["columns"]
    assert all("a streamed Parquet column" in d["reason"] for d in roles)


def test_integer_and_float_labels_are_named_as_text(tmp_path: Path) -> None:
    source = tmp_path / "data.parquet"
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"x": rng.normal(size=60), "y": np.tile([0, 1, 2], 20)})
    table.to_parquet(source, index=False, row_group_size=7)
    result = ingest_parquet_stream(make_config(source, label="y"), source, str(tmp_path / "a"))
    assert result.schema.classes == ["0", "1", "2"]
    assert result.schema.classes == ingest(make_config(source, label="y"),
                                           str(tmp_path / "b")).schema.classes  # fmt: skip
    table["y"] = table["y"] + 0.5
    table.to_parquet(source, index=False, row_group_size=7)
    result = ingest_parquet_stream(make_config(source, label="y"), source, str(tmp_path / "c"))
    assert result.schema.classes == ["0.5", "1.5", "2.5"]


def test_ingest_streams_a_large_parquet_file_of_numbers(tmp_path: Path) -> None:
    source = tmp_path / "big.parquet"
    messy_table("classification").to_parquet(source, index=False, row_group_size=50)
    config = RunConfig.from_dict(
        {"data": {"source": str(source), "label": "y", "stream_threshold_mb": 0}}
    )
    result = ingest(config, str(tmp_path / "out"))
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.stats["ingest_mode"]["reason"].startswith("a Parquet file above")


def test_a_damaged_parquet_file_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "data.parquet"
    messy_table("classification").to_parquet(source, index=False, row_group_size=16)
    whole = source.read_bytes()
    source.write_bytes(whole[:4] + b"\0" * 2000 + whole[2004:])  # row groups overwritten
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"data\.parquet"):
        ingest_parquet_stream(make_config(source, label="y"), source, str(out))
    assert not out.exists()
    source.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"data\.parquet is not a readable Parquet file"):
        ingest_parquet_stream(make_config(source, label="y"), source, str(out))


def shard(table: pd.DataFrame, parts: int, folder: Path) -> list[Path]:
    """``table`` in ``parts`` Parquet files, each in row groups of 30 rows."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(table)), parts)):
        path = folder / f"part-{i:03d}.parquet"
        table.iloc[part].to_parquet(path, index=False, row_group_size=30)
        paths.append(path)
    return paths


def glob_config(pattern: str) -> RunConfig:
    return RunConfig.from_dict(
        {"data": {"source": pattern, "label": "y", "stream_threshold_mb": 0,
                  "drop_duplicates": True}}
    )  # fmt: skip


def test_a_glob_of_parquet_shards_streams_as_one_table(tmp_path: Path) -> None:
    table = messy_table("classification")
    shard(table, 3, tmp_path / "shards")
    pattern = str(tmp_path / "shards" / "part-*.parquet")
    result = ingest(glob_config(pattern), str(tmp_path / "stream"))
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.stats["ingest_mode"]["reason"].startswith("3 Parquet files above")
    memory = glob_config(pattern).with_overrides({"data.stream_threshold_mb": 10_000})
    expected = ingest(memory, str(tmp_path / "memory"))
    assert expected.stats["ingest_mode"]["mode"] == "memory"
    for key in STAT_KEYS:
        assert result.stats[key] == expected.stats[key], key
    pd.testing.assert_frame_equal(
        read_dataset(str(tmp_path / "stream"))[0], read_dataset(str(tmp_path / "memory"))[0]
    )


def test_shards_with_other_columns_are_refused_naming_the_shard(tmp_path: Path) -> None:
    paths = shard(messy_table("classification"), 2, tmp_path / "shards")
    pd.read_parquet(paths[1]).rename(columns={"x2": "x9"}).to_parquet(paths[1], index=False)
    with pytest.raises(DataError, match=r"part-001\.parquet has columns .*x9.*same header"):
        ingest(glob_config(str(tmp_path / "shards" / "*.parquet")), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_shards_in_a_bucket_stream_by_ranged_reads(s3_env: dict[str, str], tmp_path: Path) -> None:
    from trainpipe.storage.factory import open_store

    table = messy_table("classification")
    store = open_store("s3://shard-bucket/tables")
    for path in shard(table, 2, tmp_path / "shards"):
        store.upload_file(path, f"2026/{path.name}")
    result = ingest(glob_config("s3://shard-bucket/tables/2026/*.parquet"), str(tmp_path / "s3"))
    local = ingest(glob_config(str(tmp_path / "shards" / "*.parquet")), str(tmp_path / "local"))
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.schema.data_hash == local.schema.data_hash

"""Plain table files as dataset inputs: read as ingest reads a source, or by the training plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.table_input import read_input_dataset, table_files
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def _table(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows) + 1000,
            "size": rng.normal(size=rows),
            "colour": rng.choice(["red", "blue"], size=rows),
            "kind": rng.choice(["cat", "dog", "fox"], size=rows),
        }
    )


def _config(**data: object) -> RunConfig:
    return RunConfig.from_dict({"data": {"source": "unused.csv", "label": "kind", **data}})


def test_a_suffixless_csv_file_is_read_as_ingest_reads_a_source(tmp_path: Path) -> None:
    path = tmp_path / "dataset"  # the name KFP gives an output artifact's file
    _table().to_csv(path, index=False)
    frame, schema = read_input_dataset(str(path), _config())
    assert schema.label == "kind" and schema.task == "classification"
    assert schema.classes == ["cat", "dog", "fox"]
    assert schema.features == ["size", "colour"]  # the id column is no feature, as in ingest
    assert schema.categorical == ["colour"]
    assert list(frame.columns) == ["size", "colour", "kind"] and len(frame) == 40
    assert schema.data_hash == read_input_dataset(str(path), _config())[1].data_hash


def test_a_suffixless_parquet_file_is_recognized_by_its_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "dataset"
    _table().to_parquet(path, index=False)
    frame, schema = read_input_dataset(str(path), _config(drop=["colour"]))
    assert schema.features == ["size"]
    assert len(frame) == 40


def test_a_folder_of_tables_is_one_table_in_name_order(tmp_path: Path) -> None:
    table = _table()
    folder = tmp_path / "dataset"
    folder.mkdir()
    table.iloc[20:].to_parquet(folder / "part-1.parquet", index=False)
    table.iloc[:20].to_csv(folder / "part-0.csv", index=False)
    (folder / "_SUCCESS").write_text("")
    assert [Path(f).name for f in table_files(str(folder))] == ["part-0.csv", "part-1.parquet"]
    frame, _ = read_input_dataset(str(folder), _config())
    assert frame["size"].tolist() == pytest.approx(table["size"].tolist())


def test_validation_data_follows_the_training_plan_and_classes(tmp_path: Path) -> None:
    _table(seed=0).to_csv(tmp_path / "train", index=False)
    validation = _table(rows=12, seed=1)
    validation["colour"] = "red"  # one value only: ingest alone would plan it differently
    validation.to_csv(tmp_path / "validation", index=False)
    config = _config()
    _, train_schema = read_input_dataset(str(tmp_path / "train"), config)
    frame, schema = read_input_dataset(str(tmp_path / "validation"), config, reference=train_schema)
    assert schema.features == train_schema.features and schema.classes == train_schema.classes
    assert list(frame.columns) == ["size", "colour", "kind"]

    unknown = _table(rows=12, seed=2).assign(kind="wolf")
    unknown.to_csv(tmp_path / "unknown", index=False)
    with pytest.raises(DataError, match=r"unknown: label column 'kind' holds classes \['wolf'\]"):
        read_input_dataset(str(tmp_path / "unknown"), config, reference=train_schema)
    _table(rows=12).drop(columns=["size"]).to_csv(tmp_path / "lacking", index=False)
    with pytest.raises(DataError, match=r"lacking: lacks the columns \['size'\]"):
        read_input_dataset(str(tmp_path / "lacking"), config, reference=train_schema)


def test_a_trainpipe_dataset_is_read_as_written(iris_splits: dict[str, str]) -> None:
    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    frame, schema = read_input_dataset(iris_splits["train"], config)
    expected_frame, expected_schema = read_dataset(iris_splits["train"])
    assert schema == expected_schema
    pd.testing.assert_frame_equal(frame, expected_frame)


def test_bad_table_inputs_name_the_location_and_the_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty holds no table file and is no trainpipe dataset"):
        read_input_dataset(str(empty), _config())
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _table().to_csv(mixed / "a.csv", index=False)
    _table().drop(columns=["colour"]).to_csv(mixed / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b.csv has the columns .* every file of a dataset"):
        read_input_dataset(str(mixed), _config())
    _table().to_csv(tmp_path / "nolabel", index=False)
    with pytest.raises(DataError, match=r"nolabel: label column 'species' not found"):
        read_input_dataset(str(tmp_path / "nolabel"), _config(label="species"))


def test_the_split_step_splits_a_plain_table(tmp_path: Path) -> None:
    from trainpipe.data.split import split_dataset

    _table(rows=90).to_csv(tmp_path / "dataset", index=False)
    out = {name: str(tmp_path / name) for name in ("train", "validation", "test")}
    result = split_dataset(
        _config(), str(tmp_path / "dataset"), out["train"], out["validation"], out["test"]
    )
    assert result.train_rows + result.validation_rows + result.test_rows == 90
    frame, schema = read_dataset(out["train"])
    assert schema.features == ["size", "colour"] and len(frame) == result.train_rows


def test_a_table_file_and_a_folder_in_an_object_store(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    from trainpipe.storage.factory import open_store

    store = open_store("s3://table-inputs/run")
    _table().to_parquet(tmp_path / "t.parquet", index=False)
    store.upload_file(tmp_path / "t.parquet", "ingest/train")
    store.upload_file(tmp_path / "t.parquet", "folder/part-0.parquet")
    store.upload_file(tmp_path / "t.parquet", "folder/part-1.parquet")
    assert table_files("s3://table-inputs/run/ingest/train") == [
        "s3://table-inputs/run/ingest/train"
    ]
    frame, schema = read_input_dataset("s3://table-inputs/run/ingest/train", _config())
    assert len(frame) == 40 and schema.features == ["size", "colour"]
    frame, _ = read_input_dataset("s3://table-inputs/run/folder", _config())
    assert len(frame) == 80

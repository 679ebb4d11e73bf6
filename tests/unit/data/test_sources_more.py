"""JSON Lines, globs over several files, key-based duplicates, outlier clipping on train only."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema
from trainpipe.data.ingest import ingest
from trainpipe.data.sources import read_source
from trainpipe.errors import DataError
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit


def rows(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + n), "x": np.arange(n) * 1.5,
                         "label": ["a", "b"] * (n // 2)})  # fmt: skip


def test_json_lines(tmp_path: Path) -> None:
    rows(4).to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    assert read_source(str(tmp_path / "d.jsonl")).shape == (4, 3)


def test_glob_concatenates_in_name_order(tmp_path: Path) -> None:
    rows(4, 0).to_csv(tmp_path / "part-1.csv", index=False)
    rows(4, 4).to_csv(tmp_path / "part-2.csv", index=False)
    frame = read_source(str(tmp_path / "part-*.csv"))
    assert frame["id"].tolist() == list(range(8))
    with pytest.raises(DataError, match="no file matches"):
        read_source(str(tmp_path / "nothing-*.csv"))
    rows(4).drop(columns=["x"]).to_csv(tmp_path / "part-3.csv", index=False)
    with pytest.raises(DataError, match=r"part-3\.csv has columns"):
        read_source(str(tmp_path / "part-*.csv"))


@pytest.mark.integration
def test_glob_over_an_s3_prefix(s3_env: dict[str, str], tmp_path: Path) -> None:
    from trainpipe.storage.factory import open_store

    store = open_store("s3://glob-bucket/data")
    for i in range(3):
        path = tmp_path / f"p{i}.csv"
        rows(2, 2 * i).to_csv(path, index=False)
        store.upload_file(path, f"2026/p{i}.csv")
    store.write_text("2026/readme.txt", "not data")
    frame = read_source("s3://glob-bucket/data/2026/p*.csv")
    assert frame["id"].tolist() == list(range(6))


def test_key_based_duplicates(tmp_path: Path) -> None:
    data = pd.concat([rows(4), rows(2).assign(x=[9.0, 9.0])], ignore_index=True)
    data.to_csv(tmp_path / "d.csv", index=False)
    base = {"source": str(tmp_path / "d.csv"), "label": "label"}
    result = ingest(RunConfig.from_dict({"data": {**base, "duplicate_keys": ["id"]}}),
                    str(tmp_path / "out"))  # fmt: skip
    assert result.stats["rows"] == 4 and result.stats["key_duplicates_dropped"] == 2
    with pytest.raises(DataError, match=r"duplicate_keys names columns \['nope'\]"):
        ingest(RunConfig.from_dict({"data": {**base, "duplicate_keys": ["nope"]}}),
               str(tmp_path / "out2"))  # fmt: skip


def test_clipping_bounds_come_from_the_training_split() -> None:
    train = pd.DataFrame({"x": np.r_[np.arange(100.0), 1e6], "label": ["a"] * 101})
    schema = Schema(label="label", task="classification", features=["x"], classes=["a"])
    preprocess = Preprocess.fit(train, schema, clip_quantile=0.01)
    assert preprocess.clip_high[0] < 1000  # the outlier does not set the bound
    held_out = pd.DataFrame({"x": [-1e9, 50.0, 1e9]})
    scaled = preprocess.transform_features(held_out).numpy()[:, 0]
    low, high = preprocess.transform_features(
        pd.DataFrame({"x": [preprocess.clip_low[0], preprocess.clip_high[0]]})
    ).numpy()[:, 0]
    assert scaled[0] == pytest.approx(low) and scaled[2] == pytest.approx(high)
    assert Preprocess(**preprocess.to_dict()) == preprocess  # saved with the model


def test_constant_fill(tmp_path: Path) -> None:
    data = rows(4)
    data.loc[1, "x"] = np.nan
    data.to_csv(tmp_path / "d.csv", index=False)
    cfg = RunConfig.from_dict({"data": {"source": str(tmp_path / "d.csv"), "label": "label",
                                        "missing": "constant", "fill_value": -1.0}})  # fmt: skip
    ingest(cfg, str(tmp_path / "out"))
    from trainpipe.data.dataset import read_dataset

    frame, _ = read_dataset(str(tmp_path / "out"))
    assert frame["x"].tolist()[1] == -1.0 and len(frame) == 4


# --- file suffixes: every one the data.format docs list, and a clear error for any other -----

DOCUMENTED_NAMES = (
    "d.csv",
    "D.CSV",
    "d.tsv",
    "d.txt",
    "d",
    "d.parquet",
    "d.pq",
    "D.PARQUET",
    "d.jsonl",
    "d.ndjson",
    "d.csv.gz",
    "D.TSV.GZ",
    "d.txt.gz",
    "d.jsonl.gz",
    "d.ndjson.gz",
)


def write_as(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` in the format the suffix of ``path`` names (the test's own mapping)."""
    name = path.name.lower()
    compression = "gzip" if name.endswith(".gz") else None
    stem = name.removesuffix(".gz")
    if stem.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    elif stem.endswith((".jsonl", ".ndjson")):
        frame.to_json(path, orient="records", lines=True, compression=compression)
    else:
        sep = "\t" if stem.endswith(".tsv") else ","
        frame.to_csv(path, sep=sep, index=False, compression=compression)


@pytest.mark.parametrize("name", DOCUMENTED_NAMES)
def test_every_documented_suffix_reads_the_table(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_as(rows(6), path)
    pd.testing.assert_frame_equal(read_source(str(path)), rows(6))


def test_a_tab_separated_file_is_split_on_tabs(tmp_path: Path) -> None:
    # a comma inside a field stays in the field: a guessed separator would split it
    (tmp_path / "d.tsv").write_text("x\tnote\tlabel\n1\ta,b\t0\n2\tc\t1\n")
    frame = read_source(str(tmp_path / "d.tsv"))
    assert list(frame.columns) == ["x", "note", "label"]
    assert frame["note"].tolist() == ["a,b", "c"]


def test_data_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    rows(4).to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_source(str(path), "csv"), rows(4))
    parquet = tmp_path / "table.bin"
    rows(4).to_parquet(parquet, index=False)
    pd.testing.assert_frame_equal(read_source(str(parquet), "parquet"), rows(4))


@pytest.mark.parametrize("name", ["data.docx", "data.csv.zip", "data.json"])
def test_unknown_suffix_names_the_file_and_the_accepted_suffixes(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rows(4).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        read_source(str(path))
    message = str(info.value)
    assert str(path) in message
    assert repr(Path(name).suffix) in message
    for suffix in (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".csv.gz"):
        assert suffix in message
    assert "data.format" in message


def test_gzip_compressed_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet.gz"
    path.write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match=r"d\.parquet\.gz.*decompress it"):
        read_source(str(path))


def test_unknown_format_setting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rows(4).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"data\.format 'xml'.*csv, parquet, jsonl"):
        read_source(str(path), "xml")

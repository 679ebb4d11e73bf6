"""Unit tests for trainpipe.data.stream: the streaming CSV ingest.

Small CSVs with a tiny ``block_size`` force many record batches, so duplicates, bad values and
missing values fall in later batches than the first.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import trainpipe.data.stream as stream_module
from data_files import files_under, make_config, write_csv
from trainpipe.config import RunConfig
from trainpipe.data.dataset import frame_hash, read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.stream import ingest_csv_stream
from trainpipe.errors import DataError
from trainpipe.storage.local import LocalStore

pytestmark = pytest.mark.unit

BLOCK = 64
"""Bytes per batch in these tests: two or three rows."""
STAT_KEYS = (
    "rows_in",
    "rows",
    "columns",
    "label_missing_dropped",
    "duplicates_dropped",
    "missing_rows_dropped",
    "missing_values",
)


def batches(path: Path, block_size: int = BLOCK) -> int:
    """How many record batches pyarrow makes of ``path`` with ``block_size``."""
    names = path.read_bytes().split(b"\n", 1)[0].decode().split(",")
    options = pacsv.ReadOptions(block_size=block_size)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.binary()))
    with pacsv.open_csv(path, read_options=options, convert_options=convert) as reader:
        return sum(1 for _ in reader)


def stream_error(config: RunConfig, path: Path, tmp_path: Path, **kwargs: Any) -> str:
    """Stream-ingest expecting a DataError; assert nothing was written; return the message."""
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        ingest_csv_stream(config, path, str(out), block_size=kwargs.pop("block_size", BLOCK))
    assert not out.exists()
    assert not [t for t in threading.enumerate() if t.name == "trainpipe-csv-reader"]
    return str(info.value)


def messy_frame(task: str, seed: int = 0, rows: int = 240) -> pd.DataFrame:
    """Short decimals (exact in both parsers), missing cells, missing labels, far duplicates."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.integers(-400, 400, rows) / 8 for i in range(3)})
    frame.insert(1, "flag", rng.integers(0, 2, rows).astype(float))
    if task == "classification":
        frame["y"] = pd.Series(rng.choice(["cat", "dog", "eel"], rows), dtype=object)
    else:
        frame["y"] = rng.integers(-1000, 1000, rows) / 4
    frame.loc[rng.choice(rows, 20, replace=False), "x1"] = np.nan
    frame.loc[rng.choice(rows, 6, replace=False), "x2"] = np.nan
    frame.loc[rng.choice(rows, 7, replace=False), "y"] = None
    # copies of rows from the start of the file, far into it (and with their NaNs)
    early = frame.iloc[rng.choice(40, 30)]
    frame = pd.concat([frame.iloc[:120], early.iloc[:15], frame.iloc[120:], early.iloc[15:]])
    return frame.reset_index(drop=True)


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)


# --- the same result as the in-memory ingest -------------------------------------------------


@pytest.mark.parametrize(
    ("task", "policy", "dedupe"),
    [
        ("classification", "drop", True),
        ("classification", "mean", True),
        ("classification", "drop", False),
        ("classification", "constant", True),
        ("regression", "drop", True),
        ("regression", "mean", True),
        ("regression", "constant", False),
    ],
)
def test_matches_in_memory_ingest(tmp_path: Path, task: str, policy: str, dedupe: bool) -> None:
    source = tmp_path / "data.csv"
    messy_frame(task).to_csv(source, index=False)
    assert batches(source) > 50
    config = make_config(
        source, label="y", task=task, missing=policy, drop_duplicates=dedupe, fill_value=-2.5
    )

    expected = ingest(config, str(tmp_path / "memory"))
    result = ingest_csv_stream(config, source, str(tmp_path / "stream"), block_size=BLOCK)

    schema, want = result.schema, expected.schema
    assert (schema.label, schema.task, schema.features, schema.classes) == (
        want.label,
        want.task,
        want.features,
        want.classes,
    )
    for key in STAT_KEYS:
        assert result.stats[key] == expected.stats[key], key
    if dedupe:
        assert result.stats["duplicates_dropped"] >= 20  # copies without a label go first
    assert result.stats.get("class_balance") == expected.stats.get("class_balance")
    assert result.stats["features"].keys() == expected.stats["features"].keys()
    for column, described in result.stats["features"].items():
        for name in ("mean", "std", "min", "max"):
            assert described[name] == pytest.approx(
                expected.stats["features"][column][name], rel=1e-9, abs=1e-9
            ), (column, name)
        # fewer rows than the sample: the histograms are the whole column's
        hist, expected_hist = (
            described["histogram"],
            expected.stats["features"][column]["histogram"],
        )
        assert hist["edges"] == pytest.approx(expected_hist["edges"]), column
        assert hist["shares"] == pytest.approx(expected_hist["shares"]), column
    assert result.stats["anomalies"] == expected.stats["anomalies"] == []

    frame, stored = read_dataset(str(tmp_path / "stream"))
    memory, _ = read_dataset(str(tmp_path / "memory"))
    assert stored == schema
    assert list(frame.columns) == list(memory.columns)
    assert frame.dtypes.to_dict() == memory.dtypes.to_dict()
    pd.testing.assert_frame_equal(sorted_frame(frame), sorted_frame(memory))
    # duplicates keep their first occurrence, so even the order is the same
    pd.testing.assert_frame_equal(frame, memory)

    written = sorted(p.name for p in files_under(tmp_path / "stream"))
    assert written == sorted(p.name for p in files_under(tmp_path / "memory"))
    data_schema = json.loads((tmp_path / "stream" / "data_schema.json").read_text())
    memory_schema = json.loads((tmp_path / "memory" / "data_schema.json").read_text())
    for name, column in memory_schema["columns"].items():
        assert data_schema["columns"][name] == column, name
    stats = json.loads((tmp_path / "stream" / "stats.json").read_text())
    assert stats["data_hash"] == schema.data_hash
    assert stats["rows"] == len(frame)


def test_data_hash_ignores_block_size_and_follows_content(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    messy_frame("classification").to_csv(source, index=False)
    config = make_config(source, label="y")
    small = ingest_csv_stream(config, source, str(tmp_path / "a"), block_size=BLOCK)
    large = ingest_csv_stream(config, source, str(tmp_path / "b"))
    assert small.schema.data_hash == large.schema.data_hash
    assert len(small.schema.data_hash) == 64

    changed = messy_frame("classification")
    changed.loc[200, "x0"] = 1000.5
    changed.to_csv(source, index=False)
    other = ingest_csv_stream(config, source, str(tmp_path / "c"), block_size=BLOCK)
    assert other.schema.data_hash != small.schema.data_hash


def test_duplicates_spanning_batches(tmp_path: Path) -> None:
    rows = [f"{i},{i % 7},{'ab'[i % 2]}" for i in range(40)]
    rows += [rows[3], rows[0], rows[39], "-0,3,b", "0,3,b", ",5,a", ",5,a"]
    source = write_csv(tmp_path, "p,q,target\n" + "\n".join(rows) + "\n")
    assert batches(source) > 4
    config = make_config(source, missing="mean", drop_duplicates=True)
    result = ingest_csv_stream(config, source, str(tmp_path / "o"), block_size=BLOCK)
    # rows[3], rows[0], rows[39]; "0,3,b" repeats "-0,3,b"; the second ",5,a" the first
    assert result.stats["duplicates_dropped"] == 5
    assert ingest(config, str(tmp_path / "memory")).stats["duplicates_dropped"] == 5
    assert result.stats["rows"] == 42
    assert result.stats["missing_values"] == {"p": 1, "q": 0}
    frame, _ = read_dataset(str(tmp_path / "o"))
    assert frame["p"].tolist()[:3] == [0.0, 1.0, 2.0]
    assert frame["p"].tolist()[-1] == pytest.approx(np.mean([*range(40), 0.0]))


def test_lenient_numbers_in_a_later_batch(tmp_path: Path) -> None:
    # pyarrow's typed parse rejects these; the text fallback reads them and keeps row order
    rows = [f"{i},{i * 2},{i % 2}" for i in range(60)]
    rows[45] = "45, 90 ,1"
    rows[50] = "50,TRUE,0"
    rows[55] = "55,false,1"
    source = write_csv(tmp_path, "a,b,target\n" + "\n".join(rows) + "\n")
    result = ingest_csv_stream(make_config(source), source, str(tmp_path / "o"), block_size=BLOCK)
    assert result.stats["rows"] == 60
    frame, _ = read_dataset(str(tmp_path / "o"))
    expected = [float(i * 2) for i in range(60)]
    expected[50], expected[55] = 1.0, 0.0
    assert frame["b"].tolist() == expected
    assert frame["a"].tolist() == [float(i) for i in range(60)]


def test_remote_store_uploads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class RemoteLike(LocalStore):
        def local_path(self, key: str) -> None:  # type: ignore[override]
            return None

    monkeypatch.setattr(stream_module, "open_store", lambda location: RemoteLike(location))
    source = tmp_path / "data.csv"
    messy_frame("classification").to_csv(source, index=False)
    result = ingest_csv_stream(make_config(source, label="y"), source, str(tmp_path / "o"))
    frame, schema = read_dataset(str(tmp_path / "o"))
    assert schema == result.schema
    assert len(frame) == result.stats["rows"]


@pytest.mark.parametrize("name", ["data.tsv", "DATA.CSV", "data.txt", "data.csv.gz", "Data.TSV.GZ"])
def test_every_csv_suffix_streams_as_in_memory(tmp_path: Path, name: str) -> None:
    source = tmp_path / name
    lowered = name.lower()
    messy_frame("classification").to_csv(
        source,
        sep="\t" if ".tsv" in lowered else ",",
        index=False,
        compression="gzip" if lowered.endswith(".gz") else None,
    )
    config = make_config(source, label="y")
    expected = ingest(config, str(tmp_path / "memory"))
    result = ingest_csv_stream(config, source, str(tmp_path / "stream"), block_size=BLOCK)
    assert result.schema.features == expected.schema.features == ["x0", "flag", "x1", "x2"]
    for key in STAT_KEYS:
        assert result.stats[key] == expected.stats[key], key
    frame, _ = read_dataset(str(tmp_path / "stream"))
    memory, _ = read_dataset(str(tmp_path / "memory"))
    pd.testing.assert_frame_equal(frame, memory)


def test_streaming_refuses_a_file_it_would_not_read_as_csv(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,0\n2,1\n", name="data.jsonl")
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.jsonl" in message
    assert "jsonl" in message and "CSV" in message


# --- errors: each names the problem and writes nothing ---------------------------------------


def test_streaming_refuses_a_setting_it_cannot_honour(tmp_path: Path) -> None:
    """Called directly, the streaming ingest refuses what it would otherwise ignore."""
    source = write_csv(tmp_path, "x,person,y\n1,7,a\n2,7,b\n3,8,a\n")
    config = RunConfig.from_dict(
        {"data": {"source": str(source), "label": "y"}, "split": {"group_by": "person"}}
    )
    message = stream_error(config, source, tmp_path)
    assert "cannot honour these settings: split.group_by 'person'" in message
    assert "trainpipe.data.ingest.ingest" in message


def numbered_rows(count: int) -> list[str]:
    return [f"{i},{i + 0.5},{i % 3}" for i in range(count)]


def test_non_numeric_value_in_a_later_batch(tmp_path: Path) -> None:
    rows = numbered_rows(200)
    rows[149] = "149,oops,1"  # data row 150
    source = write_csv(tmp_path, "a,b,target\n" + "\n".join(rows) + "\n")
    assert batches(source) > 20
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.csv" in message
    assert "'b'" in message
    assert "'oops'" in message
    assert "data row 150;" in message


def test_non_numeric_value_in_the_first_batch(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,2,0\nx7,4,1\n5,6,0\n")
    message = stream_error(make_config(source), source, tmp_path, block_size=1 << 20)
    assert "'a'" in message
    assert "'x7'" in message
    assert "data row 2;" in message


def test_non_numeric_regression_label(tmp_path: Path) -> None:
    rows = [f"{i},{i / 4}" for i in range(80)]
    rows[70] = "70,cheap"
    source = write_csv(tmp_path, "a,price\n" + "\n".join(rows) + "\n")
    message = stream_error(make_config(source, label="price", task="regression"), source, tmp_path)
    assert "'price'" in message
    assert "'cheap'" in message
    assert "data row 71;" in message


def test_missing_label_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "alpha,beta,gamma\n1,2,3\n4,5,6\n")
    message = stream_error(make_config(source, label="target"), source, tmp_path)
    assert "'target'" in message
    assert "alpha, beta, gamma" in message
    assert "data.label" in message


def test_empty_file(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "")
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.csv" in message
    assert "empty" in message


def test_blank_lines_only(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "\n\n\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "empty" in message


def test_header_only(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.csv" in message
    assert "header but no rows" in message


def test_non_utf8_bytes_in_a_later_batch(tmp_path: Path) -> None:
    rows = [r.encode() for r in numbered_rows(100)]
    rows[79] = b"79,\xff\xfe,1"  # line 81 of the file
    source = write_csv(tmp_path, b"a,b,target\n" + b"\n".join(rows) + b"\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.csv" in message
    assert "not UTF-8" in message
    assert "line 81" in message


def test_non_utf8_bytes_in_a_compressed_file_name_the_line(tmp_path: Path) -> None:
    rows = [r.encode() for r in numbered_rows(100)]
    rows[59] = b"59,\xff,1"  # line 61 of the decompressed text
    source = tmp_path / "data.csv.gz"
    source.write_bytes(gzip.compress(b"a,b,target\n" + b"\n".join(rows) + b"\n"))
    message = stream_error(make_config(source), source, tmp_path)
    assert "data.csv.gz" in message
    assert "not UTF-8" in message
    assert "line 61" in message


def test_non_utf8_label_in_the_first_batch(tmp_path: Path) -> None:
    source = write_csv(tmp_path, b"a,target\n1,x\n2,\xe9t\xe9\n")
    message = stream_error(make_config(source), source, tmp_path, block_size=1 << 20)
    assert "not UTF-8" in message
    assert "line 3" in message


def test_missing_policy_fail(tmp_path: Path) -> None:
    rows = numbered_rows(90)
    rows[60] = "60,,1"  # data row 61
    source = write_csv(tmp_path, "a,b,target\n" + "\n".join(rows) + "\n")
    message = stream_error(make_config(source, missing="fail"), source, tmp_path)
    assert "'b'" in message
    assert "'fail'" in message
    assert "data row 61" in message


@pytest.mark.parametrize("policy", ["median", "mode"])
def test_median_and_mode_need_the_in_memory_ingest(tmp_path: Path, policy: str) -> None:
    source = write_csv(tmp_path, "a,target\n1,0\n,1\n3,1\n")
    message = stream_error(make_config(source, missing=policy), source, tmp_path)
    assert repr(policy) in message
    assert "without streaming" in message
    assert "drop" in message


def test_all_missing_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,empty,target\n1,,0\n2,,1\n3,NA,0\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "'empty'" in message
    assert "all missing" in message


def test_single_class(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,yes\n2,yes\n3,yes\n4,\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "single class" in message
    assert "'yes'" in message


def test_no_rows_left(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,,0\n,2,1\n")
    message = stream_error(make_config(source, missing="drop"), source, tmp_path)
    assert "no rows left" in message


def test_ragged_row(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n" + "\n".join(numbered_rows(50)) + "\n1,2\n")
    message = stream_error(make_config(source), source, tmp_path)
    assert "cannot be parsed as CSV" in message
    assert "Expected 3 columns" in message


def test_missing_file(tmp_path: Path) -> None:
    message = stream_error(make_config("x"), tmp_path / "nope.csv", tmp_path)
    assert "nope.csv" in message
    assert "does not exist" in message


def test_error_leaves_an_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rows = numbered_rows(100)
    rows[90] = "90,bad,0"
    source = write_csv(tmp_path, "a,b,target\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="'bad'"):
        ingest_csv_stream(make_config(source), source, str(out), block_size=BLOCK)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_large_local_csv_files_are_streamed_by_ingest(tmp_path: Path) -> None:
    from trainpipe.data.ingest import ingest

    source = tmp_path / "big.csv"
    rows = "".join(f"{i * 37 % 1000},{i % 7},{i % 2}\n" for i in range(3000))
    source.write_text("a,b,label\n" + rows)
    config = RunConfig.from_dict(
        {"data": {"source": str(source), "label": "label", "stream_threshold_mb": 0}}
    )
    result = ingest(config, str(tmp_path / "out"))
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.stats["rows"] == 3000 and result.schema.classes == ["0", "1"]
    frame, _ = read_dataset(str(tmp_path / "out"))
    assert result.stats["data_hash"] != frame_hash(frame)  # the streaming path's own hash


def test_padded_labels_are_trimmed_and_counted_as_in_memory(tmp_path: Path) -> None:
    rows = "".join(
        f"{i % 7},{label}\n" for i, label in enumerate([" yes", "yes", "no ", "Yes"] * 5)
    )
    source = write_csv(tmp_path, "x,y\n" + rows)
    config = make_config(source, label="y")
    streamed = ingest_csv_stream(config, source, str(tmp_path / "stream"), block_size=BLOCK)
    memory = ingest(config, str(tmp_path / "memory"))
    assert streamed.schema.classes == memory.schema.classes == ["Yes", "no", "yes"]
    assert (
        streamed.stats["labels"]
        == memory.stats["labels"]
        == {
            "trimmed": {"rows": 10, "example": " yes"},
            "case_variants": [["Yes", "yes"]],
        }
    )

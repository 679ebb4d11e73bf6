"""Unit tests for trainpipe.data.ingest: validation, cleaning, statistics, no output on error."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from data_files import S3_ENV_VARS, denying_s3_server, files_under, make_config, write_csv
from trainpipe.config import RunConfig
from trainpipe.data.dataset import frame_hash, read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.ingest_mode import IngestMode
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def ingest_error(config: RunConfig, tmp_path: Path) -> str:
    """Ingest expecting a DataError; assert nothing was written and return the message."""
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        ingest(config, str(out))
    assert files_under(out) == []
    return str(info.value)


# --- the builtin digits ----------------------------------------------------------------------


def test_builtin_digits(tmp_path: Path) -> None:
    config = make_config("builtin:digits")
    out = tmp_path / "out"
    result = ingest(config, str(out))
    schema, stats = result.schema, result.stats
    assert stats["ingest_mode"]["mode"] == "memory"
    assert "builtin" in stats["ingest_mode"]["reason"]
    assert stats["rows"] == 1797
    assert stats["rows_in"] == 1797
    assert stats["columns"] == 65
    assert stats["duplicates_dropped"] == 0
    assert len(schema.features) == 64
    assert "target" not in schema.features
    assert schema.classes == [str(i) for i in range(10)]
    assert schema.task == "classification"
    expected = np.bincount(load_digits().target, minlength=10)
    assert stats["class_balance"] == {str(i): int(n) for i, n in enumerate(expected)}
    assert sum(stats["class_balance"].values()) == 1797
    pixel = load_digits().data[:, 36]
    assert stats["features"]["pixel_4_4"]["mean"] == pytest.approx(pixel.mean())
    assert stats["features"]["pixel_4_4"]["max"] == pytest.approx(pixel.max())
    assert len(schema.data_hash) == 64

    frame, stored = read_dataset(str(out))
    assert stored == schema
    assert frame.shape == (1797, 65)
    assert frame["target"].tolist()[:3] == ["0", "1", "2"]
    assert json.loads((out / "stats.json").read_text())["data_hash"] == schema.data_hash

    again = ingest(config, str(tmp_path / "again"))
    assert again.schema.data_hash == schema.data_hash


def test_data_hash_is_the_hash_of_the_written_dataset(tmp_path: Path) -> None:
    # ingest hashes the frame before it turns class labels into strings, so the hash recorded in
    # schema.json describes a table that is never written.
    result = ingest(make_config("builtin:iris"), str(tmp_path / "out"))
    frame, schema = read_dataset(str(tmp_path / "out"))
    assert schema.data_hash == result.schema.data_hash
    assert frame_hash(frame) == schema.data_hash


def test_unknown_builtin(tmp_path: Path) -> None:
    message = ingest_error(make_config("builtin:mnist"), tmp_path)
    assert "builtin:mnist" in message
    assert "digits" in message


# --- a good CSV ------------------------------------------------------------------------------


def test_csv_ingest_writes_dataset_and_stats(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    out = tmp_path / "out"
    result = ingest(make_config(source, label="label"), str(out))
    assert result.schema.features == ["a", "b"]
    assert result.schema.classes == ["x", "y"]
    assert result.stats["class_balance"] == {"x": 2, "y": 1}
    assert result.stats["features"]["a"]["histogram"]["edges"][0] == 1.0
    assert result.stats["features"]["a"] | {"histogram": None} == {
        "histogram": None,
        "mean": 3.0,
        "std": pytest.approx(np.std([1, 3, 5])),
        "min": 1.0,
        "max": 5.0,
    }
    frame, _ = read_dataset(str(out))
    assert frame["a"].tolist() == [1.0, 3.0, 5.0]
    assert frame["a"].dtype == np.float64
    assert sorted(p.name for p in files_under(out)) == [
        "data.parquet",
        "data_schema.json",
        "schema.json",
        "statistics.html",
        "stats.json",
    ]


def test_numeric_classes_sort_naturally(tmp_path: Path) -> None:
    rows = "".join(f"{i},{c}\n" for i, c in enumerate([10, 2, 1, 2, 10]))
    result = ingest(
        make_config(write_csv(tmp_path, "a,t\n" + rows), label="t"), str(tmp_path / "o")
    )
    assert result.schema.classes == ["1", "2", "10"]


# --- errors: each names the problem and writes nothing ---------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    message = ingest_error(make_config(write_csv(tmp_path, "")), tmp_path)
    assert "data.csv" in message
    assert "empty" in message


def test_header_only_file(tmp_path: Path) -> None:
    message = ingest_error(make_config(write_csv(tmp_path, "a,b,target\n")), tmp_path)
    assert "data.csv" in message
    assert "header but no rows" in message


def test_missing_label_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "alpha,beta,gamma\n1,2,3\n4,5,6\n")
    message = ingest_error(make_config(source, label="target"), tmp_path)
    assert "'target'" in message
    assert "alpha, beta, gamma" in message
    assert "data.label" in message


def test_a_comment_line_read_as_the_header_says_how_to_skip_it(tmp_path: Path) -> None:
    """The comment has as many fields as the rows (none), so the reader cannot tell; the missing
    label can: the error names the comment setting."""
    source = write_csv(tmp_path, "# exported by a tool\nalpha\n1\n2\n")
    message = ingest_error(make_config(source, label="alpha"), tmp_path)
    assert "label column 'alpha' not found" in message
    assert 'set data.csv.comment: "#"' in message


def test_single_class(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,yes\n2,yes\n3,yes\n")
    message = ingest_error(make_config(source), tmp_path)
    assert "single class" in message
    assert "'yes'" in message


def test_non_numeric_value_in_a_numeric_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,2,0\n3,4,1\n5,oops,0\n")
    message = ingest_error(make_config(source, roles={"b": "numeric"}), tmp_path)
    assert "'b'" in message
    assert "data.roles.b" in message
    assert "'oops'" in message
    assert "row 3" in message


def test_a_bad_regression_label_is_named_at_its_row_in_the_file(tmp_path: Path) -> None:
    """Rows without a label are dropped before the label is read as numbers: the error still
    counts the data rows of the file (the bad value is on data row 6, file line 7)."""
    rows = "a,target\n1,10\n2,\n3,12\n4,\n5,14\n6,approx 100\n7,16\n"
    source = write_csv(tmp_path, rows)
    message = ingest_error(make_config(source, task="regression"), tmp_path)
    assert "label column 'target' has a non-numeric value 'approx 100' at data row 6" in message
    assert "task: classification" in message and "drop the column" not in message


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([round(0.37 * i, 2) for i in range(60)], "60 distinct numbers"),  # fractional
        ([25 + i // 2 for i in range(300)], "150 distinct numbers"),  # 2 rows a class
    ],
)
def test_a_quantity_is_not_taken_for_classes(tmp_path: Path, values: list[float], why: str) -> None:
    rows = "".join(f"{i % 7},{v}\n" for i, v in enumerate(values))
    source = write_csv(tmp_path, "a,target\n" + rows)
    message = ingest_error(make_config(source), tmp_path)
    assert f"label column 'target' holds {why}" in message
    assert "set task: regression" in message


def test_numeric_class_codes_with_enough_rows_are_classes(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7},{i % 40}\n" for i in range(400))  # 40 codes, 10 rows each
    source = write_csv(tmp_path, "a,target\n" + rows)
    result = ingest(make_config(source), str(tmp_path / "out"))
    assert len(result.schema.classes) == 40


def test_all_missing_column(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,empty,target\n1,,0\n2,,1\n3,,0\n")
    message = ingest_error(make_config(source), tmp_path)
    assert "'empty'" in message
    assert "all missing" in message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    source = write_csv(tmp_path, b"a,b,target\n1,2,0\n3,\xff\xfe,1\n")
    message = ingest_error(make_config(source), tmp_path)
    assert "data.csv" in message
    assert "not UTF-8" in message


def test_nonexistent_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    message = ingest_error(make_config(missing), tmp_path)
    assert str(missing) in message
    assert "does not exist" in message


def test_unparseable_row(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,2,x\n3,4,5,y\n5,6,z\n")
    message = ingest_error(make_config(source), tmp_path)
    assert "data.csv" in message
    assert "line 3" in message
    assert "\n" not in message


def test_s3_uri_without_an_endpoint_or_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in S3_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    message = ingest_error(make_config("s3://training-data/iris.csv"), tmp_path)
    assert "s3://training-data/iris.csv" in message
    assert "TRAINPIPE_S3_ENDPOINT" in message
    assert "AWS_ACCESS_KEY_ID" in message


def test_s3_uri_without_credentials_is_refused_by_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous requests to a server that requires credentials: the S3 AccessDenied answer."""
    for name in S3_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with denying_s3_server() as endpoint:
        monkeypatch.setenv("TRAINPIPE_S3_ENDPOINT", endpoint)
        message = ingest_error(make_config("s3://training-data/iris.csv"), tmp_path)
    assert "s3://training-data/iris.csv" in message
    assert "AccessDenied" in message
    assert "AWS_ACCESS_KEY_ID" in message


def test_unknown_extension(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,0\n2,1\n", name="data.docx")
    message = ingest_error(make_config(source), tmp_path)
    assert "'.docx'" in message
    assert "data.format" in message


def test_label_is_the_only_column(tmp_path: Path) -> None:
    message = ingest_error(make_config(write_csv(tmp_path, "target\n0\n1\n")), tmp_path)
    assert "no feature columns" in message


def test_regression_label_must_be_numeric(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,price\n1,10.5\n2,cheap\n3,7\n")
    message = ingest_error(make_config(source, label="price", task="regression"), tmp_path)
    assert "'price'" in message
    assert "'cheap'" in message


def test_regression_ingest(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,price\n1,10.5\n2,3\n3,7\n")
    result = ingest(make_config(source, label="price", task="regression"), str(tmp_path / "out"))
    assert result.schema.classes == []
    assert "class_balance" not in result.stats
    frame, _ = read_dataset(str(tmp_path / "out"))
    assert frame["price"].tolist() == [10.5, 3.0, 7.0]


# --- cleaning --------------------------------------------------------------------------------


def test_duplicates_dropped_and_counted(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,2,0\n1,2,0\n3,4,1\n1,2,0\n5,6,1\n1,2,1\n")
    result = ingest(make_config(source, drop_duplicates=True), str(tmp_path / "out"))
    assert result.stats["rows_in"] == 6
    assert result.stats["duplicates_dropped"] == 2
    assert result.stats["rows"] == 4
    frame, _ = read_dataset(str(tmp_path / "out"))
    assert frame.values.tolist() == [
        [1.0, 2.0, "0"],
        [3.0, 4.0, "1"],
        [5.0, 6.0, "1"],
        [1.0, 2.0, "1"],
    ]


def test_duplicates_kept_when_disabled(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,0\n1,0\n2,1\n")
    result = ingest(make_config(source, drop_duplicates=False), str(tmp_path / "out"))
    assert result.stats["duplicates_dropped"] == 0
    assert result.stats["rows"] == 3


def test_rows_without_label_are_dropped(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,target\n1,0\n2,\n3,1\n")
    result = ingest(make_config(source), str(tmp_path / "out"))
    assert result.stats["label_missing_dropped"] == 1
    assert result.stats["rows"] == 2


MISSING = "a,b,target\n1,10,0\n2,,1\n3,30,1\n4,,0\n5,80,0\n"


def test_missing_drop(tmp_path: Path) -> None:
    result = ingest(make_config(write_csv(tmp_path, MISSING), missing="drop"), str(tmp_path / "o"))
    assert result.stats["missing_rows_dropped"] == 2
    assert result.stats["missing_values"] == {"a": 0, "b": 2}
    assert result.stats["rows"] == 3
    frame, _ = read_dataset(str(tmp_path / "o"))
    assert frame["a"].tolist() == [1.0, 3.0, 5.0]
    assert frame["b"].tolist() == [10.0, 30.0, 80.0]


@pytest.mark.parametrize(("policy", "fill"), [("mean", 40.0), ("median", 30.0)])
def test_missing_impute(tmp_path: Path, policy: str, fill: float) -> None:
    config = make_config(write_csv(tmp_path, MISSING), missing=policy)
    result = ingest(config, str(tmp_path / "o"))
    assert result.stats["missing_rows_dropped"] == 0
    assert result.stats["missing_values"] == {"a": 0, "b": 2}
    assert result.stats["rows"] == 5
    frame, _ = read_dataset(str(tmp_path / "o"))
    assert frame["b"].tolist() == [10.0, fill, 30.0, fill, 80.0]
    assert not frame.isna().to_numpy().any()


def test_missing_fail(tmp_path: Path) -> None:
    message = ingest_error(make_config(write_csv(tmp_path, MISSING), missing="fail"), tmp_path)
    assert "'b'" in message
    assert "'fail'" in message


def test_no_rows_left(tmp_path: Path) -> None:
    source = write_csv(tmp_path, "a,b,target\n1,,0\n,2,1\n")
    message = ingest_error(make_config(source, missing="drop"), tmp_path)
    assert "no rows left" in message


def test_parquet_source(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pd.DataFrame(
        {"a": [1, 2, 3, 4], "flag": [True, False, True, True], "y": [0, 1, 0, 1]}
    ).to_parquet(path)
    result = ingest(make_config(path, label="y"), str(tmp_path / "out"))
    assert result.schema.features == ["a", "flag"]
    assert result.stats["features"]["flag"]["mean"] == pytest.approx(0.75)


# --- streamed or in memory: the choice is printed when it matters and recorded --------------


def ingest_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines ingest printed about its mode."""
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("ingest:")]


def small_table(rows: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": np.arange(rows) * 0.5,
            "color": ["red", "blue"] * (rows // 2),
            "note": [f"word{i % 5} other" for i in range(rows)],
            "target": [0, 1, 1, 0] * (rows // 4),
        }
    )


def test_a_large_csv_split_by_group_is_read_into_memory_with_its_group_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Streaming reads every column as a numeric feature, so it would turn the group column
    into one and split rows of a group apart: such a file is read into memory, and says so."""
    table = small_table().assign(person=np.arange(40) // 4)[["x", "person", "target"]]
    table.to_csv(tmp_path / "d.csv", index=False)
    document = {
        "data": {"source": str(tmp_path / "d.csv"), "stream_threshold_mb": 0},
        "split": {"group_by": "person"},
    }
    result = ingest(RunConfig.from_dict(document), str(tmp_path / "out"))

    (line,) = ingest_lines(capsys)
    assert "read into memory: split.group_by 'person' needs the in-memory ingest" in line
    assert result.stats["ingest_mode"]["mode"] == "memory"
    assert result.schema.group == "person" and result.schema.features == ["x"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("d.csv", {"categorical": ["color"]}, "data.categorical ['color']"),
        ("d.csv", {"text": "note"}, "data.text 'note'"),
        ("d.csv", {"duplicate_keys": ["x"]}, "data.duplicate_keys ['x']"),
        ("d.csv", {"missing": "median"}, "data.missing 'median' needs whole columns"),
        ("d.parquet", {}, "the columns 'color' ("),
        ("d.jsonl", {}, "JSON Lines is read whole"),
    ],
)
def test_a_large_source_read_into_memory_says_why(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: dict[str, object],
    reason: str,
) -> None:
    table = small_table()
    if "text" in data:
        table = table[["note", "target"]]
    elif "categorical" in data or name.endswith(".parquet"):  # Parquet: a column of strings
        table = table[["x", "color", "target"]]
    else:
        table = table[["x", "target"]]
    path = tmp_path / name
    if name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_csv(path, index=False)
    settings: dict[str, object] = {"source": str(path), "stream_threshold_mb": 0, **data}
    document: dict[str, object] = {"data": settings}
    if "text" in data:
        document["model"] = {"kind": "transformer"}
    result = ingest(RunConfig.from_dict(document), str(tmp_path / "out"))

    (line,) = ingest_lines(capsys)
    size = path.stat().st_size
    assert str(path) in line
    assert f"({size} bytes)" in line or f"({size / 2**10:.1f} KiB)" in line
    assert "is above data.stream_threshold_mb (0 MiB)" in line
    assert "read into memory" in line
    assert reason in line
    recorded = result.stats["ingest_mode"]
    assert recorded["mode"] == "memory"
    assert reason in recorded["reason"]
    assert (recorded["size_bytes"], recorded["threshold_mb"]) == (size, 0)
    stored = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stored["ingest_mode"] == recorded
    report = html.unescape((tmp_path / "out" / "statistics.html").read_text())
    assert f"in memory: {recorded['reason']}" in report


def test_every_obstacle_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.csv"
    small_table()[["x", "color", "target"]].to_csv(path, index=False)
    config = make_config(
        path, categorical=["color"], duplicate_keys=["x"], missing="mode", stream_threshold_mb=0
    )
    ingest(config, str(tmp_path / "out"))
    (line,) = ingest_lines(capsys)
    for setting in ("data.categorical", "data.duplicate_keys", "data.missing 'mode'"):
        assert setting in line


def test_a_large_glob_is_read_into_memory_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = small_table()[["x", "target"]]
    table.iloc[:20].to_csv(tmp_path / "part-1.csv", index=False)
    table.iloc[20:].to_csv(tmp_path / "part-2.csv", index=False)
    pattern = str(tmp_path / "part-*.csv")
    result = ingest(make_config(pattern, stream_threshold_mb=0), str(tmp_path / "out"))
    (line,) = ingest_lines(capsys)
    size = sum(p.stat().st_size for p in tmp_path.glob("part-*.csv"))
    assert pattern in line and f"({size} bytes)" in line and "a glob" in line
    assert result.stats["ingest_mode"]["mode"] == "memory"
    assert result.stats["ingest_mode"]["size_bytes"] == size
    assert result.stats["rows"] == 40


def test_the_notice_gives_the_size_in_the_unit_that_fits() -> None:
    def memory(size: int) -> IngestMode:
        return IngestMode(mode="memory", reason="why", size_bytes=size, threshold_mb=512)

    assert memory(3 * 2**30).notice("big.csv") == (
        "ingest: big.csv (3.0 GiB) is above data.stream_threshold_mb (512 MiB) but is read into "
        "memory: why"
    )
    assert "(600.5 MiB)" in str(memory(600 * 2**20 + 2**19).notice("big.csv"))
    assert memory(512 * 2**20).notice("big.csv") is None  # not above the threshold
    streamed = IngestMode(mode="stream", reason="why", size_bytes=2**30, threshold_mb=512)
    assert streamed.notice("big.csv") is None


def test_a_small_source_is_read_into_memory_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.csv"
    small_table()[["x", "target"]].to_csv(path, index=False)
    result = ingest(make_config(path, categorical=[]), str(tmp_path / "out"))
    assert ingest_lines(capsys) == []
    assert result.stats["ingest_mode"]["mode"] == "memory"
    assert "within data.stream_threshold_mb (512 MiB)" in result.stats["ingest_mode"]["reason"]


@pytest.mark.parametrize("name", ["d.csv", "D.CSV", "d.tsv", "d.txt", "d.csv.gz"])
def test_a_large_csv_file_of_any_csv_suffix_is_streamed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / name
    lowered = name.lower()
    table = small_table()[["x", "target"]]
    sep = "\t" if ".tsv" in lowered else ","
    table.to_csv(path, sep=sep, index=False, compression="infer" if ".gz" in lowered else None)
    result = ingest(make_config(path, stream_threshold_mb=0), str(tmp_path / "out"))
    assert ingest_lines(capsys) == []
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert (
        "a CSV file above data.stream_threshold_mb (0 MiB)" in result.stats["ingest_mode"]["reason"]
    )
    memory = ingest(make_config(path), str(tmp_path / "memory"))
    assert memory.stats["ingest_mode"]["mode"] == "memory"
    pd.testing.assert_frame_equal(
        read_dataset(str(tmp_path / "out"))[0], read_dataset(str(tmp_path / "memory"))[0]
    )


def test_a_large_csv_in_an_object_store_is_streamed_from_its_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trainpipe.data.sources as sources
    from trainpipe.storage.local import LocalStore

    bucket = tmp_path / "bucket"
    monkeypatch.setattr(
        sources, "open_store", lambda uri: LocalStore(bucket / uri.removeprefix("s3://"))
    )
    (bucket / "raw").mkdir(parents=True)
    small_table()[["x", "target"]].to_csv(bucket / "raw" / "d.csv", index=False)
    uri = "s3://raw/d.csv"
    result = ingest(make_config(uri, stream_threshold_mb=0), str(tmp_path / "out"))
    assert ingest_lines(capsys) == []
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.stats["source"] == uri
    assert result.stats["rows"] == 40
    report = html.unescape((tmp_path / "out" / "statistics.html").read_text())
    assert uri in report
    assert f"streamed: {result.stats['ingest_mode']['reason']}" in report


@pytest.mark.integration
def test_a_large_csv_on_an_s3_server_is_streamed(s3_env: dict[str, str], tmp_path: Path) -> None:
    from trainpipe.storage.factory import open_store

    local = tmp_path / "d.csv"
    small_table()[["x", "target"]].to_csv(local, index=False)
    open_store("s3://stream-bucket").upload_file(local, "raw/d.csv")
    uri = "s3://stream-bucket/raw/d.csv"
    result = ingest(make_config(uri, stream_threshold_mb=0), str(tmp_path / "out"))
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.stats["ingest_mode"]["size_bytes"] == local.stat().st_size
    assert result.stats["source"] == uri and result.stats["rows"] == 40


def test_a_large_csv_whose_first_rows_hold_no_plain_numbers_is_read_into_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Streaming would read an id as a number and fail on a category: such columns, found in
    the first rows, keep the file in memory, and the line says how to stream it instead."""
    path = tmp_path / "d.csv"
    table = small_table().assign(user_id=np.arange(40) % 13)[["user_id", "x", "color", "target"]]
    table.to_csv(path, index=False)
    result = ingest(make_config(path, stream_threshold_mb=0), str(tmp_path / "out"))
    (line,) = ingest_lines(capsys)
    assert "its first 40 rows hold columns that are no plain numbers" in line
    assert "'user_id' (id: integers in a column named like an identifier)" in line
    assert "'color' (categorical: 2 distinct values)" in line
    assert "to stream the file, list such columns in data.drop" in line
    assert result.stats["ingest_mode"]["mode"] == "memory"
    assert result.schema.group == "user_id" and result.schema.categorical == ["color"]


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_a_large_file_streams_without_the_columns_data_drop_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / name
    table = small_table().assign(user_id=np.arange(40) % 13)[["user_id", "x", "color", "target"]]
    if name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    config = make_config(path, stream_threshold_mb=0, drop=["user_id", "color"])
    result = ingest(config, str(tmp_path / "out"))
    assert ingest_lines(capsys) == []
    assert result.stats["ingest_mode"]["mode"] == "stream"
    assert result.schema.features == ["x"]
    assert result.stats["column_roles"]["dropped"] == ["user_id", "color"]
    frame, _ = read_dataset(str(tmp_path / "out"))
    assert list(frame.columns) == ["x", "target"] and len(frame) == 40
    with pytest.raises(DataError, match=r"data\.drop names \['age'\], which the data lacks"):
        ingest(make_config(path, stream_threshold_mb=0, drop=["age"]), str(tmp_path / "o2"))

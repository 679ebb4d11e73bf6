"""``data.csv``: how CSV exports that are not plain comma-separated UTF-8 are read.

Each test writes a file the way a real export looks (a European semicolon file with decimal
commas and a byte-order mark, a finance download with a comment line above the header, a
cp1252 file, a gzip-compressed one) and reads it in memory and through the streaming reader
(``data.stream_threshold_mb: 0``), which must agree.
"""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import trainpipe.data.file_formats as file_formats
from data_files import files_under
from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.file_formats import FileFormat, file_format, header_hint, resolve_format
from trainpipe.data.ingest import ingest, ingest_notices
from trainpipe.data.ingest_result import IngestResult
from trainpipe.data.sources import read_source
from trainpipe.data.stream import ingest_csv_stream
from trainpipe.data.table_input import read_input_dataset
from trainpipe.errors import ConfigError, DataError

pytestmark = pytest.mark.unit


def config(source: Path | str, task: str = "classification", **data: Any) -> RunConfig:
    return RunConfig.from_dict({"task": task, "data": {"source": str(source), **data}})


def both_ways(tmp_path: Path, source: Path, **data: Any) -> tuple[IngestResult, IngestResult]:
    """Ingest ``source`` in memory and streamed; assert each was read the way it says."""
    memory = ingest(config(source, **data), str(tmp_path / "memory"))
    streamed = ingest(config(source, stream_threshold_mb=0, **data), str(tmp_path / "stream"))
    assert memory.stats["ingest_mode"]["mode"] == "memory"
    assert streamed.stats["ingest_mode"]["mode"] == "stream"
    return memory, streamed


def ingest_error(cfg: RunConfig, tmp_path: Path) -> str:
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        ingest(cfg, str(out))
    assert files_under(out) == []
    return str(info.value)


def european_export(rows: int = 60, seed: int = 0) -> tuple[str, pd.DataFrame]:
    """A semicolon-separated export with decimal commas, and the numbers it holds."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": np.round(rng.uniform(20, 80, rows), 1),
            "chol": np.round(rng.uniform(150, 300, rows), 2),
            "target": rng.choice(["healthy", "sick"], rows),
        }
    )
    lines = ["age;chol;target"] + [
        f"{a:.1f};{c:.2f};{t}".replace(".", ",")
        for a, c, t in frame.itertuples(index=False, name=None)
    ]
    return "\r\n".join(lines) + "\r\n", frame


# --- the config section ----------------------------------------------------------------------


def test_every_bad_setting_is_named_with_its_value() -> None:
    csv = {
        "delimiter": ";;",
        "comment": "##",
        "skip_rows": -1,
        "encoding": "latin-9x",
        "missing_values": ["ok", "two\nlines"],
    }
    with pytest.raises(ConfigError) as info:
        config("x.csv", csv=csv)
    problems = "\n".join(info.value.problems)
    assert "data.csv.delimiter must be auto or one character" in problems and "';;'" in problems
    assert "data.csv.comment must be empty or one character" in problems and "'##'" in problems
    assert "data.csv.skip_rows must be >= 0" in problems and "-1" in problems
    assert "data.csv.encoding must be a Python codec name" in problems
    assert "'latin-9x'" in problems
    assert "data.csv.missing_values[1] must be a cell text without line breaks" in problems
    assert len(info.value.problems) == 5


def test_a_decimal_comma_with_a_comma_delimiter_names_both_settings() -> None:
    with pytest.raises(ConfigError) as info:
        config("x.csv", csv={"delimiter": ",", "decimal": ","})
    message = str(info.value)
    assert "data.csv.decimal" in message and "data.csv.delimiter (',')" in message


def test_a_decimal_mark_is_a_point_or_a_comma() -> None:
    with pytest.raises(ConfigError, match=r"data\.csv\.decimal must be one of 'auto', '\.', ','"):
        config("x.csv", csv={"decimal": ";"})


def test_line_finding_settings_need_an_ascii_compatible_encoding() -> None:
    with pytest.raises(ConfigError, match=r"data\.csv\.encoding must be ASCII-compatible"):
        config("x.csv", csv={"comment": "#", "encoding": "utf-16"})
    assert config("x.csv", csv={"encoding": "utf-16"}).data.csv.encoding == "utf-16"


def test_the_section_survives_the_json_round_trip() -> None:
    csv = {"delimiter": "\t", "decimal": ",", "comment": "#", "skip_rows": 2,
           "missing_values": ["unknown", "?"], "encoding": "cp1252"}  # fmt: skip
    cfg = config("x.csv", csv=csv)
    again = RunConfig.from_json(cfg.to_json())
    assert again.data.csv == cfg.data.csv
    fmt = file_format("x.csv", "auto", again.data.csv)
    assert (fmt.delimiter, fmt.decimal, fmt.comment, fmt.skip_rows) == ("\t", ",", "#", 2)
    assert fmt.missing_values == ("unknown", "?") and fmt.encoding == "cp1252"
    assert not fmt.sniff and fmt.delimiter_reason == "set by data.csv.delimiter"


# --- the delimiter: auto ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "delimiter", "sniffed"),
    [
        ("a,b,target", ",", False),
        ("a;b;target", ";", True),
        ("a\tb\ttarget", "\t", True),
        ("a|b|target", "|", True),
        ("a;b|target", ",", False),  # two candidates: nothing decided
        ('"x;y",b,target', ",", False),  # a semicolon inside quotes is no delimiter
        ("target", ",", False),
    ],
)
def test_the_header_line_chooses_the_delimiter(
    tmp_path: Path, header: str, delimiter: str, sniffed: bool
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(header + "\n", encoding="utf-8")
    fmt = resolve_format(path, file_format(str(path)), display="data.csv")
    assert (fmt.delimiter, fmt.delimiter_sniffed, fmt.sniff) == (delimiter, sniffed, False)
    assert (fmt.notice("data.csv") is not None) == sniffed


def test_a_tsv_file_keeps_its_tab_and_an_explicit_delimiter_wins(tmp_path: Path) -> None:
    tsv = tmp_path / "data.tsv"
    tsv.write_text("a\tb;c\ttarget\n", encoding="utf-8")
    assert resolve_format(tsv, file_format(str(tsv)), display="t").delimiter == "\t"
    semi = tmp_path / "data.csv"
    semi.write_text("a;b;target\n", encoding="utf-8")
    explicit = file_format(str(semi), "auto", config(semi, csv={"delimiter": "|"}).data.csv)
    assert resolve_format(semi, explicit, display="s").delimiter == "|"


def test_a_decimal_comma_on_a_comma_separated_header_names_both_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,target\n1,2,x\n1,3,y\n", encoding="utf-8")
    message = ingest_error(config(path, csv={"decimal": ","}), tmp_path)
    assert "data.csv.decimal ','" in message and "data.csv.delimiter: auto" in message
    assert "set data.csv.delimiter to its separator" in message


# --- real-looking exports --------------------------------------------------------------------


def test_semicolons_decimal_commas_and_a_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = european_export()
    path = tmp_path / "patients.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    memory, streamed = both_ways(tmp_path, path, csv={"decimal": ","})
    printed = capsys.readouterr().out
    assert printed.count("read as semicolon-separated") == 2  # once per ingest
    for result in (memory, streamed):
        assert result.schema.features == ["age", "chol"]
        assert result.stats["csv"]["delimiter"] == ";"
        assert "no comma but semicolons" in result.stats["csv"]["delimiter_reason"]
        for column in ("age", "chol"):
            assert result.stats["features"][column]["mean"] == pytest.approx(
                expected[column].mean()
            )
    frame = read_dataset(str(tmp_path / "memory"))[0]
    np.testing.assert_allclose(frame["age"].to_numpy(), expected["age"].to_numpy())


def test_a_glob_of_exports_records_how_its_files_were_read(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    parts = []
    for seed, name in enumerate(("a", "b")):
        text, frame = european_export(rows=40, seed=seed)
        (tmp_path / "exports" / f"{name}.csv").write_text(text)
        parts.append(frame)
    _, plain = european_export(rows=40, seed=2)
    plain.to_csv(tmp_path / "exports" / "c.csv", index=False)  # commas and decimal points
    source = str(tmp_path / "exports" / "*.csv")

    result = ingest(config(source), str(tmp_path / "out"))

    read = result.stats["csv"]
    assert (read["delimiter"], read["decimal"], read["files"]) == (";", ",", 3)
    assert read["decimal_sniffed"] and read["delimiter_sniffed"]
    c_csv = str(tmp_path / "exports" / "c.csv")
    assert read["differing"] == {c_csv: {"delimiter": ",", "decimal": "."}}
    (line,) = [n for n in ingest_notices(result.stats) if "CSV files" in n]
    assert line.startswith(f"[trainpipe] ingest: {source}: 3 CSV files, the first read with ")
    assert line.endswith(f"; {c_csv} read with delimiter ',', decimal '.'")
    expected = pd.concat([*parts, plain], ignore_index=True)
    assert result.stats["features"]["age"]["mean"] == pytest.approx(expected["age"].mean())


def test_the_glob_line_names_a_few_files_read_otherwise_and_counts_the_rest() -> None:
    differing = {f"exports/{i:02d}.csv": {"delimiter": ","} for i in range(8)}
    stats = {"source": "exports/*.csv", "csv": {"files": 9, "differing": differing}}
    (line,) = ingest_notices(stats)
    assert line.count("read with delimiter ','") == 5  # the first five, by name
    assert "exports/04.csv" in line and "exports/05.csv" not in line
    assert line.endswith("; 3 more files read otherwise (stats.json: csv.differing)")


def test_decimal_commas_are_found_by_auto_and_pointed_out_under_a_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, _ = european_export()
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    result = ingest(config(path), str(tmp_path / "out"))
    assert "age" in result.stats["features"]  # numbers, read with data.csv.decimal: auto
    read = result.stats["csv"]
    assert read["decimal"] == "," and "decimal commas" in read["decimal_reason"]
    assert "numbers read with a decimal comma" in capsys.readouterr().out
    (shown,) = [line for line in ingest_notices(result.stats) if "read with" in line]
    assert "delimiter ';' (its header line holds no comma but semicolons" in shown
    assert "decimal mark ',' (its first data lines hold decimal commas" in shown
    pointed = ingest(config(path, csv={"decimal": "."}), str(tmp_path / "pointed"))
    assert "age" not in pointed.stats["features"]  # text: read as categories, and said so
    note = pointed.stats["csv"]["note"]
    assert "look like decimal commas" in note and "data.csv.decimal: ','" in note
    assert note in capsys.readouterr().out
    tsv = tmp_path / "patients.tsv"  # the suffix's tab, no delimiter chosen: the decimal alone
    tsv.write_text(text.replace(";", "\t"), encoding="utf-8")
    fmt = resolve_format(tsv, file_format(str(tsv)), display="patients.tsv")
    assert not fmt.delimiter_sniffed and fmt.decimal == ","
    assert fmt.notice("patients.tsv") == (
        f"[trainpipe] patients.tsv: numbers read with a decimal comma: {fmt.decimal_reason}; "
        "set data.csv.decimal: '.' to read them otherwise"
    )
    mixed = tmp_path / "mixed.csv"  # a decimal point too: the point stays, the commas noted
    mixed.write_text("a;b;target\n1,5;2.5;x\n2,5;3.5;y\n", encoding="utf-8")
    fmt = resolve_format(mixed, file_format(str(mixed)), display="mixed.csv")
    assert fmt.delimiter == ";" and fmt.decimal == "."
    assert "'1,5' look like decimal commas" in fmt.note


def test_a_comment_line_above_the_header(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["# Data source: https://finance.yahoo.com", "open,volume,AAPL"]
    lines += [f"{o:.2f},{v},{o * 1.01:.2f}" for o, v in zip(
        rng.uniform(100, 200, 50), rng.integers(1000, 9000, 50), strict=True)]  # fmt: skip
    lines.insert(20, "# a note in the middle")
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    in_memory = ingest_error(config(path, "regression", label="AAPL"), tmp_path)
    with pytest.raises(DataError) as info:
        ingest_csv_stream(config(path, "regression", label="AAPL"), path, str(tmp_path / "s"))
    assert "Expected 1 columns, got 3" in str(info.value)
    for message in (in_memory, str(info.value)):
        assert "'# Data source: https://finance.yahoo.com' starts with '#'" in message
        assert 'data.csv.comment: "#"' in message and "data.csv.skip_rows" in message
    memory, streamed = both_ways(
        tmp_path, path, task="regression", label="AAPL", csv={"comment": "#"}
    )
    for result in (memory, streamed):
        assert result.stats["rows"] == 50
        assert result.schema.features == ["open", "volume"]
    for column in ("open", "volume"):
        assert memory.stats["features"][column]["mean"] == pytest.approx(
            streamed.stats["features"][column]["mean"]
        )


def test_a_comment_character_inside_a_line_is_data(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    rows = [f"{i},{'#N/A' if i == 3 else i * 2},{'a' if i % 2 else 'b'}" for i in range(12)]
    path.write_text("#exported\nx,y,target\n" + "\n".join(rows) + "\n", encoding="utf-8")
    frame = read_source(str(path), "auto", config(path, csv={"comment": "#"}).data.csv)
    assert len(frame) == 12 and frame["y"].isna().sum() == 1  # '#N/A' is a missing value


def test_skip_rows_skips_a_preamble_whatever_it_holds(tmp_path: Path) -> None:
    preamble = "Report: patients; exported 2026-01-05\nUnits: mg/dl\n\n"
    text, expected = european_export(rows=30)
    path = tmp_path / "report.csv"
    path.write_text(preamble + text.replace(",", "."), encoding="utf-8")
    memory, streamed = both_ways(tmp_path, path, csv={"skip_rows": 2})
    for result in (memory, streamed):
        assert result.stats["rows"] == 30 and result.stats["csv"]["skip_rows"] == 2
        assert result.stats["features"]["chol"]["mean"] == pytest.approx(expected["chol"].mean())


def test_unknown_cells_are_missing_values_and_follow_data_missing(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ages = np.round(rng.uniform(20, 80, 50), 1)
    unknown = np.arange(50) % 5 == 0  # 20% of the cells
    cells = ["unknown" if u else f"{a}" for a, u in zip(ages, unknown, strict=True)]
    labels = rng.choice(["no", "yes"], 50)
    lines = ["age,weight,target"] + [
        f"{c},{w:.1f},{t}" for c, w, t in zip(cells, rng.uniform(50, 90, 50), labels, strict=True)
    ]
    path = tmp_path / "survey.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plain = ingest(config(path, missing="median"), str(tmp_path / "plain"))
    assert "age" not in plain.stats["features"]  # 80% numbers: read as categories
    settings = {"missing": "median", "csv": {"missing_values": ["unknown", "?"]}}
    result = ingest(config(path, **settings), str(tmp_path / "declared"))
    assert result.stats["missing_values"]["age"] == 10
    frame = read_dataset(str(tmp_path / "declared"))[0]
    filled = frame["age"].to_numpy()[unknown]
    np.testing.assert_allclose(filled, np.median(ages[~unknown]))
    streamed = ingest(
        config(path, stream_threshold_mb=0, missing="mean", csv={"missing_values": ["unknown"]}),
        str(tmp_path / "streamed"),
    )
    assert streamed.stats["ingest_mode"]["mode"] == "stream"
    assert streamed.stats["missing_values"]["age"] == 10
    assert streamed.stats["features"]["age"]["mean"] == pytest.approx(ages[~unknown].mean())


def test_a_cp1252_export(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lines = ["température;humidité;boisson"] + [
        f"{t:.1f};{h:.0f};{'café' if t > 20 else 'thé'}".replace(".", ",")
        for t, h in zip(rng.uniform(5, 35, 40), rng.uniform(20, 90, 40), strict=True)
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    message = ingest_error(config(path, label="boisson"), tmp_path)
    assert "not UTF-8" in message and "data.csv.encoding" in message
    settings = {"label": "boisson", "csv": {"encoding": "cp1252", "decimal": ","}}
    memory, streamed = both_ways(tmp_path, path, **settings)
    for result in (memory, streamed):
        assert result.schema.classes == ["café", "thé"]
        assert result.schema.features == ["température", "humidité"]
        assert result.stats["csv"]["encoding"] == "cp1252"
    assert memory.stats["class_balance"] == streamed.stats["class_balance"]


def test_an_undecodable_byte_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"a;b;target\n1;2;x\n3;\x81;y\n")
    settings = {"csv": {"encoding": "cp1252"}}
    for threshold in (512, 0):
        message = ingest_error(config(path, stream_threshold_mb=threshold, **settings), tmp_path)
        assert "not cp1252 text" in message and "0x81" in message


def test_a_gzip_compressed_export_with_every_setting(tmp_path: Path) -> None:
    text, expected = european_export(rows=80, seed=4)
    header, body = text.split("\r\n", 1)
    body = body.replace("healthy", "unknown", 3)
    raw = f"Clinic export\r\n# columns below\r\n{header}\r\n# checked\r\n{body}"
    path = tmp_path / "patients.csv.gz"
    path.write_bytes(gzip.compress(raw.encode("cp1252")))
    csv = {"comment": "#", "skip_rows": 1, "decimal": ",", "encoding": "cp1252",
           "missing_values": ["unknown"]}  # fmt: skip
    memory, streamed = both_ways(tmp_path, path, csv=csv)
    for result in (memory, streamed):
        assert result.stats["csv"]["delimiter"] == ";"
        assert result.stats["rows_in"] == 80 and result.stats["label_missing_dropped"] == 3
        assert result.stats["rows"] == 77
    kept = expected.drop(expected.index[expected["target"] == "healthy"][:3])
    for result in (memory, streamed):
        assert result.stats["features"]["age"]["mean"] == pytest.approx(kept["age"].mean())


@pytest.mark.parametrize("chunk", [2, 7, 64, 1 << 20])
def test_comment_lines_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(file_formats._CommentLines, "_CHUNK", chunk)
    rng = np.random.default_rng(5)
    values = rng.normal(size=(400, 2))
    lines = ["# exported by the lab", "", "# columns: x, y, target", "x,y,target"]
    for i, (x, y) in enumerate(values):
        if i % 7 == 0:
            lines.append(f"# checkpoint {i} " + "." * (i % 50))
        lines.append(f"{x:.6f},{y:.6f},{'a' if x > 0 else 'b'}")
    path = tmp_path / "long.csv"
    text = "\n".join([*lines, "# the end, without a newline"])
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    cfg = config(path, csv={"comment": "#"})
    frame = read_source(str(path), "auto", cfg.data.csv)
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), values, atol=1e-6)
    result = ingest_csv_stream(cfg, path, str(tmp_path / "streamed"), block_size=1024)
    assert result.stats["rows"] == len(values)
    assert result.stats["features"]["x"]["mean"] == pytest.approx(values[:, 0].mean(), abs=1e-6)


# --- hints where the header was misread ------------------------------------------------------


def test_a_wrong_explicit_delimiter_gets_a_hint(tmp_path: Path) -> None:
    text, _ = european_export()
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    wrong = {"csv": {"delimiter": ","}}
    in_memory = ingest_error(config(path, **wrong), tmp_path)
    with pytest.raises(DataError) as info:
        ingest_csv_stream(config(path, **wrong), path, str(tmp_path / "streamed"))
    streamed = str(info.value)
    assert "Expected 1 columns, got 3" in streamed  # the decimal commas split the rows
    assert "single column 'age;chol;target'" in in_memory
    for message in (in_memory, streamed):
        assert "the file looks semicolon-separated" in message
        assert 'data.csv.delimiter: ";"' in message


def test_a_header_read_as_one_column_in_the_stream_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("age;sex;target\n" + "".join(f"{i};{i % 2};x\n" for i in range(9)))
    with pytest.raises(DataError) as info:
        ingest_csv_stream(config(path, csv={"delimiter": ","}), path, str(tmp_path / "out"))
    assert "label column 'target' not found" in str(info.value)
    assert "looks semicolon-separated, and 'target' is one of them" in str(info.value)


def test_header_hints() -> None:
    assert header_hint(["age;sex;target"], "target").endswith('data.csv.delimiter: ";" (or auto)')
    assert 'data.csv.delimiter: "\\t"' in header_hint(["a\tb\tc"], "target")
    assert "data.csv.comment" in header_hint(["# Data source: https://finance.yahoo.com"], "x")
    assert header_hint(["age", "sex"], "target") == ""
    assert header_hint(["age"], "target") == ""


# --- the plain tables a component is given ---------------------------------------------------


def test_a_plain_validation_table_is_read_with_the_same_settings(tmp_path: Path) -> None:
    text, expected = european_export(rows=40, seed=6)
    path = tmp_path / "validation"  # the name KFP gives an output artifact's file
    path.write_bytes(("# from the warehouse\n" + text).encode("cp1252"))
    csv = {"comment": "#", "decimal": ",", "encoding": "cp1252"}
    frame, schema = read_input_dataset(str(path), config("unused.csv", csv=csv))
    assert schema.features == ["age", "chol"] and len(frame) == 40
    np.testing.assert_allclose(frame["chol"].to_numpy(), expected["chol"].to_numpy())


def test_a_parquet_file_ignores_the_csv_settings(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pd.DataFrame({"a": [1.5, 2.5], "target": ["x", "y"]}).to_parquet(path)
    csv = config(path, csv={"delimiter": ";", "encoding": "cp1252"}).data.csv
    fmt = file_format(str(path), "auto", csv)
    assert fmt == FileFormat(kind="parquet") and fmt.describe() == {}
    assert read_source(str(path), "auto", csv)["a"].tolist() == [1.5, 2.5]


def test_decimal_commas_after_the_stream_falls_back_to_text(tmp_path: Path) -> None:
    text, expected = european_export(rows=40, seed=7)
    lines = text.split("\r\n")
    lines[30] = "true" + lines[30][lines[30].index(";") :]  # read as 1, by the text path only
    expected.loc[29, "age"] = 1.0
    path = tmp_path / "patients.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    out = str(tmp_path / "out")
    result = ingest_csv_stream(config(path, csv={"decimal": ","}), path, out, block_size=128)
    assert result.stats["rows"] == 40
    for column in ("age", "chol"):
        assert result.stats["features"][column]["mean"] == pytest.approx(expected[column].mean())


# --- a file without a header line ----------------------------------------------------------


def uci_iris(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Iris as UCI ships it: data lines only, the class named, no header line."""
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["target"] = [f"Iris-{bunch.target_names[i]}" for i in frame["target"]]
    path = tmp_path / "iris.data"
    frame.to_csv(path, index=False, header=False)
    return path, frame


def test_a_file_without_a_header_line_named_by_data_csv_columns(tmp_path: Path) -> None:
    path, frame = uci_iris(tmp_path)
    names = list(frame.columns)
    for result in both_ways(tmp_path, path, format="csv", csv={"header": False, "columns": names}):
        assert result.schema.features == names[:4]
        assert result.stats["rows_in"] == 150  # the first line is data, not a header
        assert result.stats["csv"]["header"] is False
        assert result.stats["features"]["petal_length"]["mean"] == pytest.approx(
            frame["petal_length"].mean()
        )
    stored = read_dataset(str(tmp_path / "memory"))[0]
    assert sorted(stored["target"].unique()) == sorted(frame["target"].unique())


def test_a_file_without_a_header_line_gets_numbered_columns(tmp_path: Path) -> None:
    path, frame = uci_iris(tmp_path)
    for result in both_ways(tmp_path, path, format="csv", label="column_5", csv={"header": False}):
        assert result.schema.features == ["column_1", "column_2", "column_3", "column_4"]
        assert result.stats["features"]["column_1"]["mean"] == pytest.approx(
            frame["sepal_length"].mean()
        )


def test_a_headerless_file_read_with_its_header_says_what_to_set(tmp_path: Path) -> None:
    path, _ = uci_iris(tmp_path)
    message = ingest_error(config(path, format="csv"), tmp_path)
    assert "label column 'target' not found; columns are: 5.1, 3.5, 1.4, 0.2" in message
    assert "The header line holds numbers ('5.1', '3.5', '1.4' ...)" in message
    assert "set data.csv.header: false" in message


def test_data_csv_columns_must_name_every_field(tmp_path: Path) -> None:
    path, _ = uci_iris(tmp_path)
    cfg = config(path, format="csv", csv={"header": False, "columns": ["a", "b", "target"]})
    expected = "data.csv.columns names 3 columns but its lines hold 5 fields; name every field"
    assert expected in ingest_error(cfg, tmp_path)
    with pytest.raises(DataError, match=expected):
        ingest_csv_stream(cfg, path, str(tmp_path / "streamed"))


def test_data_csv_columns_need_header_false_and_distinct_names() -> None:
    with pytest.raises(ConfigError) as info:
        config("x.csv", csv={"columns": ["a", "b"]})
    assert "data.csv.columns must be empty while data.csv.header is true" in str(info.value)
    with pytest.raises(ConfigError, match=r"data\.csv\.columns must be names that are not empty"):
        config("x.csv", csv={"header": False, "columns": ["a", "a", "b"]})


def test_a_preamble_line_read_as_the_header_is_refused_with_what_to_set(tmp_path: Path) -> None:
    # as scikit-learn's wine_data.csv: its first line holds counts and class names, fewer
    # fields than the rows below it
    path, frame = uci_iris(tmp_path)
    path.write_text("150,4,iris\n" + path.read_text())
    message = ingest_error(config(path, format="csv"), tmp_path)
    assert "its header line (150, 4, iris) has 3 fields, fewer than the 5 of the rows" in message
    assert "set data.csv.skip_rows" in message and "data.csv.header: false" in message
    fixed = {"skip_rows": 1, "header": False, "columns": list(frame.columns)}
    for result in both_ways(tmp_path, path, format="csv", csv=fixed):
        assert result.stats["rows_in"] == 150


def test_a_trailing_delimiter_on_every_data_line_is_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    rows = "".join(f"{i / 4},{i % 7},{'a' if i % 2 else 'b'},\n" for i in range(40))
    path.write_text("x,y,target\n" + rows)
    for result in both_ways(tmp_path, path):
        assert result.schema.features == ["x", "y"]
        assert result.stats["csv"]["trailing_delimiter"] is True
        assert result.stats["features"]["x"]["mean"] == pytest.approx(19.5 / 4)
        assert result.stats["rows_in"] == 40
    said = "every data line ends with a comma after its last field, one field more than the header"
    assert capsys.readouterr().out.count(said) == 2  # once per ingest


def test_rows_with_a_field_more_than_the_header_are_refused(tmp_path: Path) -> None:
    # pandas makes the first fields an index, here 1, 4, 7: a range, but not the rows' own
    path = tmp_path / "shifted.csv"
    path.write_text("a,b,target\n1,2,3,x\n4,5,6,y\n7,8,9,x\n")
    message = ingest_error(config(path), tmp_path)
    assert "its header line (a, b, target) has 3 fields, fewer than the 4 of the rows" in message

"""`trainpipe predict`: a registered model scores a table file, and the scored table is written
whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_factory import write_tabular_model
from trainpipe.cli import main
from trainpipe.config.data import CsvConfig
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.train.artifacts import load_model

pytestmark = pytest.mark.unit

ROWS = pd.DataFrame(
    {
        "id": [101, 102, 103, 104, 105],
        "size": [4.0, None, 6.5, 5.0, 1.0],
        "weight": [12.0, 3.0, 7.5, 8.0, 2.0],
        "color": ["red", "blue", "purple", "green", "purple"],
    }
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding ``shop`` version 1 (data.missing mean), promoted to champion, and
    version 2 (data.missing drop)."""
    root = tmp_path_factory.mktemp("predict")
    store = ModelRegistry.open(str(root / "registry"))
    for version, missing in ((1, "mean"), (2, "drop")):
        model_dir = write_tabular_model(root / f"model-{missing}", missing=missing)
        lineage = build_lineage(config={}, data_hash="", metrics={})
        assert store.register("shop", model_dir, lineage=lineage).version == version
    store.promote("shop", 1)
    return root / "registry"


def test_predict_scores_a_csv_with_a_registered_model(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.csv"
    ROWS.to_csv(source, index=False)
    output = tmp_path / "scored.csv"

    code = main(["predict", "--model", "shop@champion", "--input", str(source),
                 "--output", str(output), "--store", str(registry)])  # fmt: skip

    assert code == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"scored 5 rows of {source} with shop:1 (shop@champion) into {output}",
        "  missing values filled by data.missing 'mean': 'size': 1",
    ]
    assert err == (
        "trainpipe: warning: categories unseen in training encode as all zeros: 'color': 2 of "
        "5 rows (e.g. 'purple'); map them to known categories or retrain on data that has them\n"
    )
    scored = pd.read_csv(output)
    assert list(scored.columns) == [
        *ROWS.columns, "prediction", "probability_no", "probability_yes",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(scored[ROWS.columns], ROWS)  # the input, unchanged
    expected = ModelRegistry.open(str(registry)).load("shop:1").score(ROWS)
    assert scored["prediction"].tolist() == [["no", "yes"][i] for i in expected.predictions]
    np.testing.assert_allclose(
        scored[["probability_no", "probability_yes"]].to_numpy(), expected.probabilities, rtol=1e-6
    )
    np.testing.assert_allclose(scored[["probability_no", "probability_yes"]].sum(axis=1), 1.0)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv.gz", ".xlsx"])
def test_predict_reads_and_writes_every_table_format_from_a_model_directory(
    tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / "rows.parquet"
    ROWS.to_parquet(source, index=False)
    model_dir = write_tabular_model(tmp_path / "model", missing="mean")
    output = tmp_path / f"scored{suffix}"

    assert main(["predict", "--model", model_dir, "--input", str(source), "--output",
                 str(output)]) == 0  # fmt: skip

    if suffix == ".parquet":
        scored = pd.read_parquet(output)
    elif suffix == ".jsonl":
        scored = pd.read_json(output, lines=True)
    elif suffix == ".xlsx":
        scored = pd.read_excel(output, engine="openpyxl")
    else:
        scored = pd.read_csv(output, compression="gzip")
    assert len(scored) == 5
    assert scored["prediction"].isin(["no", "yes"]).all()
    assert list(scored.columns)[-3:] == ["prediction", "probability_no", "probability_yes"]


def test_a_regression_model_writes_its_values(tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    ROWS.to_json(source, orient="records", lines=True)
    model_dir = write_tabular_model(tmp_path / "model", missing="median", task="regression")
    output = tmp_path / "scored.csv"

    assert main(["predict", "--model", model_dir, "--input", str(source), "--output",
                 str(output)]) == 0  # fmt: skip

    scored = pd.read_csv(output)
    assert list(scored.columns) == [*ROWS.columns, "prediction"]
    expected = load_model(model_dir).score(ROWS).predictions
    np.testing.assert_allclose(scored["prediction"], expected, rtol=1e-6)


def test_a_row_the_model_refuses_fails_the_run_and_leaves_the_output_as_it_was(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.csv"
    ROWS.to_csv(source, index=False)
    output = tmp_path / "scored.csv"
    output.write_text("an earlier result\n")

    code = main(["predict", "--model", "shop:2", "--input", str(source), "--output",
                 str(output), "--store", str(registry)])  # fmt: skip

    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"trainpipe: error: --input {source}: row 1 has a missing value in ")
    assert "column 'size' (1 of 5 rows have missing values)" in err
    assert "data.missing 'drop'" in err
    assert err.rstrip().endswith("(rows are numbered from 0)")  # the row is the table's index
    assert output.read_text() == "an earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv", "scored.csv"]


def test_a_missing_column_is_named_without_a_note_on_row_numbers(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.csv"
    ROWS.drop(columns=["weight"]).to_csv(source, index=False)

    assert main(["predict", "--model", "shop", "--input", str(source), "--output",
                 str(tmp_path / "scored.csv"), "--store", str(registry)]) == 1  # fmt: skip

    err = capsys.readouterr().err
    assert "'weight'" in err
    assert "row" not in err.replace("rows.csv", "")


def test_predict_refuses_an_input_that_already_has_an_output_column(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.csv"
    ROWS.assign(prediction="old").to_csv(source, index=False)
    output = tmp_path / "scored.csv"

    assert main(["predict", "--model", "shop", "--input", str(source), "--output", str(output),
                 "--store", str(registry)]) == 1  # fmt: skip

    assert "already has the column(s) ['prediction'] that the output adds" in (
        capsys.readouterr().err
    )
    assert not output.exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("out.csv", "--input {tmp}/a.csv: no such file or folder"),
        ("out.docx", "--output {tmp}/out.docx: the file name must end in one of"),
    ],
)
def test_predict_names_a_bad_file_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str, message: str
) -> None:
    code = main(["predict", "--model", "nothing@champion", "--input", str(tmp_path / "a.csv"),
                 "--output", str(tmp_path / output), "--store", str(tmp_path)])  # fmt: skip
    assert code == 1
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


EXPORT = """# shop export, 2026-12-07
id;size;weight;color
101;4,0;12,0;red
102;?;3,0;blue
103;6,5;7,5;purple
104;5,0;8,0;green
105;1,0;2,0;purple
"""
"""ROWS as a spreadsheet exports them: a comment line, semicolons, decimal commas, ``?``."""

EXPORT_CSV = CsvConfig(delimiter=";", decimal=",", comment="#", missing_values=["?"])


def test_predict_reads_a_csv_as_the_model_training_data_was_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_tabular_model(tmp_path / "model", missing="mean", csv=EXPORT_CSV)
    source = tmp_path / "export.csv"
    source.write_text(EXPORT)
    output = tmp_path / "scored.csv"

    code = main(["predict", "--model", model, "--input", str(source), "--output", str(output)])

    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"reading {source} with the model's training data.csv: delimiter ';', decimal ',', "
        "comment '#', missing_values ['?']"
    )
    assert out[2] == "  missing values filled by data.missing 'mean': 'size': 1"
    scored = pd.read_csv(output)  # a plain CSV, whatever the input's conventions
    pd.testing.assert_frame_equal(scored[ROWS.columns], ROWS)
    expected = load_model(model).score(ROWS)
    assert scored["prediction"].tolist() == [["no", "yes"][i] for i in expected.predictions]


def test_the_config_data_csv_reads_the_input_instead_of_the_model_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_tabular_model(tmp_path / "model", missing="mean", csv=EXPORT_CSV)
    source = tmp_path / "export.csv"
    source.write_text(EXPORT.replace("# shop", "% shop").replace("?", "unknown"))
    config = Path(__file__).parents[2] / "pipelines" / "configs" / "digits.yaml"

    sets = ["--set", "data.csv.comment=%", "--set", "data.csv.missing_values=[unknown]"]
    code = main(["predict", "--model", model, "--input", str(source), "--output",
                 str(tmp_path / "scored.csv"), "--config", str(config), *sets])  # fmt: skip

    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"reading {source} with the --config's data.csv: comment '%', missing_values ['unknown']"
    )
    assert "(data.csv.decimal: auto)" in "\n".join(out)  # sniffed, as the config asks
    assert pd.read_csv(tmp_path / "scored.csv")["id"].tolist() == ROWS["id"].tolist()


def test_a_model_trained_on_a_file_without_a_header_scores_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = CsvConfig(header=False, columns=list(ROWS.columns))
    model = write_tabular_model(tmp_path / "model", missing="mean", csv=csv, data_format="csv")
    source = tmp_path / "rows.data"  # a suffix data.format: csv reads
    ROWS.to_csv(source, index=False, header=False)
    output = tmp_path / "scored.csv"

    code = main(["predict", "--model", model, "--input", str(source), "--output", str(output)])

    assert code == 0
    assert "header false, columns ['id', 'size', 'weight', 'color']" in capsys.readouterr().out
    scored = pd.read_csv(output)  # with a header line: the output names its columns
    pd.testing.assert_frame_equal(scored[ROWS.columns], ROWS)


def test_predict_reads_the_worksheet_the_config_names(tmp_path: Path) -> None:
    source = tmp_path / "rows.xlsx"
    with pd.ExcelWriter(source, engine="openpyxl") as book:
        pd.DataFrame({"note": ["not the rows"]}).to_excel(book, sheet_name="About", index=False)
        ROWS.to_excel(book, sheet_name="Rows", index=False)
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{source: {source}, sheet: Rows}}\n")
    model_dir = write_tabular_model(tmp_path / "model", missing="mean")
    output = tmp_path / "scored.csv"

    assert main(["predict", "--model", model_dir, "--input", str(source), "--output",
                 str(output), "--config", str(config)]) == 0  # fmt: skip

    scored = pd.read_csv(output)
    assert scored["id"].tolist() == ROWS["id"].tolist()

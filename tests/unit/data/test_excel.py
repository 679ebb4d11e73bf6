"""Excel workbooks as data: a worksheet read as a table, its cells typed by the workbook."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_files import make_config
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def workbook(path: Path) -> Path:
    """A workbook whose first worksheet is notes and whose second holds the rows, with dates
    and amounts as typed cells."""
    rows = pd.DataFrame(
        {
            "signed": pd.date_range("2024-01-03", periods=40, freq="9D"),
            "amount": [100.0 + 12.5 * i for i in range(40)],
            "plan": ["basic", "pro"] * 20,
            "churned": ["no", "yes", "yes", "no"] * 10,
        }
    )
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        pd.DataFrame({"about": ["exported 2024-12-01"]}).to_excel(
            book, sheet_name="Notes", index=False
        )
        rows.to_excel(book, sheet_name="Customers", index=False)
    return path


def test_the_named_worksheet_is_ingested_with_its_cells_typed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "crm.xlsx")
    result = ingest(make_config(path, label="churned", sheet="Customers"), str(tmp_path / "out"))
    frame, schema = read_dataset(str(tmp_path / "out"))
    assert len(frame) == 40 and schema.classes == ["no", "yes"]
    assert {"signed_year", "signed_month", "amount"} <= set(schema.features)
    assert schema.categorical == ["plan"]
    assert frame["signed_month"].iloc[:2].tolist() == [1.0, 1.0]
    assert result.stats["ingest_mode"]["mode"] == "memory"


def test_without_data_sheet_the_first_worksheet_is_read_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workbook(tmp_path / "crm.xlsx")
    with pytest.raises(DataError, match="label column 'churned' not found; columns are: about"):
        ingest(make_config(path, label="churned"), str(tmp_path / "out"))
    assert (
        "read its first worksheet 'Notes' of 2 ('Notes', 'Customers'); set data.sheet to read "
        "another" in capsys.readouterr().out
    )


def test_a_missing_worksheet_or_an_old_workbook_is_refused_by_name(tmp_path: Path) -> None:
    path = workbook(tmp_path / "crm.xlsx")
    refused = r"data\.sheet 'Sheet1' is not a worksheet of it; its worksheets are: 'Notes'"
    with pytest.raises(DataError, match=refused):
        ingest(make_config(path, label="churned", sheet="Sheet1"), str(tmp_path / "out"))
    old = tmp_path / "crm.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"a \.xls workbook \(Excel 97-2003\) is not read"):
        ingest(make_config(old, label="churned"), str(tmp_path / "out"))
    broken = tmp_path / "broken.xlsx"
    broken.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="cannot be read as an Excel workbook"):
        ingest(make_config(broken, label="b"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()

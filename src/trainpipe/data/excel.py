"""Excel workbooks (``.xlsx``, ``.xlsm``): one worksheet read as a table, through openpyxl.

A workbook keeps numbers, dates and text apart itself, so its cells arrive typed (a date cell
as a datetime), and none of a CSV file's settings apply. ``data.sheet`` names the worksheet;
unset, the first is read, and a workbook of several says which it read and which it has.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from trainpipe.console import print_line
from trainpipe.errors import DataError

__all__ = ["read_workbook"]


def read_workbook(
    path: Path, sheet: str, *, display: str, rows: int | None = None, announce: bool = True
) -> pd.DataFrame:
    """The worksheet ``sheet`` (empty: the first) of the workbook at ``path``, its first row
    the header; ``rows`` limits the data rows read. With ``announce``, a workbook of several
    worksheets read without ``data.sheet`` prints which one was read.

    Raises:
        DataError: the file is no Excel workbook, or has no worksheet ``sheet`` (naming the
            ones it has).
    """
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            names = [str(name) for name in book.sheet_names]
            if sheet and sheet not in names:
                raise DataError(
                    f"data file {display}: data.sheet {sheet!r} is not a worksheet of it; its "
                    f"worksheets are: {', '.join(map(repr, names))}"
                )
            chosen = sheet or names[0]
            if announce and not sheet and len(names) > 1:
                print_line(
                    f"[trainpipe] {display}: read its first worksheet {chosen!r} of {len(names)} "
                    f"({', '.join(map(repr, names))}); set data.sheet to read another"
                )
            return pd.read_excel(book, sheet_name=chosen, nrows=rows)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DataError(
            f"data file {display} cannot be read as an Excel workbook ({exc}); save it again "
            "as .xlsx, or as CSV"
        ) from exc

"""Column roles on ingest: chosen and dropped columns, inferred roles, overrides, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_files import make_config
from table_shapes import export_table
from trainpipe.data.columns import plain_numbers, plan_columns, prepare_rows
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import STATS_HTML_KEY, ingest, ingest_notices
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    return path


def roles(path: Path, **data: object) -> dict[str, tuple[str, bool]]:
    config = make_config(path, label="label", **data)
    plan = plan_columns(pd.read_csv(path), config, display=str(path))
    return {d.column: (d.role, d.feature) for d in plan.decisions}


def test_roles_are_inferred_from_names_and_values(tmp_path: Path) -> None:
    found = roles(write(tmp_path, export_table()))
    assert found == {
        "Unnamed: 0": ("id", False),  # a row number
        "RespondentID": ("id", False),  # named like an identifier
        "visit": ("date", True),
        "comment": ("text", False),  # free text: no model.kind reads it beside other features
        "income": ("numeric", True),  # "refused" reads as missing
        "plan": ("categorical", True),
        "devices": ("categorical", True),  # "3+" and "none": not numbers
        "age": ("numeric", True),
    }


def test_an_export_ingests_with_every_decision_recorded(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, export_table())
    result = ingest(make_config(path, label="label", missing="median"), str(tmp_path / "out"))
    frame, schema = read_dataset(str(tmp_path / "out"))
    assert schema.features == [
        "visit_year", "visit_month", "visit_day", "visit_day_of_week", "income", "plan",
        "devices", "age",
    ]  # fmt: skip
    assert schema.categorical == ["plan", "devices"]
    assert frame["income"].notna().all()  # the five "refused" imputed with the median
    columns = {c["column"]: c for c in result.stats["column_roles"]["columns"]}
    assert columns["income"]["missing_tokens"] == {"refused": 5}
    assert "row number" in columns["Unnamed: 0"]["reason"]
    out = capsys.readouterr().out
    assert "not used as features: Unnamed: 0 (id" in out and "comment (text" in out
    assert "'income' (numeric) reads these values as missing: 'refused' (5)" in out
    page = (tmp_path / "out" / STATS_HTML_KEY).read_text()
    assert 'id="column-roles"' in page and "RespondentID" in page
    assert "basic" in page  # categorical columns are in the statistics table


def test_features_and_drop_choose_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, export_table())
    assert set(roles(path, features=["age", "plan"])) == {"age", "plan"}
    dropped = roles(path, drop=["comment", "visit", "Unnamed: 0"])
    assert "comment" not in dropped and "visit" not in dropped and "age" in dropped
    result = ingest(make_config(path, label="label", drop=["income"]), str(tmp_path / "out"))
    assert result.stats["column_roles"]["dropped"] == ["income"]
    assert "income" not in result.schema.features
    assert result.stats["row_accounting"]["rows_out"] == 120  # no "refused" rows dropped


def test_roles_override_inference(tmp_path: Path) -> None:
    path = write(tmp_path, export_table())
    found = roles(path, roles={"age": "categorical", "RespondentID": "categorical"})
    assert found["age"] == ("categorical", True)
    assert found["RespondentID"] == ("categorical", True)
    assert roles(path, features=["RespondentID", "age"])["RespondentID"] == ("categorical", True)


def test_unknown_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, export_table())
    for key in ("features", "drop"):
        with pytest.raises(DataError, match=rf"data\.{key} names \['nope'\]"):
            roles(path, **{key: ["nope"]})
    with pytest.raises(DataError, match=r"data\.roles names \['nope'\]"):
        roles(path, roles={"nope": "numeric"})


def test_free_text_listed_as_a_feature_says_how_to_use_it(tmp_path: Path) -> None:
    path = write(tmp_path, export_table())
    with pytest.raises(DataError, match=r"data\.features lists 'comment', which holds free text"):
        roles(path, features=["comment", "age"])


def test_a_date_part_clashing_with_a_column_is_refused(tmp_path: Path) -> None:
    frame = export_table()
    frame["visit_year"] = 1
    with pytest.raises(DataError, match="date column 'visit' would become"):
        roles(write(tmp_path, frame))


def test_a_repeating_id_groups_the_split(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "person_id": np.repeat(np.arange(30), 3),
            "x": np.random.default_rng(1).normal(size=90),
            "label": ["a", "b"] * 45,
        }
    )
    path = write(tmp_path, frame)
    config = make_config(path, label="label")
    plan = plan_columns(pd.read_csv(path), config, display="p")
    assert plan.group == "person_id" and plan.features == ["x"]
    assert "repeats" in plan.group_source
    chosen = make_config(path, label="label", features=["x", "person_id"])
    assert plan_columns(pd.read_csv(path), chosen, display="p").group == ""


def _decision(path: Path, column: str, **data: object) -> tuple[str, str]:
    config = make_config(path, label="label", **data)
    plan = plan_columns(pd.read_csv(path), config, display=str(path))
    found = next(d for d in plan.decisions if d.column == column)
    return found.role, found.reason


def test_numbers_with_a_missing_marker_say_how_to_declare_it(tmp_path: Path) -> None:
    """80% numbers (150 distinct) and 'unknown' in the rest: not a category, and not read as
    numbers on a guess; the reason names the setting that declares the marker missing."""
    rng = np.random.default_rng(0)
    values = [f"{v:.2f}" for v in rng.normal(size=200)]
    values = ["unknown" if i % 5 == 0 else v for i, v in enumerate(values)]
    path = write(tmp_path, pd.DataFrame({"s1": values, "label": ["a", "b"] * 100}))
    role, reason = _decision(path, "s1")
    assert role == "unused"
    assert "80% of its values are numbers" in reason and "'unknown' (40)" in reason
    assert "data.csv.missing_values: [unknown]" in reason


def test_a_numeric_role_over_marked_cells_names_the_marker(tmp_path: Path) -> None:
    values = ["1.5", "unknown", "2.5", "unknown", "3.5", "4.5"] * 5
    path = write(tmp_path, pd.DataFrame({"s1": values, "label": ["a", "b", "c"] * 10}))
    config = make_config(path, label="label", roles={"s1": "numeric"})
    with pytest.raises(DataError) as info:
        ingest(config, str(tmp_path / "out"))
    message = str(info.value)
    assert "non-numeric value 'unknown' at data row 2 (10 such cells: 'unknown')" in message
    assert "data.csv.missing_values: [unknown]" in message


def test_day_month_name_year_dates_are_dates(tmp_path: Path) -> None:
    days = pd.date_range("2003-01-01", periods=40, freq="7D")
    path = write(
        tmp_path,
        pd.DataFrame({"Date": days.strftime("%d-%b-%y"), "x": range(40), "label": [0, 1] * 20}),
    )
    role, reason = _decision(path, "Date")
    assert role == "date" and "values parse as dates" in reason


def dated(tmp_path: Path, days: list[str]) -> Path:
    """A table whose ``day`` column holds ``days`` (repeated to 40 rows)."""
    values = (days * 40)[:40]
    tmp_path.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"day": values, "x": np.arange(40.0), "label": ["a", "b"] * 20})
    return write(tmp_path, frame)


def read_days(path: Path, **data: object) -> tuple[pd.DataFrame, list[str]]:
    """Ingest ``path``; its rows (the day's parts) and the ingest lines about dates."""
    result = ingest(make_config(path, label="label", **data), str(path.parent / "out"))
    frame, _ = read_dataset(str(path.parent / "out"))
    lines = [line for line in ingest_notices(result.stats) if "reads its dates as" in line]
    return frame, lines


def test_a_day_above_12_reads_every_numeric_date_of_the_column_day_first(tmp_path: Path) -> None:
    """pandas alone reads 24/10/2022 day first and 01/02/2022 month first in one column."""
    frame, lines = read_days(dated(tmp_path, ["24/10/2022", "01/02/2022", "2022-01-05"]))
    months = frame[["day_month", "day_day"]].drop_duplicates().to_numpy().tolist()
    assert months == [[10.0, 24.0], [2.0, 1.0], [1.0, 5.0]]  # year-first stays year-first
    assert lines == [
        f"[trainpipe] ingest: {tmp_path / 'export.csv'}: column 'day' reads its dates as "
        "day/month/year: '24/10/2022' has a day above 12"
    ]


def test_dates_that_do_not_say_read_month_first_and_say_so(tmp_path: Path) -> None:
    frame, (line,) = read_days(dated(tmp_path, ["01/02/2022", "03/04/2022"]))
    assert frame[["day_month", "day_day"]].iloc[0].tolist() == [1.0, 2.0]
    assert "month/day/year, as no value says which comes first" in line
    assert "set data.day_first: true if the day comes first" in line
    forced, lines = read_days(dated(tmp_path / "f", ["01/02/2022", "03/04/2022"]), day_first=True)
    assert forced[["day_month", "day_day"]].iloc[0].tolist() == [2.0, 1.0] and not lines


def test_a_column_of_both_orders_is_refused_naming_a_value_of_each(tmp_path: Path) -> None:
    path = dated(tmp_path, ["24/10/2022", "10/24/2022"])
    with pytest.raises(DataError, match=r"export\.csv: date column 'day' holds day/month/year"):
        ingest(make_config(path, label="label"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_model_reads_new_dates_the_way_its_training_data_was_read(tmp_path: Path) -> None:
    path = dated(tmp_path, ["24/10/2022", "03/04/2022"])
    ingest(make_config(path, label="label"), str(tmp_path / "out"))
    _, schema = read_dataset(str(tmp_path / "out"))
    raw = pd.DataFrame({"day": ["05/06/2023"], "x": [1.0]})
    parts = prepare_rows(raw, schema.column_roles)
    assert parts[["day_month", "day_day"]].iloc[0].tolist() == [6.0, 5.0]


def crm(tmp_path: Path) -> Path:
    """An export's money, percentages and padded categories and labels."""
    rows = 60
    frame = pd.DataFrame(
        {
            "spend": [f"${1000 + 37.5 * i:,.2f}" for i in range(rows)],
            "discount": [f"{i % 40}%" for i in range(rows)],
            "balance": [f"({i},000.00)" if i % 3 else f"{i},000.00" for i in range(rows)],
            "betrag": [f"{i}.{i:03d},50 €" if i % 2 else f"{i},25 €" for i in range(1, rows + 1)],
            "plan": ["Pro ", "Pro", " Basic", "Basic"] * (rows // 4),
            "churned": ["yes", " yes", "no", "Yes"] * (rows // 4),
        }
    )
    return write(tmp_path, frame)


def ingested_crm(tmp_path: Path) -> tuple[pd.DataFrame, Any, list[str]]:
    """:func:`crm` ingested: its rows, schema and ingest lines."""
    result = ingest(make_config(crm(tmp_path), label="churned"), str(tmp_path / "out"))
    frame, schema = read_dataset(str(tmp_path / "out"))
    return frame, schema, ingest_notices(result.stats)


def said(lines: list[str], text: str) -> bool:
    """Whether one of ``lines`` holds ``text``."""
    return any(text in line for line in lines)


def test_money_percentages_and_grouped_numbers_are_numbers(tmp_path: Path) -> None:
    frame, schema, lines = ingested_crm(tmp_path)
    assert schema.features == ["spend", "discount", "balance", "betrag", "plan"]
    assert frame["betrag"].iloc[:3].tolist() == [1001.5, 2.25, 3003.5]
    assert frame["spend"].iloc[:2].tolist() == [1000.0, 1037.5]
    assert frame["discount"].iloc[:2].tolist() == [0.0, 1.0]
    assert frame["balance"].iloc[:3].tolist() == [0.0, -1000.0, -2000.0]
    assert said(
        lines,
        "column 'spend': numbers written with a currency symbol and thousands separators, read "
        "without them (e.g. '$1,000.00')",
    )
    assert said(lines, "'discount': numbers written with a percent sign")
    assert said(lines, "parentheses for negatives")
    assert said(lines, "'betrag': numbers written with a currency symbol and a decimal comma")
    raw = pd.DataFrame(
        {
            "spend": ["$2,500.00"],
            "discount": ["12%"],
            "balance": ["(3,000.00)"],
            "betrag": ["7.000 €"],  # 7000 in this column, whatever one value alone says
            "plan": ["Pro "],
        }
    )
    prepared = prepare_rows(raw, schema.column_roles)
    numbers = prepared[["spend", "discount", "balance", "betrag"]].apply(pd.to_numeric)
    assert numbers.iloc[0].tolist() == [2500.0, 12.0, -3000.0, 7000.0]
    assert prepared["plan"].iloc[0] == "Pro"


def test_padded_categories_and_labels_are_trimmed_and_case_variants_named(
    tmp_path: Path,
) -> None:
    frame, schema, lines = ingested_crm(tmp_path)
    assert sorted(frame["plan"].unique()) == ["Basic", "Pro"]
    assert schema.classes == ["Yes", "no", "yes"]  # ' yes' is 'yes'; 'Yes' stays its own class
    assert said(
        lines,
        "column 'plan': 2 distinct values; 30 values read without their surrounding blanks "
        "(e.g. 'Pro ' as 'Pro')",
    )
    assert said(lines, "15 labels read without their surrounding blanks")
    assert said(lines, "the classes 'Yes' and 'yes' differ only in case and stay apart")


@pytest.mark.parametrize(
    ("texts", "numbers", "formats"),
    [
        (
            ["$1,234.50", "(12.00)", "7%"],
            [1234.5, -12.0, 7.0],
            ("parentheses", "currency", "percent", "thousands"),
        ),
        (
            ["1.234,50 €", "725,08 €", "1.250"],
            [1234.5, 725.08, 1250.0],
            ("currency", "decimal_comma"),
        ),
        (["1,234", "12"], [1234.0, 12.0], ("thousands",)),
        # a point decimal says the column is not written with decimal commas: 1,5 stays text
        (["0.5", "1.250", "1,5"], [0.5, 1.25, None], ()),
    ],
)
def test_plain_numbers_read_each_column_one_way(
    texts: list[str], numbers: list[float | None], formats: tuple[str, ...]
) -> None:
    plain, found = plain_numbers(pd.Series(texts))
    assert found == formats
    read = pd.to_numeric(plain, errors="coerce").tolist()
    assert [None if pd.isna(v) else v for v in read] == numbers


def test_nested_json_lines_spread_into_columns_and_lists_are_named_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An API export's objects become columns by their path; a column of lists (which crashed
    ingest before) is no feature, and says why."""
    records = [
        {
            "user": {"id": i % 10, "plan": ["free", "paid"][i % 2]},
            "amount": 1.5 * i,
            "tags": ["a", "b"][: 1 + i % 2],
            "clicked": ["no", "yes", "yes", "no"][i % 4],
        }
        for i in range(40)
    ]
    path = tmp_path / "events.jsonl"
    pd.DataFrame(records).to_json(path, orient="records", lines=True)
    result = ingest(make_config(path, label="clicked"), str(tmp_path / "out"))
    _, schema = read_dataset(str(tmp_path / "out"))
    assert schema.features == ["amount", "user.plan"] and schema.group == "user.id"
    assert "objects in 'user' read as the columns user.id, user.plan" in capsys.readouterr().out
    assert said(
        ingest_notices(result.stats),
        "tags (unused: lists or objects in its cells (e.g. ['a']), which no role reads",
    )

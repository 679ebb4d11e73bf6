"""Repeats and groups never span splits; every removed row is counted by its rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_files import make_config
from table_shapes import survey_table
from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.quality import row_hashes
from trainpipe.data.row_accounting import RowAccount
from trainpipe.data.split import split_dataset, split_frame
from trainpipe.data.split_groups import row_groups
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def run_split(tmp_path: Path, frame: pd.DataFrame, **settings: dict) -> tuple[list, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "t.csv"
    frame.to_csv(source, index=False)
    config = RunConfig.from_dict({"data": {"source": str(source), "label": "y"}, **settings})
    ingested = ingest(config, str(tmp_path / "ds"))
    outs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    result = split_dataset(config, str(tmp_path / "ds"), *outs)
    return [read_dataset(o)[0] for o in outs], {"stats": ingested.stats, "split": result}


def spans(parts: list[pd.DataFrame], columns: list[str]) -> int:
    """How many feature rows occur in more than one split."""
    seen = [set(row_hashes(p, columns).tolist()) for p in parts]
    return len((seen[0] & seen[1]) | (seen[0] & seen[2]) | (seen[1] & seen[2]))


def test_label_conflicting_repeats_split_without_leaking_or_losing_rows(tmp_path: Path) -> None:
    frame = survey_table()
    assert frame.duplicated(["a", "b", "c"]).mean() > 0.9
    assert (frame.groupby(["a", "b", "c"])["y"].nunique() > 1).any()
    parts, found = run_split(tmp_path, frame)
    assert sum(len(p) for p in parts) == len(frame) == found["stats"]["rows"]  # nothing dropped
    assert spans(parts, ["a", "b", "c"]) == 0
    _, validation, test = parts
    assert 0.08 < len(validation) / len(frame) < 0.25 and 0.08 < len(test) / len(frame) < 0.25
    grouped = found["split"].findings[0]
    assert grouped["check"] == "grouped_rows" and grouped["severity"] == "info"
    share = (frame["y"] == "yes").mean()
    for part in parts:
        assert abs((part["y"] == "yes").mean() - share) < 0.12  # stratified by class


def test_a_group_column_keeps_a_panel_unit_in_one_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "site": np.repeat(np.arange(40), 5),
            "x": rng.normal(size=200).round(2),
            "y": rng.choice(["a", "b"], 200),
        }
    )
    parts, _ = run_split(tmp_path, frame, split={"group_by": "site"})
    sites = [set(p["site"]) for p in parts]
    assert not (sites[0] & sites[1]) and not (sites[0] & sites[2]) and not (sites[1] & sites[2])
    assert "site" not in read_dataset(str(tmp_path / "train"))[1].features


def test_groups_join_through_features_and_the_group_column() -> None:
    frame = pd.DataFrame({"g": [1, 1, 2, 3, np.nan, np.nan], "x": [0.0, 1.0, 1.0, 5.0, 6.0, 7.0]})
    schema = Schema(label="y", task="regression", features=["x"], group="g")
    codes = row_groups(frame, schema).codes
    # rows 0-1 share g=1, rows 1-2 share x=1: one group; a missing g joins nothing
    assert codes[0] == codes[1] == codes[2]
    assert len({codes[0], codes[3], codes[4], codes[5]}) == 4


def test_too_few_groups_for_the_holdout_is_a_clear_error() -> None:
    frame = pd.DataFrame({"x": [1.0] * 10 + [2.0] * 10, "y": [0.0, 1.0] * 10})
    schema = Schema(label="y", task="regression", features=["x"])
    config = RunConfig.from_dict({"task": "regression", "data": {"source": "s", "label": "y"}})
    with pytest.raises(DataError, match=r"into 2 groups, too few to give the test split"):
        split_frame(frame, schema, config)


def test_a_leak_stops_the_split_unless_leak_check_warns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b"], 300)
    frame = pd.DataFrame({"x": rng.normal(size=300), "copy": np.where(y == "a", 0, 1), "y": y})
    with pytest.raises(DataError, match=r"split\.leak_check: warn"):
        run_split(tmp_path / "fail", frame)
    _, found = run_split(tmp_path / "warn", frame, split={"leak_check": "warn"})
    leaks = [f for f in found["split"].findings if f["check"] == "label_leakage"]
    assert leaks and all(f["severity"] == "warn" for f in leaks)


def test_every_removed_row_is_counted_by_its_rule(tmp_path: Path, capsys) -> None:
    rows = ["a,b,key,y", "1,2,k1,0", "1,2,k1,0", "1,2,k2,1", "3,,k3,1", "4,5,k1,0", "6,7,k4,"]
    rows += [f"{i},{i},u{i},{i % 2}" for i in range(10, 40)]
    source = tmp_path / "d.csv"
    source.write_text("\n".join(rows) + "\n")
    config = make_config(
        source, label="y", drop_duplicates=True, duplicate_keys=["key"], drop=["key"]
    )
    stats = ingest(config, str(tmp_path / "out")).stats
    account = stats["row_accounting"]
    removed = {r["rule"]: r["rows"] for r in account["removed"]}
    assert removed == {
        "label_missing": 1, "duplicate_rows": 1, "duplicate_keys": 1, "missing_values": 1
    }  # fmt: skip
    assert account["rows_in"] - sum(removed.values()) == account["rows_out"] == stats["rows"]
    assert account["rows_in"] == len(rows) - 1
    out = capsys.readouterr().out
    assert "kept 32 of 36 rows; removed 4 (11.1%)" in out
    assert "1 exact repeats of an earlier row" in out


def test_the_account_refuses_impossible_counts() -> None:
    account = RowAccount(rows_in=5)
    account.remove("label_missing", 2)
    with pytest.raises(ValueError, match="cannot remove 4 of 3 rows"):
        account.remove("duplicate_rows", 4)
    with pytest.raises(ValueError, match="unknown row rule"):
        account.remove("vanished", 1)
    assert account.notice("d.csv").startswith("[trainpipe] ingest: d.csv: kept 3 of 5 rows")
    assert RowAccount(rows_in=100).notice("d.csv") == ""

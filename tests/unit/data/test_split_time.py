"""The time split (``split.order_by``): earliest rows train, latest test, in memory and streamed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.data.split_time import time_cuts, time_folds
from trainpipe.errors import ConfigError, DataError, TuningError
from trainpipe.tune.crossval import cross_validation_folds

pytestmark = pytest.mark.unit


def sales(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Daily rows, several a day, in shuffled order (as an export may come); the label drifts
    with time, so a model that saw the future would score better than it will."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 200, rows), unit="D")
    price = rng.normal(10, 2, rows)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(rows) + 1000,
            "store": rng.integers(0, 20, rows),  # an id-like column that repeats
            "day": days.strftime("%Y-%m-%d"),
            "price": price,
            "label": np.where(price + (days.day_of_year / 40) > 12, "high", "low"),
        }
    )
    return frame.rename(columns={"store": "store_id"})


def run(
    tmp_path: Path,
    frame: pd.DataFrame,
    *,
    stream_split: bool = False,
    data: dict[str, Any] | None = None,
    **split: Any,
) -> tuple[list[pd.DataFrame], list[dict[str, Any]], Any]:
    """Ingest ``frame`` and split it with ``split`` (and ``data``) settings; the three splits,
    the split's findings and the dataset's schema."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "sales.csv"
    frame.to_csv(source, index=False)
    config = RunConfig.from_dict(
        {
            "data": {
                "source": str(source),
                "label": "label",
                # 0: the split of the ingested dataset streams; ingest itself stays in memory
                "stream_threshold_mb": 0 if stream_split else 512,
                **(data or {}),
            },
            "split": split,
        }
    )
    dataset = str(tmp_path / "dataset")
    result = ingest(config, dataset)
    outputs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    findings = split_dataset(config, dataset, *outputs).findings
    return [read_dataset(o)[0] for o in outputs], findings, result.schema


def days(part: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(part["day"], unit="s")


def test_cuts_keep_a_time_in_one_split_and_come_nearest_the_fractions() -> None:
    times = np.repeat(np.arange(10.0), 10)  # 10 times, 10 rows each
    cuts = time_cuts(times, validation=0.15, test=0.15, column="t")
    # 70 train rows is a whole time; 15 rows are not: the nearest change (85 -> 80, 90) wins
    assert (cuts.validation, cuts.test) == (7.0, 8.0)
    assert np.bincount(cuts.assign(times)).tolist() == [70, 10, 20]
    shuffled = np.random.default_rng(0).permutation(times)
    assert time_cuts(shuffled, validation=0.15, test=0.15, column="t") == cuts


def test_too_few_times_or_a_missing_one_is_refused_by_name() -> None:
    with pytest.raises(DataError, match=r"'t' holds 2 distinct value\(s\)"):
        time_cuts(np.array([1.0, 1.0, 2.0, 2.0]), validation=0.2, test=0.2, column="t")
    with pytest.raises(DataError, match="'t' has no value in 1 rows"):
        time_cuts(np.array([1.0, np.nan, 2.0, 3.0]), validation=0.2, test=0.2, column="t")
    three = time_cuts(np.array([1.0, 2.0, 3.0]), validation=0.01, test=0.01, column="t")
    assert np.bincount(three.assign(np.array([1.0, 2.0, 3.0]))).tolist() == [1, 1, 1]


def test_a_dated_table_trains_on_the_past_and_tests_on_the_future(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = sales()
    (train, validation, test), findings, schema = run(tmp_path, frame, order_by="day")

    assert schema.order == "day" and schema.group == ""  # the repeating store_id groups nothing
    assert {"day_year", "day_month", "day_day", "day_day_of_week"} <= set(schema.features)
    assert "day" not in schema.features and "day" in train.columns
    assert days(train).max() < days(validation).min()
    assert days(validation).max() < days(test).min()
    assert len(train) + len(validation) + len(test) == len(frame)
    assert abs(len(test) / len(frame) - 0.15) < 0.02
    first = findings[0]
    assert first["check"] == "time_split" and first["severity"] == "info"
    start, end = frame["day"].min(), frame["day"].max()
    assert f"train {len(train):,} rows ({start} to" in first["message"]
    assert f"to {end})" in first["message"]
    printed = capsys.readouterr().out
    assert "split orders rows by 'day' (split.order_by)" in printed
    assert "split groups rows" not in printed


def test_the_streamed_split_puts_every_row_where_memory_does(tmp_path: Path) -> None:
    frame = sales(rows=3000, seed=1)
    memory, _, _ = run(tmp_path / "memory", frame, order_by="day")
    streamed, findings, _ = run(tmp_path / "stream", frame, stream_split=True, order_by="day")

    for kept, expected in zip(streamed, memory, strict=True):
        assert sorted(zip(kept["day"], kept["price"], strict=True)) == sorted(
            zip(expected["day"], expected["price"], strict=True)
        )
    assert findings[0]["check"] == "time_split"
    assert "rows split as a stream" not in findings[0]["message"]


@pytest.mark.parametrize("stream_split", [False, True], ids=["memory", "streamed"])
def test_a_later_row_repeating_an_earlier_one_is_a_warning_not_a_leak(
    tmp_path: Path, stream_split: bool
) -> None:
    frame = sales(rows=400)[["day", "price", "label"]]
    frame["price"] = frame["price"].round(0)  # few prices: later days repeat earlier rows
    frame["day"] = pd.to_datetime(frame["day"]).dt.day_of_year  # a time given as numbers
    (train, _, test), findings, schema = run(
        tmp_path, frame, stream_split=stream_split, data={"features": ["price"]},
        order_by="day", near_duplicates="off",
    )  # fmt: skip
    assert schema.order == "day" and schema.features == ["price"]
    assert train["day"].max() < test["day"].min()
    shared = [f for f in findings if f["check"] == "shared_rows"]
    assert shared and all(f["severity"] == "warn" for f in shared)
    assert "later rows repeating earlier ones" in shared[0]["message"]
    assert findings[0]["message"].startswith("split by time (split.order_by 'day'): train ")


def test_a_numeric_time_can_be_a_feature_too(tmp_path: Path) -> None:
    frame = sales(rows=300).assign(week=lambda f: pd.to_datetime(f["day"]).dt.isocalendar().week)
    (train, validation, test), _, schema = run(tmp_path, frame, order_by="week")
    assert schema.order == "week" and "week" in schema.features
    assert train["week"].max() < validation["week"].min() <= validation["week"].max()
    assert validation["week"].max() < test["week"].min()


def test_times_missing_or_unreadable_are_refused_naming_the_row(tmp_path: Path) -> None:
    frame = sales(rows=60)
    frame.loc[7, "day"] = None
    with pytest.raises(DataError, match=r"'day' has no value in 1 rows \(the first at data row 8"):
        run(tmp_path / "a", frame, order_by="day")
    frame = sales(rows=60)
    frame["day"] = frame["day"].astype(object)
    frame.loc[4, "day"] = "soon"
    with pytest.raises(DataError, match="holds 'soon' at data row 5, neither a number nor a date"):
        run(tmp_path / "b", frame, order_by="day", near_duplicates="off")
    assert not (tmp_path / "b" / "dataset").exists()


def test_a_category_column_is_no_time(tmp_path: Path) -> None:
    frame = sales(rows=60).assign(quarter=lambda f: "Q" + (f.index % 4 + 1).astype(str))
    with pytest.raises(DataError, match="'quarter' is a categorical feature"):
        run(tmp_path, frame, order_by="quarter")


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"order_by": "day", "group_by": "store_id"}, "empty when split.group_by is set"),
        ({"order_by": "label"}, "a column other than data.label"),
    ],
)
def test_settings_a_time_split_cannot_take_are_refused(split: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict({"data": {"source": "x.csv", "label": "label"}, "split": split})


def test_folds_train_on_an_expanding_past_and_validate_on_the_next_period() -> None:
    times = np.random.default_rng(0).permutation(np.repeat(np.arange(12.0), 5))
    folds = time_folds(times, folds=3, column="t")
    assert len(folds) == 3
    for k, (train, held) in enumerate(folds):
        assert times[train].max() < times[held].min()  # no time on both sides
        assert len(train) == 15 * (k + 1) and len(held) == 15  # 12 times in 4 equal periods
    assert sorted(np.concatenate([folds[0][0], *(held for _, held in folds)])) == list(range(60))
    with pytest.raises(DataError, match=r"needs 4 distinct times .* holds 3 there"):
        time_folds(np.array([1.0, 2.0, 3.0, 3.0]), folds=3, column="t")


def test_cross_validation_of_a_time_split_follows_time(tmp_path: Path) -> None:
    frame = sales(rows=400)
    source = tmp_path / "sales.csv"
    frame.to_csv(source, index=False)
    settings: dict[str, Any] = {
        "data": {"source": str(source), "label": "label"},
        "split": {"order_by": "day"},
        "tune": {"cv": {"kind": "kfold", "folds": 3}},
    }
    config = RunConfig.from_dict(settings)
    ingest(config, str(tmp_path / "dataset"))
    outputs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    split_dataset(config, str(tmp_path / "dataset"), *outputs)

    pairs = list(cross_validation_folds(config, outputs[0], tmp_path / "folds"))
    assert len(pairs) == 3
    for fold_train, fold_validation in pairs:
        assert (
            read_dataset(fold_train)[0]["day"].max() < read_dataset(fold_validation)[0]["day"].min()
        )
    settings["tune"]["cv"]["kind"] = "stratified"
    with pytest.raises(TuningError, match=r"tune\.cv\.kind=stratified shuffles rows across time"):
        list(cross_validation_folds(RunConfig.from_dict(settings), outputs[0], tmp_path / "f"))

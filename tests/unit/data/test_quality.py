"""Unit tests for trainpipe.data.quality: overlap, leakage, degenerate columns and bias report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainpipe.data.dataset import Schema
from trainpipe.data.quality import (
    Finding,
    bias_report,
    check_split,
    constant_columns,
    high_missing,
    label_leakage,
    row_hashes,
    shared_rows,
)
from trainpipe.errors import ConfigError, DataError

pytestmark = pytest.mark.unit

FEATURES = ["x1", "x2", "x3"]


def make_split(
    n: int = 300, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Schema]:
    """A clean classification split: distinct random rows cut 200/50/50."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["y"] = rng.choice(["a", "b", "c"], size=n)
    schema = Schema(label="y", task="classification", features=FEATURES, classes=["a", "b", "c"])
    train = frame.iloc[:200].reset_index(drop=True)
    validation = frame.iloc[200:250].reset_index(drop=True)
    test = frame.iloc[250:].reset_index(drop=True)
    return train, validation, test, schema


# --- Finding and hashing -------------------------------------------------------------------------


def test_finding_to_dict_is_plain_data() -> None:
    finding = Finding(check="c", severity="warn", message="m", columns=("a", "b"), rows=3)
    assert finding.to_dict() == {
        "check": "c",
        "severity": "warn",
        "message": "m",
        "columns": ["a", "b"],
        "rows": 3,
    }
    with pytest.raises(AttributeError):
        finding.rows = 4  # type: ignore[misc]


def test_row_hashes_ignore_index_and_numeric_dtype() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0, 0.0], "y": [3.0, 4.0, 5.0]}, index=[10, 11, 12])
    b = pd.DataFrame({"x": [1, 2, -0.0], "y": [3, 4, 5]})
    hashes = row_hashes(a, ["x", "y"])
    assert hashes.dtype == np.uint64
    assert hashes.shape == (3,)
    np.testing.assert_array_equal(hashes, row_hashes(b, ["x", "y"]))
    assert len(set(hashes.tolist())) == 3
    # only the named columns count
    c = a.assign(z=[7.0, 8.0, 9.0])
    np.testing.assert_array_equal(row_hashes(c, ["x", "y"]), hashes)


# --- shared rows ---------------------------------------------------------------------------------


def test_leaky_split_is_caught_with_the_right_count() -> None:
    train, validation, test, schema = make_split()
    leaked = test.iloc[[3, 8, 15, 21, 30, 42, 49]]
    leaky_train = pd.concat([train, leaked], ignore_index=True)

    finding = shared_rows(leaky_train, test, FEATURES, name="test")
    assert finding is not None
    assert finding.check == "shared_rows"
    assert finding.severity == "fail"
    assert finding.rows == 7
    assert "7 of 50 test rows (14.0%)" in finding.message
    assert "keeps identical rows in one split" in finding.message
    assert finding.columns == tuple(FEATURES)
    assert shared_rows(leaky_train, validation, FEATURES, name="validation") is None

    findings = check_split(leaky_train, validation, test, schema)
    assert [(f.check, f.rows) for f in findings] == [("shared_rows", 7)]
    assert "test rows" in findings[0].message


def test_shared_rows_match_on_features_only_and_count_repeats() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "a", "b"]})
    # same features, different label: still the same input the model saw
    other = pd.DataFrame({"x": [2.0, 2.0, 4.0, 5.0], "y": ["b", "b", "a", "a"]})
    finding = shared_rows(train, other, ["x"], name="validation")
    assert finding is not None
    assert finding.rows == 2
    assert "2 of 4 validation rows (50.0%)" in finding.message


def test_clean_split_passes() -> None:
    train, validation, test, schema = make_split()
    assert shared_rows(train, test, FEATURES) is None
    assert shared_rows(train, test.iloc[:0], FEATURES) is None
    assert check_split(train, validation, test, schema) == []


def test_check_split_reports_each_problem_in_order() -> None:
    train, validation, test, schema = make_split()
    codes = {"a": 0.0, "b": 1.0, "c": 2.0}
    parts = [part.assign(x3=1.0, leak=part["y"].map(codes)) for part in (train, validation, test)]
    train, validation, test = parts
    train = pd.concat([train, validation.iloc[:2], test.iloc[:1]], ignore_index=True)
    schema.features = [*FEATURES, "leak"]
    findings = check_split(train, validation, test, schema)
    assert [(f.check, f.severity, f.columns, f.rows) for f in findings] == [
        ("shared_rows", "fail", (*FEATURES, "leak"), 2),
        ("shared_rows", "fail", (*FEATURES, "leak"), 1),
        ("label_leakage", "fail", ("leak",), 0),
        ("constant_columns", "warn", ("x3",), 0),
    ]
    assert "validation rows" in findings[0].message
    assert "test rows" in findings[1].message


# --- label leakage -------------------------------------------------------------------------------


def test_clean_features_show_no_leakage() -> None:
    train, _, _, schema = make_split()
    train["id"] = np.arange(len(train), dtype=float)  # distinct per row, but not 1:1 with y
    schema.features = [*FEATURES, "id"]
    assert label_leakage(train, schema) == []


def test_label_copied_as_feature_is_caught() -> None:
    train, _, _, schema = make_split()
    train["copy"] = train["y"]  # the label itself as a column
    train["code"] = train["y"].map({"a": 0, "b": 1, "c": 2}).astype(float)  # the class index
    train["recode"] = train["y"].map({"a": 10.0, "b": -3.0, "c": 7.5})  # another 1:1 encoding
    schema.features = [*FEATURES, "copy", "code", "recode", schema.label]
    findings = label_leakage(train, schema)
    assert [f.columns for f in findings] == [("copy",), ("code",), ("recode",), ("y",)]
    assert all(f.check == "label_leakage" and f.severity == "fail" for f in findings)
    messages = {f.columns[0]: f.message for f in findings}
    assert "'copy' is a 1:1 encoding of the label 'y'" in messages["copy"]
    assert "'code' equals the class index of the label 'y'" in messages["code"]
    assert "'recode' is a 1:1 encoding" in messages["recode"]
    assert messages["recode"].endswith("leave it out with data.drop: [recode]")


def test_label_as_01_strings_vs_int_feature_is_caught() -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice(["0", "1"], size=100)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=100),
            "as_int": labels.astype(int),  # ints equal to the "0"/"1" label strings
            "flipped": 1 - labels.astype(int),  # still a deterministic 1:1 mapping
            "y": labels,
        }
    )
    schema = Schema(
        label="y", task="classification", features=["x", "as_int", "flipped"], classes=["0", "1"]
    )
    findings = label_leakage(frame, schema)
    assert [f.columns for f in findings] == [("as_int",), ("flipped",)]
    assert "is identical to the label" in findings[0].message
    assert "1:1 encoding" in findings[1].message


def test_the_leak_message_names_the_setting_with_the_column_as_yaml() -> None:
    labels = np.array(["a", "b"] * 20)
    frame = pd.DataFrame({"visit date": labels, "odd: name": labels, "y": labels})
    schema = Schema(
        label="y", task="classification", features=["visit date", "odd: name"], classes=["a", "b"]
    )
    first, second = label_leakage(frame, schema)
    assert first.message.endswith("leave it out with data.drop: [visit date]")
    assert second.message.endswith('leave it out with data.drop: ["odd: name"]')


def test_almost_1to1_feature_is_not_leakage() -> None:
    labels = np.array(["a", "b"] * 20)
    feature = (labels == "b").astype(float)
    feature[0] = 1.0  # one row breaks the mapping
    frame = pd.DataFrame({"f": feature, "y": labels})
    schema = Schema(label="y", task="classification", features=["f"], classes=["a", "b"])
    assert label_leakage(frame, schema) == []


def test_regression_near_copy_is_caught() -> None:
    rng = np.random.default_rng(2)
    target = rng.normal(size=500)
    frame = pd.DataFrame(
        {
            "same": target.copy(),
            "near": 3.0 * target + 1.0 + rng.normal(scale=0.05, size=500),  # r about 0.9999
            "negated": -target + rng.normal(scale=0.03, size=500),  # r about -0.9996
            "related": target + rng.normal(scale=0.1, size=500),  # r about 0.995: a real feature
            "noise": rng.normal(size=500),
            "target": target,
        }
    )
    features = ["same", "near", "negated", "related", "noise"]
    schema = Schema(label="target", task="regression", features=features)
    findings = label_leakage(frame, schema)
    assert [f.columns for f in findings] == [("same",), ("near",), ("negated",)]
    assert "identical to the label 'target'" in findings[0].message
    assert "correlation r=0.999" in findings[1].message
    assert "correlation r=-0.999" in findings[2].message


# --- constant and missing columns ----------------------------------------------------------------


def test_constant_column_is_caught() -> None:
    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "k": [5.0, 5.0, 5.0], "n": [np.nan, 4.0, np.nan], "e": np.nan}
    )
    finding = constant_columns(frame, ["a", "k", "n", "e"])
    assert finding is not None
    assert (finding.check, finding.severity) == ("constant_columns", "warn")
    assert finding.columns == ("k", "n", "e")
    assert "k, n, e" in finding.message
    assert constant_columns(frame, ["a"]) is None
    assert constant_columns(frame.iloc[:0], ["a", "k"]) is None


def test_high_missing_warns_above_the_threshold() -> None:
    frame = pd.DataFrame(
        {
            "full": [1.0, 2.0, 3.0, 4.0],
            "half": [1.0, np.nan, 3.0, np.nan],
            "most": [np.nan, np.nan, np.nan, 4.0],
        }
    )
    finding = high_missing(frame, ["full", "half", "most"])
    assert finding is not None
    assert (finding.check, finding.severity, finding.columns) == ("high_missing", "warn", ("most",))
    assert "most (75%)" in finding.message
    lower = high_missing(frame, ["full", "half", "most"], threshold=0.25)
    assert lower is not None
    assert lower.columns == ("half", "most")
    assert high_missing(frame, ["full"]) is None
    with pytest.raises(ConfigError, match="threshold"):
        high_missing(frame, ["full"], threshold=1.5)


# --- bias report ---------------------------------------------------------------------------------


def bias_inputs() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Group A (6 rows), group B (5 rows), group C (2 rows: too few)."""
    frame = pd.DataFrame({"group": ["A"] * 6 + ["B"] * 5 + ["C"] * 2, "x": np.arange(13.0)})
    #                  |------- A ------| |----- B -----| |-C-|
    y_true = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1])
    y_pred = np.array([0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    return frame, y_true, y_pred


def test_bias_report_numbers_by_hand() -> None:
    frame, y_true, y_pred = bias_inputs()
    report = bias_report(frame, y_true, y_pred, column="group", labels=["no", "yes"])

    assert report["column"] == "group"
    assert report["rows"] == 13
    a, b, c = report["groups"]["A"], report["groups"]["B"], report["groups"]["C"]
    # A: 5 of 6 right; recall no 2/3, yes 3/3; F1 no = 0.8 (P 1, R 2/3), yes = 6/7 (P 3/4, R 1)
    assert a["rows"] == 6
    assert a["accuracy"] == pytest.approx(5 / 6)
    assert a["recall"] == pytest.approx({"no": 2 / 3, "yes": 1.0})
    assert a["f1_macro"] == pytest.approx((0.8 + 6 / 7) / 2)
    # B: 2 of 5 right; recall no 1/2, yes 1/3; F1 no = 0.4 (P 1/3, R 1/2), yes = 0.4 (P 1/2, R 1/3)
    assert b["rows"] == 5
    assert b["accuracy"] == pytest.approx(2 / 5)
    assert b["recall"] == pytest.approx({"no": 1 / 2, "yes": 1 / 3})
    assert b["f1_macro"] == pytest.approx(0.4)
    # C has 2 rows: no metrics
    assert c == {"rows": 2, "note": "too few rows"}

    assert report["accuracy_gap"]["gap"] == pytest.approx(5 / 6 - 2 / 5)
    assert (report["accuracy_gap"]["highest"], report["accuracy_gap"]["lowest"]) == ("A", "B")
    assert report["recall_gaps"]["no"]["gap"] == pytest.approx(2 / 3 - 1 / 2)
    assert report["recall_gap"]["class"] == "yes"
    assert report["recall_gap"]["gap"] == pytest.approx(1 - 1 / 3)
    assert (report["recall_gap"]["highest"], report["recall_gap"]["lowest"]) == ("A", "B")
    # overall includes the small group: 8 of 13 right
    assert report["overall"]["accuracy"] == pytest.approx(8 / 13)


def test_bias_report_numeric_groups_and_absent_class() -> None:
    frame = pd.DataFrame({"sex": [0.0] * 5 + [1.0] * 5})
    #                  |---- 0.0 ----| |---- 1.0 ----|
    y_true = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 1])
    report = bias_report(frame, y_true, y_pred, column="sex", labels=["n", "p"])
    assert set(report["groups"]) == {"0", "1"}
    assert report["groups"]["0"]["recall"] == {"n": pytest.approx(0.8), "p": None}
    # class "p" occurs in one group only: no gap for it
    assert report["recall_gaps"]["p"] is None
    assert report["recall_gap"] == {
        "class": "n",
        "gap": pytest.approx(0.2),
        "highest": "1",
        "lowest": "0",
    }
    assert report["accuracy_gap"]["gap"] == pytest.approx(0.0)


def test_bias_report_single_group_has_no_gaps() -> None:
    frame, y_true, y_pred = bias_inputs()
    report = bias_report(frame.iloc[:6], y_true[:6], y_pred[:6], column="group", labels=["n", "y"])
    assert report["accuracy_gap"] is None
    assert report["recall_gap"] is None


# --- errors name columns -------------------------------------------------------------------------


def test_bias_report_missing_column_names_it_and_the_available_ones() -> None:
    frame, y_true, y_pred = bias_inputs()
    with pytest.raises(DataError, match=r"'gender'.*available columns are: group, x"):
        bias_report(frame, y_true, y_pred, column="gender", labels=["no", "yes"])


def test_bias_report_length_mismatch() -> None:
    frame, y_true, y_pred = bias_inputs()
    with pytest.raises(DataError, match="frame has 13 rows but y_true has 12"):
        bias_report(frame, y_true[:-1], y_pred, column="group", labels=["no", "yes"])


def test_checks_name_missing_columns() -> None:
    train, validation, test, schema = make_split()
    with pytest.raises(DataError, match=r"'x9'.*available columns are: x1, x2, x3, y"):
        shared_rows(train, test, ["x1", "x9"])
    with pytest.raises(DataError, match=r"\(validation\).*'x3'"):
        shared_rows(train, validation.drop(columns="x3"), FEATURES, name="validation")
    with pytest.raises(DataError, match=r"'target'"):
        label_leakage(train, Schema(label="target", task="regression", features=FEATURES))
    with pytest.raises(DataError, match=r"'x7'"):
        constant_columns(train, ["x7"])
    with pytest.raises(DataError, match=r"'x8'"):
        high_missing(train, ["x8"])
    with pytest.raises(DataError, match=r"\(test\).*'x1'"):
        check_split(train, validation, test.drop(columns="x1").assign(x9=0.0), schema)
    with pytest.raises(DataError, match="no columns"):
        row_hashes(train, [])

"""Unit tests for trainpipe.data.split: fractions, stratification, determinism, disjointness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset, write_dataset
from trainpipe.data.split import split_dataset, split_frame, split_with_findings
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit

CLASS_SIZES = {"a": 500, "b": 300, "c": 150, "d": 50}
N = sum(CLASS_SIZES.values())


def make_frame() -> tuple[pd.DataFrame, Schema]:
    """1000 rows with a unique ``id`` feature and imbalanced classes, in a shuffled order."""
    rng = np.random.default_rng(0)
    labels = np.concatenate([[name] * size for name, size in CLASS_SIZES.items()])
    rng.shuffle(labels)
    frame = pd.DataFrame({"id": np.arange(N, dtype=float), "x": rng.normal(size=N), "y": labels})
    schema = Schema(label="y", task="classification", features=["id", "x"], classes=list("abcd"))
    return frame, schema


def make_config(seed: int = 42, **split: Any) -> RunConfig:
    return RunConfig.from_dict(
        {"seed": seed, "data": {"source": "unused.csv", "label": "y"}, "split": split}
    )


@pytest.mark.parametrize(("validation", "test"), [(0.15, 0.15), (0.2, 0.1), (0.1, 0.25)])
def test_fractions_are_respected(validation: float, test: float) -> None:
    frame, schema = make_frame()
    train, val, tst = split_frame(frame, schema, make_config(validation=validation, test=test))
    assert len(train) + len(val) + len(tst) == N
    assert abs(len(val) - round(validation * N)) <= 1
    assert abs(len(tst) - round(test * N)) <= 1
    assert abs(len(train) - round((1 - validation - test) * N)) <= 1


@pytest.mark.parametrize(("validation", "test"), [(0.15, 0.15), (0.2, 0.1), (0.1, 0.25)])
def test_stratification_keeps_class_proportions(validation: float, test: float) -> None:
    frame, schema = make_frame()
    parts = split_frame(frame, schema, make_config(validation=validation, test=test))
    fractions = (1 - validation - test, validation, test)
    for part, fraction in zip(parts, fractions, strict=True):
        counts = part["y"].value_counts()
        for name, size in CLASS_SIZES.items():
            assert abs(int(counts.get(name, 0)) - size * fraction) <= 1 + 1e-9, (name, fraction)


def test_without_stratification_every_row_is_still_used_once() -> None:
    frame, schema = make_frame()
    parts = split_frame(frame, schema, make_config(stratify=False))
    ids = np.concatenate([p["id"].to_numpy() for p in parts])
    assert sorted(ids.tolist()) == frame["id"].tolist()


def test_no_row_is_shared_between_splits() -> None:
    frame, schema = make_frame()
    train, val, test = split_frame(frame, schema, make_config())
    a, b, c = (set(p["id"].tolist()) for p in (train, val, test))
    assert not a & b
    assert not a & c
    assert not b & c
    assert a | b | c == set(frame["id"].tolist())
    # rows travel whole: each id keeps its own label and feature
    merged = pd.concat([train, val, test]).set_index("id").sort_index()
    pd.testing.assert_frame_equal(merged, frame.set_index("id"), check_like=True)


def test_same_seed_gives_the_same_split() -> None:
    frame, schema = make_frame()
    first = split_frame(frame, schema, make_config(seed=3))
    second = split_frame(frame, schema, make_config(seed=3))
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_different_seed_gives_a_different_split() -> None:
    frame, schema = make_frame()
    first = split_frame(frame, schema, make_config(seed=3))
    second = split_frame(frame, schema, make_config(seed=4))
    for a, b in zip(first, second, strict=True):
        assert set(a["id"]) != set(b["id"])


def test_splits_have_a_fresh_index() -> None:
    frame, schema = make_frame()
    for part in split_frame(frame, schema, make_config()):
        assert part.index.tolist() == list(range(len(part)))


def test_too_small_class_names_split_stratify() -> None:
    frame, schema = make_frame()
    frame.loc[0, "y"] = "lonely"
    with pytest.raises(DataError) as info:
        split_frame(frame, schema, make_config())
    message = str(info.value)
    assert "split.stratify: false" in message
    assert "class 'lonely' (1 row) has fewer than the 3 rows" in message


def test_a_class_too_small_for_scikit_learn_is_split_by_its_counts_and_tested() -> None:
    """4 rows of a class at 15%/15%: scikit-learn's two stratified splits leave one row for
    validation and test together and refuse; split by counts, it has a row in each."""
    frame, schema = make_frame()
    frame.loc[:3, "y"] = "rare"
    (train, val, test), findings = split_with_findings(frame, schema, make_config())
    assert [(p["y"] == "rare").sum() for p in (train, val, test)] == [2, 1, 1]
    for part in (val, test):
        assert set(part["y"]) == {"a", "b", "c", "d", "rare"}
    assert sorted(pd.concat([train, val, test])["id"]) == list(range(N))  # each row once
    assert abs(len(test) - 0.15 * N) <= 5 and abs(len(val) - 0.15 * N) <= 5
    (decided,) = findings
    assert decided.check == "stratified_by_counts" and decided.severity == "warn"
    assert "'rare' 4 -> 2/1/1" in decided.message
    again = split_with_findings(frame, schema, make_config())[0]
    assert all(a.equals(b) for a, b in zip(again, (train, val, test), strict=True))


def test_a_class_missing_from_test_is_a_warning() -> None:
    frame, schema = make_frame()
    frame.loc[:1, "y"] = "rare"
    _, findings = split_with_findings(frame, schema, make_config(stratify=False, seed=0))
    missing = [f for f in findings if f.check == "missing_classes"]
    assert missing and all(f.severity == "warn" for f in missing)
    assert "no rows of class 'rare' (2 rows in all)" in missing[-1].message
    assert "set split.stratify: true" in missing[-1].message


def test_too_small_class_splits_without_stratification() -> None:
    frame, schema = make_frame()
    frame.loc[0, "y"] = "lonely"
    parts = split_frame(frame, schema, make_config(stratify=False))
    assert sum(len(p) for p in parts) == N


def test_regression_is_never_stratified() -> None:
    frame, _ = make_frame()
    frame["y"] = np.arange(N, dtype=float)  # every value unique: stratifying would fail
    schema = Schema(label="y", task="regression", features=["id", "x"])
    parts = split_frame(frame, schema, make_config())
    assert sum(len(p) for p in parts) == N


def test_split_dataset_writes_three_datasets(tmp_path: Path) -> None:
    frame, schema = make_frame()
    write_dataset(str(tmp_path / "all"), frame, schema)
    outs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    result = split_dataset(make_config(), str(tmp_path / "all"), *outs)
    expected = split_frame(frame, schema, make_config())
    assert (result.train_rows, result.validation_rows, result.test_rows) == tuple(
        len(p) for p in expected
    )
    for out, part in zip(outs, expected, strict=True):
        stored, stored_schema = read_dataset(out)
        assert stored_schema == schema
        pd.testing.assert_frame_equal(stored, part)

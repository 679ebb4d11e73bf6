"""Unit tests for the parts of the streaming ingest: row hashes and the seen-rows set, column
moments merged batch by batch, and the missing-value policy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trainpipe.data.stream_dedupe import SeenRows, row_hashes
from trainpipe.data.stream_moments import MissingValues, Moments
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def test_row_hashes_compare_rows_as_pandas_does() -> None:
    values = np.array([[0.0, -0.0, np.nan, np.nan, 1.0], [2.0, 2.0, 3.0, 3.0, 2.0]])
    hashes = row_hashes(values, np.isnan(values), None)
    assert hashes[0] == hashes[1]  # -0.0 == 0.0
    assert hashes[2] == hashes[3]  # NaN == NaN
    assert len({hashes[0], hashes[2], hashes[4]}) == 3
    codes = np.array([0, 1, 0, 0, 0])
    with_labels = row_hashes(values, np.isnan(values), codes)
    assert with_labels[0] != with_labels[1]  # same features, another class


def test_seen_rows_drop_exactly_the_rows_pandas_drops() -> None:
    rng = np.random.default_rng(1)
    table = rng.integers(0, 6, size=(5000, 3)).astype(np.float64)  # many repeats
    seen = SeenRows()
    kept = np.concatenate(
        [seen.first_seen(row_hashes(chunk.T.copy(), None, None)) for chunk in np.split(table, 50)]
    )
    expected = ~pd.DataFrame(table).duplicated().to_numpy()
    np.testing.assert_array_equal(kept, expected)
    assert len(seen) == int(expected.sum())


def test_moments_merged_over_batches_match_numpy_even_far_from_zero() -> None:
    rng = np.random.default_rng(2)
    # a large mean and a small spread: a raw sum of squares loses every digit of the variance
    values = 1e9 + rng.normal(0.0, 0.01, size=(2, 3000))
    gaps = np.zeros_like(values, dtype=bool)
    gaps[1, ::7] = True
    values[gaps] = np.nan
    moments = Moments(2)
    for start in range(0, 3000, 250):
        part = values[:, start : start + 250]
        moments.update(part, gaps[:, start : start + 250])
    for column in range(2):
        present = values[column][~gaps[column]]
        described = moments.describe(column)
        assert described["mean"] == pytest.approx(present.mean(), rel=1e-15)
        assert described["std"] == pytest.approx(present.std(), rel=1e-6)
        assert (described["min"], described["max"]) == (present.min(), present.max())
    assert all(math.isnan(v) for v in Moments(1).describe(0).values())  # no values yet


def test_missing_values_drop_fill_and_fail() -> None:
    values = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 6.0]])
    gaps = np.isnan(values)
    positions = np.arange(3)

    drop = MissingValues("drop", ["a", "b"], "d.csv")
    keep, _, left = drop.apply(values, gaps, positions, start=0)
    assert keep is not None and keep.tolist() == [False, False, True]
    assert left is None and drop.rows_dropped == 2 and drop.counts.tolist() == [1, 2]

    constant = MissingValues("constant", ["a", "b"], "d.csv", fill=np.array([-1.0, -2.0]))
    keep, filled, left = constant.apply(values, gaps, positions, start=0)
    assert keep is None and left is None
    assert filled.tolist() == [[1.0, -1.0, 3.0], [-2.0, -2.0, 6.0]]

    fail = MissingValues("fail", ["a", "b"], "d.csv")
    with pytest.raises(
        DataError, match=r"d\.csv: column 'b' has missing values \(first at data row 11\)"
    ):
        fail.apply(values, gaps, positions, start=10)

    with pytest.raises(DataError, match=r"d\.csv: data\.missing 'median' needs whole columns"):
        MissingValues("median", ["a", "b"], "d.csv")

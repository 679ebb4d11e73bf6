"""Model inputs read straight from Arrow equal the preprocessing's own transform, or step aside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from trainpipe.data.dataset import Schema
from trainpipe.train import arrow_inputs
from trainpipe.train.arrow_inputs import class_codes, numeric_inputs
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

SCHEMA = Schema(label="y", task="classification", features=["a", "b", "c"], classes=["no", "yes"])


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(3.0, 2.0, rows),
            "b": rng.integers(-5, 50, rows),
            "c": rng.exponential(1.0, rows),
            "y": rng.choice(["no", "yes"], rows),
        }
    )


def fitted(data: pd.DataFrame, *, clip: bool = False) -> Preprocess:
    preprocess = Preprocess.fit(data, SCHEMA, clip_quantile=0.05 if clip else 0.0)
    return preprocess


def arrow(data: pd.DataFrame, *, chunks: int = 1) -> pa.Table:
    """``data`` as an Arrow table of ``chunks`` record batches (as several row groups read)."""
    parts = np.array_split(np.arange(len(data)), chunks)
    tables = [pa.Table.from_pandas(data.iloc[p], preserve_index=False) for p in parts]
    return pa.concat_tables(tables)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("chunks", [1, 3])
def test_float64_and_integer_features_give_the_transforms_bits(clip: bool, chunks: int) -> None:
    data = frame(1000)
    preprocess = fitted(data, clip=clip)
    table = arrow(data, chunks=chunks)
    x = numeric_inputs(table, preprocess)
    assert x is not None and x.dtype == np.float32 and x.flags.c_contiguous
    assert torch.equal(torch.from_numpy(x), preprocess.transform_features(data))
    rows = np.array([999, 0, 512, 3, 3])
    picked = numeric_inputs(table, preprocess, rows)
    assert picked is not None
    assert torch.equal(torch.from_numpy(picked), preprocess.transform_features(data.iloc[rows]))


def test_slabs_cover_every_row_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_inputs, "SLAB_BYTES", 1)  # the smallest slab: 256 rows
    data = frame(1000)
    preprocess = fitted(data)
    x = numeric_inputs(arrow(data, chunks=3), preprocess)
    assert x is not None
    assert torch.equal(torch.from_numpy(x), preprocess.transform_features(data))


def test_float32_features_are_standardized_in_float32() -> None:
    data = frame(500).astype({"a": "float32", "b": "float32", "c": "float32"})
    preprocess = fitted(data)
    x = numeric_inputs(arrow(data), preprocess)
    assert x is not None
    expected = preprocess.standardize(data[["a", "b", "c"]].to_numpy())
    assert np.array_equal(x, expected)
    torch.testing.assert_close(torch.from_numpy(x), preprocess.transform_features(data))


def test_what_the_fast_path_cannot_decide_is_left_to_the_preprocessing() -> None:
    data = frame(100)
    preprocess = fitted(data)
    holed = data.copy()
    holed.loc[7, "c"] = np.nan  # a null in Arrow
    assert numeric_inputs(arrow(holed), preprocess) is None
    nan = pa.Table.from_pandas(data, preserve_index=False).set_column(
        2, "c", pa.array(np.where(np.arange(100) == 7, np.nan, data["c"]), from_pandas=False)
    )
    assert nan.column("c").null_count == 0  # a NaN that is a value, not a null
    assert numeric_inputs(nan, preprocess) is None
    words = data.astype({"b": str})
    assert numeric_inputs(arrow(words), preprocess) is None
    assert numeric_inputs(arrow(data.drop(columns=["b"])), preprocess) is None
    categorical = Preprocess.fit(
        data.assign(plan=np.where(data["b"] > 20, "gold", "basic")),
        Schema(**{**SCHEMA.to_dict(), "features": ["a", "plan"], "categorical": ["plan"]}),
    )
    assert numeric_inputs(arrow(data.assign(plan="gold")), categorical) is None


def test_string_labels_become_class_indices() -> None:
    labels = ["yes", "no", "no", "yes", "no"]
    plain = pa.chunked_array([labels[:2], labels[2:]])
    dictionary = pa.chunked_array([pa.array(labels).dictionary_encode()])
    expected = np.array([1, 0, 0, 1, 0])
    for column in (plain, dictionary):
        codes = class_codes(column, ["no", "yes"])
        assert codes is not None and codes.dtype == np.int64
        assert np.array_equal(codes, expected)


def test_labels_the_fast_path_cannot_map_are_left_to_the_preprocessing() -> None:
    assert class_codes(pa.chunked_array([["no", "maybe"]]), ["no", "yes"]) is None
    assert class_codes(pa.chunked_array([["no", None]]), ["no", "yes"]) is None
    assert class_codes(pa.chunked_array([[0, 1]]), ["0", "1"]) is None  # "1" from 1 is pandas'

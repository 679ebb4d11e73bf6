"""A model reads raw rows as ingest read the training rows: dates into parts, words as missing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from data_files import make_config
from table_shapes import export_table
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("missing", ["median", "drop"])
def test_raw_export_rows_transform_like_the_ingested_ones(tmp_path: Path, missing: str) -> None:
    raw = export_table()
    source = tmp_path / "export.csv"
    raw.to_csv(source, index=False)
    ingest(make_config(source, label="label", missing=missing), str(tmp_path / "ds"))
    frame, schema = read_dataset(str(tmp_path / "ds"))
    preprocess = Preprocess.fit(frame, schema, missing=missing)
    rows = pd.read_csv(source)  # as a user has them: "2025-01-01 00:00", "refused"
    if missing == "drop":
        with pytest.raises(DataError, match="'income'"):
            preprocess.transform_features(rows)  # the five "refused" incomes are refused
        rows = rows.iloc[5:].reset_index(drop=True)
    from_raw = preprocess.transform_features(rows)
    from_dataset = preprocess.transform_features(frame)
    assert torch.equal(from_raw, from_dataset)
    # the ingested split holds the converted columns already; loading back keeps the plan
    again = Preprocess(**preprocess.to_dict())
    assert torch.equal(again.transform_features(rows), from_dataset)

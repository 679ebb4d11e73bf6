"""Datasets are written with a dictionary only for the columns whose values repeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from trainpipe.data.dataset import Schema, read_dataset, write_dataset

pytestmark = pytest.mark.unit


def test_continuous_columns_are_written_plain_and_repeated_ones_with_a_dictionary(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "x": rng.normal(size=20_000).astype(np.float32),
        "level": rng.integers(0, 4, 20_000).astype(np.float64),
        "y": rng.choice(["no", "yes"], 20_000),
    })  # fmt: skip
    schema = Schema(label="y", task="classification", features=["x", "level"],
                    classes=["no", "yes"])  # fmt: skip
    write_dataset(str(tmp_path), frame, schema)
    chunk = pq.ParquetFile(tmp_path / "data.parquet").metadata.row_group(0)
    encodings = {chunk.column(i).path_in_schema: chunk.column(i).encodings for i in range(3)}
    assert not any("DICTIONARY" in e for e in encodings["x"])
    assert any("DICTIONARY" in e for e in encodings["level"])
    assert any("DICTIONARY" in e for e in encodings["y"])
    back, read_schema = read_dataset(str(tmp_path))
    pd.testing.assert_frame_equal(back, frame)
    assert read_schema == schema
    assert (tmp_path / "data.parquet").stat().st_size < 20_000 * (4 + 1 + 1) * 1.2

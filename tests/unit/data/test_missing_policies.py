"""What each ``data.missing`` value does to a numeric and a categorical feature, as the README's
configuration section lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_files import make_config, write_csv
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest, ingest_notices

pytestmark = pytest.mark.unit

# x: 1, 1, 4, missing, 10 (mean 4, median 2.5, mode 1); color: red twice, blue once, missing.
TABLE = "x,color,target\n1,red,0\n1,,1\n4,red,1\n,blue,0\n10,red,0\n"


@pytest.mark.parametrize(
    ("policy", "x", "color"),
    [
        ("mean", 4.0, "red"),
        ("median", 2.5, "red"),
        ("mode", 1.0, "red"),
        ("constant", -1.0, "missing"),
    ],
)
def test_imputing_fills_numbers_by_policy_and_categories_with_the_most_frequent(
    tmp_path: Path, policy: str, x: float, color: str
) -> None:
    config = make_config(
        write_csv(tmp_path, TABLE), missing=policy, fill_value=-1.0, categorical=["color"]
    )
    result = ingest(config, str(tmp_path / "out"))
    frame, _ = read_dataset(str(tmp_path / "out"))
    assert result.stats["rows"] == 5 and result.stats["missing_rows_dropped"] == 0
    assert frame["x"].tolist()[3] == x
    assert frame["color"].astype(str).tolist()[1] == color
    # what was filled is counted and shown, never silent
    assert result.stats["imputed"] == {"policy": policy, "values": {"x": 1, "color": 1}}
    notice = next(line for line in ingest_notices(result.stats) if "filled" in line)
    assert f"data.missing={policy} filled missing values in 'x' 1 (20% of rows)" in notice

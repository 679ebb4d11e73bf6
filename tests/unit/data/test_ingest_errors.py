"""Ingest refuses unusable tables before it writes anything, naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("a,b,c\n1,2,3\n4,5,6\n", "label column 'target' not found; columns are: a, b, c"),
    ],
    ids=["empty-csv", "no-label-column"],
)
def test_an_unusable_table_is_refused_with_the_file_named(
    tmp_path: Path, content: str, expected: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_text(content)
    config = RunConfig.from_dict({"data": {"source": str(data)}})
    with pytest.raises(DataError) as info:
        ingest(config, str(tmp_path / "out"))
    assert expected in str(info.value) and str(data) in str(info.value)
    assert not (tmp_path / "out").exists()

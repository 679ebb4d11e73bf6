"""The per-run statistics report shows every column, its histogram, class balance, anomalies."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.data import ingest

pytestmark = pytest.mark.unit


class Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id")
        if found:
            self.ids.append(found)
            if tag == "table":
                self._table = found
        if tag == "tr" and self._table:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1


def test_report_covers_every_column(tmp_path: Path) -> None:
    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    result = ingest(config, str(tmp_path / "out"))
    parser = Ids()
    parser.feed((tmp_path / "out" / "statistics.html").read_text())
    features = len(result.schema.features)
    assert {"summary", "columns", "class-balance"} <= set(parser.ids)
    assert sum(i.startswith("histogram-") for i in parser.ids) == features
    assert parser.rows["columns"] == features + 1  # header row
    assert "anomalies" in parser.ids

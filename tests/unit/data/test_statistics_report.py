"""The per-run statistics report shows every column, its histogram, class balance, anomalies."""

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from html_tree import Node, parse_html
from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.report import statistics_html

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


def _stats() -> dict[str, Any]:
    return {
        "source": "file <x>.csv", "rows_in": 10, "rows": 9, "columns": 3,
        "duplicates_dropped": 1, "missing_rows_dropped": 0, "label_missing_dropped": 0,
        "data_hash": "abc",
        "anomalies": [{"column": "<b>", "kind": "drift", "severity": "warning",
                       "message": "mean moved & more"}],
        "class_balance": {"a": 6, "b": 3},
        "missing_values": {"x": 2},
        "features": {"x": {"mean": 1.23456, "std": 0.5, "min": -0.0, "max": 2.0,
                           "histogram": {"edges": [0.0, 1.5, 2.0], "shares": [0.75, 0.25]}},
                     "y": {"mean": 3.0, "std": 0.0, "min": 3.0, "max": 3.0}},
        "text": {"review": {"mean_words": 7.3456, "max_words": 10.0, "empty": 0.0,
                            "distinct_words": 1234567.0}},
    }  # fmt: skip


def _rows(table: Node) -> list[list[str]]:
    return [[td.text for td in row.iter("td")] for row in table.iter("tbody")[0].iter("tr")]


def test_html_tables_hold_the_statistics() -> None:
    root = parse_html(statistics_html(_stats(), title="stats"))
    assert ["content hash", "abc"] in _rows(root.find_id("summary"))
    assert _rows(root.find_id("anomalies")) == [["<b>", "drift", "warning", "mean moved & more"]]
    assert _rows(root.find_id("columns")) == [
        ["x", "2", "1.235", "0.5", "0", "2"],
        ["y", "0", "3", "0", "3", "3"],
    ]
    # Counts stay whole numbers, however large; the mean gets three significant digits.
    assert _rows(root.find_id("text-columns")) == [["review", "7.35", "10", "0", "1234567"]]


def test_html_charts_show_class_shares_and_histograms() -> None:
    root = parse_html(statistics_html(_stats(), title="stats"))
    balance = root.find_id("class-balance").by_class("bar", "rect")
    assert [(b.attrs["data-label"], float(b.attrs["data-value"])) for b in balance] == [
        ("a", 6 / 9),
        ("b", 3 / 9),
    ]
    bins = root.find_id("histogram-0").by_class("bar", "rect")
    assert [(b.attrs["data-label"], float(b.attrs["data-value"])) for b in bins] == [
        ("0..1.5", 0.75),
        ("1.5..2", 0.25),
    ]
    assert root.by_id("histogram-1") is None  # y has no histogram: no chart, not an empty one


def test_html_without_anomalies_or_classes() -> None:
    stats = {**_stats(), "anomalies": [], "class_balance": {}, "text": {}}
    root = parse_html(statistics_html(stats, title="stats"))
    assert root.find_id("anomalies").tag == "p" and root.find_id("anomalies").text == "none"
    assert root.by_id("class-balance") is None and root.by_id("text-columns") is None

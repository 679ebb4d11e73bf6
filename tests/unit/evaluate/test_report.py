"""Unit tests for trainpipe.evaluate.report, parsing the HTML with the stdlib parser."""

from __future__ import annotations

import math

import pytest

from html_tree import parse_html
from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.gate import evaluate_gate
from trainpipe.evaluate.report import render_report

pytestmark = pytest.mark.unit

parse = parse_html


HISTORY = [
    {"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_accuracy": 0.5},
    {"epoch": 2, "train_loss": 0.6, "val_loss": math.nan, "val_accuracy": 0.7},
    {"epoch": 3, "train_loss": 0.4, "val_loss": 0.5, "val_accuracy": 0.8},
]
LABELS = ["cat", "dog", "<b>"]
CONFUSION = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
METRICS = {
    "accuracy": 0.8125,
    "f1_macro": 0.8,
    "latency_n": 20,
    "per_class": {
        "cat": {"precision": 0.714, "recall": 0.833, "f1": 0.769, "support": 6},
        "dog": {"precision": 0.875, "recall": 0.7, "f1": 0.778, "support": 10},
        "<b>": {"precision": 0.9, "recall": 1.0, "f1": 0.947, "support": 9},
    },
    "confusion_matrix": CONFUSION,
    "labels": LABELS,
}


def _render() -> str:
    gate = evaluate_gate(METRICS, {"accuracy_min": 0.9, "f1_macro_min": 0.5})
    return render_report(
        title="Run <42> & co",
        metrics=METRICS,
        history=HISTORY,
        confusion=CONFUSION,
        labels=LABELS,
        gate=gate,
        extra_sections=[("Notes <x>", "<p class='note'>trusted</p>")],
    )


def test_document_is_standalone_html5() -> None:
    html = _render()
    assert html.startswith("<!DOCTYPE html>")
    root = parse(html)
    assert not root.iter("script")
    assert not root.iter("link")
    assert not [n for n in root.iter() if "src" in n.attrs]
    assert root.iter("style")
    assert root.iter("title")[0].all_text() == "Run <42> & co"
    assert "Run &lt;42&gt; &amp; co" in html


def test_loss_curve_has_one_polyline_per_series_with_finite_points() -> None:
    root = parse(_render())
    svg = root.find_id("loss-curve")
    assert svg.tag == "svg"
    polylines = svg.iter("polyline")
    by_series = {p.attrs["data-series"]: p.attrs["points"] for p in polylines}
    assert set(by_series) == {"train_loss", "val_loss"}
    counts = {name: len((points or "").split()) for name, points in by_series.items()}
    assert counts == {"train_loss": 3, "val_loss": 2}  # NaN skipped
    legend = svg.all_text()
    for name in ("train_loss", "val_loss", "epoch"):
        assert name in legend
    metric = root.find_id("metric-curve")
    series = {p.attrs["data-series"]: p.attrs["points"] for p in metric.iter("polyline")}
    assert {k: len((v or "").split()) for k, v in series.items()} == {"val_accuracy": 3}


def test_confusion_table_cells_hold_counts_in_order() -> None:
    table = parse(_render()).find_id("confusion-matrix")
    assert table.tag == "table"
    rows = [r for r in table.iter("tr") if r.iter("td")]
    assert len(rows) == 3
    cells = [[int(td.all_text()) for td in row.iter("td")] for row in rows]
    assert cells == CONFUSION
    row_headers = [row.iter("th")[0].all_text() for row in rows]
    assert row_headers == LABELS
    assert all("background-color" in (td.attrs["style"] or "") for td in table.iter("td"))


def test_metrics_table_contains_scalar_metrics_only() -> None:
    table = parse(_render()).find_id("metrics")
    rows = {
        row.iter("th")[0].all_text(): row.iter("td")[0].all_text()
        for row in table.iter("tr")
        if row.iter("td")
    }
    assert rows == {"accuracy": "0.8125", "f1_macro": "0.8000", "latency_n": "20"}


def test_per_class_and_gate_sections() -> None:
    root = parse(_render())
    per_class = root.find_id("per-class")
    assert [r.iter("th")[0].all_text() for r in per_class.iter("tr")[1:]] == LABELS
    gate = root.find_id("gate")
    text = gate.all_text()
    assert "not blessed" in text
    assert "accuracy 0.8125 < 0.9" in text
    results = [td.all_text() for td in gate.iter("td") if "result" in (td.attrs.get("class") or "")]
    assert results == ["fail", "pass"]


def test_labels_and_headings_are_escaped_but_extra_body_is_trusted() -> None:
    html = _render()
    root = parse(html)
    assert not root.iter("b")
    assert "&lt;b&gt;" in html
    assert "Notes &lt;x&gt;" in html
    assert [n.all_text() for n in root.iter("p") if n.attrs.get("class") == "note"] == ["trusted"]


def test_report_without_optional_parts() -> None:
    html = render_report(
        title="empty", metrics={}, history=[], confusion=None, labels=None, gate=None
    )
    root = parse(html)
    assert root.find_id("loss-curve").iter("polyline") == []
    assert "no data" in root.find_id("loss-curve").all_text()
    assert "not evaluated" in root.find_id("gate").all_text()
    assert not [n for n in root.iter() if n.attrs.get("id") == "confusion-matrix"]


def test_confusion_shape_is_checked() -> None:
    with pytest.raises(TrainpipeError, match="2 labels"):
        render_report(
            title="t", metrics={}, history=[], confusion=CONFUSION, labels=["a", "b"], gate=None
        )
    with pytest.raises(TrainpipeError, match="square"):
        render_report(title="t", metrics={}, history=[], confusion=[[1, 2]], labels=None, gate=None)

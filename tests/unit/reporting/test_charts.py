"""The SVG charts of trainpipe.reporting.charts, read back as XML: the elements that carry data."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from trainpipe.errors import TrainpipeError
from trainpipe.reporting.charts import (
    svg_bar_chart,
    svg_confusion_heatmap,
    svg_grouped_bar_chart,
    svg_histogram,
    svg_image_grid,
    svg_line_chart,
    svg_scatter_chart,
)
from trainpipe.reporting.svg import PALETTE

pytestmark = pytest.mark.unit

NAN, INF = math.nan, math.inf
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """The chart's root element; fails unless the chart is well-formed standalone SVG."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def find(root: ET.Element, tag: str, css_class: str | None = None) -> list[ET.Element]:
    """Every ``tag`` element below ``root`` (with ``css_class`` among its classes), in order."""
    found = root.iter(f"{SVG}{tag}")
    return [e for e in found if css_class is None or css_class in e.get("class", "").split()]


def text(root: ET.Element) -> str:
    return "".join(root.itertext())


def pairs(polyline: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(x), float(y)) for x, y in (p.split(",") for p in polyline.get("points", "").split())
    ]


def series_points(root: ET.Element, name: str) -> list[ET.Element]:
    groups = [g for g in find(root, "g", "series") if g.get("data-series") == name]
    assert len(groups) <= 1
    return find(groups[0], "circle", "point") if groups else []


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` of an x/y chart's plot area, from its two axis lines."""
    (axes,) = find(root, "g", "axes")
    y_axis, x_axis = find(axes, "line")
    return (
        float(y_axis.get("x1", "")),
        float(y_axis.get("y1", "")),
        float(x_axis.get("x2", "")),
        float(x_axis.get("y1", "")),
    )


# --- line chart ------------------------------------------------------------------------------


def test_line_chart_skips_non_finite_points_and_escapes() -> None:
    svg = svg_line_chart(
        {"a<1>": [(2, 1.0), (1, 2.0), (3, INF)], "empty": [(1, NAN)]},
        title="T & U",
        x_label="step",
        y_label="loss",
    )
    root = parse(svg)
    assert root.get("width") == "640"
    (line,) = find(root, "polyline")
    assert line.get("data-series") == "a<1>"
    points = pairs(line)
    assert len(points) == 2
    assert points[0][0] < points[1][0]  # sorted by x
    assert "empty (no data)" in text(root)
    assert root.find(f"{SVG}title") is not None
    assert root.findtext(f"{SVG}title") == "T & U"
    assert "T &amp; U" in svg and "a&lt;1&gt;" in svg


def test_line_chart_places_points_by_value_inside_the_plot() -> None:
    root = parse(
        svg_line_chart(
            {"loss": [(1, 0.5), (2, 0.25), (3, 1.0)]},
            title="t",
            x_label="epoch",
            y_label="loss",
            element_id="c",
        )
    )
    assert root.get("id") == "c"
    left, top, right, bottom = plot_box(root)
    ((x1, y1), (x2, y2), (x3, y3)) = pairs(find(root, "polyline")[0])
    assert left <= x1 < x2 < x3 <= right
    assert all(top <= y <= bottom for y in (y1, y2, y3))
    assert y3 < y1 < y2  # svg y grows downwards: the largest value is highest
    # Equal steps in x are equal steps on the page.
    assert x2 - x1 == pytest.approx(x3 - x2, abs=0.02)
    # The y axis labels are round numbers that cover the data.
    labels = [float(t.text or "") for t in find(find(root, "g", "y-axis")[0], "text")]
    assert labels[0] <= 0.25 and labels[-1] >= 1.0


def test_line_chart_series_colours_markers_and_legend() -> None:
    many = [(float(i), float(i % 7)) for i in range(41)]
    root = parse(
        svg_line_chart(
            {"few": [(0, 1.0), (1, 2.0), (2, 1.5)], "many": many},
            title="t",
            x_label="x",
            y_label="y",
        )
    )
    few_line, many_line = find(root, "polyline")
    assert few_line.get("stroke") == PALETTE[0] and many_line.get("stroke") == PALETTE[1]
    # Up to 40 points each gets a marker; beyond that the line stands alone.
    (markers,) = find(root, "g", "markers")
    assert markers.get("fill") == PALETTE[0]
    assert len(find(markers, "circle")) == 3
    (legend,) = find(root, "g", "legend")
    assert [line.get("stroke") for line in find(legend, "line")] == [PALETTE[0], PALETTE[1]]
    assert [t.text for t in find(legend, "text")] == ["few", "many"]


def test_line_chart_without_data() -> None:
    root = parse(svg_line_chart({}, title="t", x_label="x", y_label="y"))
    assert find(root, "polyline") == []
    assert [t.text for t in find(root, "text", "no-data")] == ["no data"]


# --- scatter chart ---------------------------------------------------------------------------


def test_scatter_chart_skips_non_finite_points() -> None:
    svg = svg_scatter_chart(
        {"a": [(1, 2.0), (2, NAN), (3, 1.0), (INF, 1.0)], "b <&>": [(1, 1.5)], "empty": []},
        lines={"trend": [(3, 1.0), (1, 2.0), (2, -INF)]},
        title="t <x>",
        x_label="x",
        y_label="y",
        element_id="chart-1",
    )
    root = parse(svg)
    assert root.get("id") == "chart-1"
    assert len(series_points(root, "a")) == 2
    assert len(series_points(root, "b <&>")) == 1
    assert series_points(root, "empty") == []
    (line,) = find(root, "polyline", "line")
    assert line.get("data-series") == "trend"
    points = pairs(line)
    assert len(points) == 2
    assert points[0][0] < points[1][0]  # sorted by x
    assert "empty (no data)" in text(root)
    assert "<x>" not in svg and "b <&>" not in svg


def test_scatter_points_carry_their_values_and_lines_lie_below_them() -> None:
    root = parse(
        svg_scatter_chart(
            {"completed": [(0, 0.5), (3, 0.25)]},
            lines={"best": [(0, 0.5), (3, 0.25)]},
            title="t",
            x_label="trial",
            y_label="loss",
        )
    )
    points = series_points(root, "completed")
    assert [p.findtext(f"{SVG}title") for p in points] == [
        "completed: 0, 0.5",
        "completed: 3, 0.25",
    ]
    (line,) = find(root, "polyline", "line")
    assert pairs(line) == [(float(p.get("cx", "")), float(p.get("cy", ""))) for p in points]
    marks = [e for e in root.iter() if e.get("class") in ("line", "series")]
    assert [e.get("class") for e in marks] == ["line", "series"]  # points drawn on top
    # Values are kept off the axes (the y range is padded around them); whole trial numbers
    # are not padded, they may sit on the first and last tick.
    left, top, right, bottom = plot_box(root)
    assert all(left <= float(p.get("cx", "")) <= right for p in points)
    assert all(top < float(p.get("cy", "")) < bottom for p in points)


def test_scatter_chart_without_data() -> None:
    root = parse(svg_scatter_chart({"a": [(NAN, 1.0)]}, title="t", x_label="x", y_label="y"))
    assert not find(root, "circle", "point")
    assert "no data" in text(root)


# --- bar chart -------------------------------------------------------------------------------


def test_bar_chart_bars() -> None:
    long_name = "a very long parameter name " * 3
    root = parse(
        svg_bar_chart(
            [("a", 3.0), ("b", NAN), ("c", -1.0), (long_name, 0.5)],
            title="bars",
            element_id="bars-1",
        )
    )
    assert root.get("id") == "bars-1"
    bars = find(root, "rect", "bar")
    assert [b.get("data-label") for b in bars] == ["a", "c", long_name]
    assert [float(b.get("data-value", "")) for b in bars] == [3.0, -1.0, 0.5]
    widths = [float(b.get("width", "")) for b in bars]
    assert widths[0] > widths[2] > 0 and widths[1] > 0
    assert widths[0] == pytest.approx(3 * widths[1], abs=0.02)  # lengths follow the values
    # The negative bar ends where the positive ones start: at the zero line.
    (zero,) = find(root, "line", "zero")
    assert float(bars[1].get("x", "")) + widths[1] == pytest.approx(float(zero.get("x1", "")))
    assert float(bars[0].get("x", "")) == pytest.approx(float(zero.get("x1", "")))
    # A long label is shortened on the chart but whole in its tooltip.
    label = find(root, "text", "bar-label")[2]
    assert (label.text or "").endswith("\u2026") and len(label.text or "") < len(long_name)
    assert label.findtext(f"{SVG}title") == long_name
    assert [t.text for t in find(root, "text", "bar-value")] == ["3", "-1", "0.5"]


def test_bar_chart_grows_with_its_bars() -> None:
    two = parse(svg_bar_chart([("a", 1.0), ("b", 2.0)], title="t"))
    four = parse(svg_bar_chart([("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)], title="t"))
    assert int(four.get("height", "")) - int(two.get("height", "")) == 2 * 24


def test_bar_chart_without_data() -> None:
    root = parse(svg_bar_chart([("a", INF)], title="t"))
    assert not find(root, "rect", "bar")
    assert "no data" in text(root)


# --- histogram -------------------------------------------------------------------------------


def test_histogram_bins_count_every_finite_value() -> None:
    values = [1.0, 1.5, 2.0, 2.0, 9.0, NAN, 5.0]
    root = parse(svg_histogram(values, title="t", x_label="ms", bins=4, element_id="h"))
    bins = find(root, "rect", "bin")
    assert [int(b.get("data-count", "")) for b in bins] == [4, 0, 1, 1]  # width 2 from 1
    assert float(bins[0].get("data-lo", "")) == 1.0
    assert float(bins[-1].get("data-hi", "")) == 9.0
    # Bins are adjacent and their heights follow the counts from a common baseline.
    assert [float(b.get("data-hi", "")) for b in bins[:-1]] == [
        float(b.get("data-lo", "")) for b in bins[1:]
    ]
    heights = [float(b.get("height", "")) for b in bins]
    assert heights[0] == pytest.approx(4 * heights[2], abs=0.02) and heights[1] == 0
    bottoms = {round(float(b.get("y", "")) + float(b.get("height", "")), 1) for b in bins}
    assert len(bottoms) == 1


@pytest.mark.parametrize("bins", [0, -3, True, 2.5])
def test_histogram_rejects_a_bad_bin_count(bins: object) -> None:
    with pytest.raises(TrainpipeError, match="bins must be a positive integer"):
        svg_histogram([1.0], title="t", x_label="ms", bins=bins)  # type: ignore[arg-type]


def test_histogram_of_equal_values_and_of_nothing() -> None:
    same = find(
        parse(svg_histogram([3.0, 3.0, 3.0], title="t", x_label="x", bins=5)), "rect", "bin"
    )
    assert [int(b.get("data-count", "")) for b in same] == [3, 0, 0, 0, 0]
    empty = parse(svg_histogram([NAN], title="t", x_label="x"))
    assert find(empty, "rect", "bin") == []
    assert "no data" in text(empty)


# --- confusion heatmap -----------------------------------------------------------------------


def test_confusion_heatmap_cells_hold_the_counts_shaded_by_row_share() -> None:
    confusion = [[5, 1, 0], [2, 6, 2], [0, 0, 9]]
    root = parse(svg_confusion_heatmap(confusion, ["cat", "dog", "<b>"], element_id="hm"))
    assert root.get("id") == "hm"
    cells = find(root, "rect", "cell")
    assert [
        (c.get("data-true"), c.get("data-pred"), int(c.get("data-count", ""))) for c in cells
    ] == [
        (t, p, confusion[i][j])
        for i, t in enumerate(["cat", "dog", "<b>"])
        for j, p in enumerate(["cat", "dog", "<b>"])
    ]
    opacity = [float(c.get("fill-opacity", "")) for c in cells]
    assert opacity[2] == 0.0  # an empty cell is blank
    assert opacity[8] > opacity[0] > opacity[4] > opacity[3] > opacity[1]  # 1.0 > 5/6 > 0.6 ...
    assert [t.text for t in find(root, "text", "row-label")] == ["cat", "dog", "<b>"]
    assert [t.text for t in find(root, "text", "col-label")] == ["cat", "dog", "<b>"]
    # With cells this size, each count is written on its cell.
    counts = [t.text for t in find(root, "text") if not t.get("class")]
    assert counts[:9] == [str(n) for row in confusion for n in row]


def test_confusion_heatmap_small_cells_carry_counts_in_tooltips_only() -> None:
    root = parse(svg_confusion_heatmap([[1, 2], [3, 4]], ["a", "b"], cell=16))
    assert [c.findtext(f"{SVG}title") for c in find(root, "rect", "cell")][1] == (
        "true a, predicted b: 2"
    )
    assert not [t for t in find(root, "text") if not t.get("class") and t.text == "2"]


def test_confusion_heatmap_checks_its_shape() -> None:
    with pytest.raises(TrainpipeError, match="square matrix"):
        svg_confusion_heatmap([[1, 2], [3]], ["a", "b"])
    with pytest.raises(TrainpipeError, match="3 labels"):
        svg_confusion_heatmap([[1, 2], [3, 4]], ["a", "b", "c"])


# --- grouped bars ----------------------------------------------------------------------------


def test_grouped_bars_one_bar_per_finite_value() -> None:
    groups = [
        ("cat", {"precision": 0.8, "recall": 0.4, "f1": NAN}),
        ("a class with a long name", {"precision": 0.2}),
    ]
    root = parse(
        svg_grouped_bar_chart(groups, ("precision", "recall", "f1"), title="t", element_id="g")
    )
    bars = find(root, "rect", "bar")
    found = [
        (b.get("data-group"), b.get("data-series"), float(b.get("data-value", ""))) for b in bars
    ]
    assert found == [
        ("cat", "precision", 0.8),
        ("cat", "recall", 0.4),
        ("a class with a long name", "precision", 0.2),
    ]
    # One colour per series, heights follow the values and every bar stands on zero.
    assert [b.get("fill") for b in bars] == [PALETTE[0], PALETTE[1], PALETTE[0]]
    heights = [float(b.get("height", "")) for b in bars]
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.02)
    assert heights[0] == pytest.approx(4 * heights[2], abs=0.02)
    bottoms = {round(float(b.get("y", "")) + float(b.get("height", "")), 1) for b in bars}
    assert len(bottoms) == 1
    # The legend names every series, even one without a value.
    (legend,) = find(root, "g", "legend")
    assert [t.text for t in find(legend, "text")] == ["precision", "recall", "f1"]
    labels = [t.text or "" for t in find(root, "text", "group-label")]
    assert labels[0] == "cat" and labels[1].endswith("\u2026") and len(labels[1]) == 12


def test_grouped_bars_without_values() -> None:
    root = parse(svg_grouped_bar_chart([("cat", {})], ("precision",), title="t"))
    assert find(root, "rect", "bar") == []
    assert "no data" in text(root)


# --- image grid ------------------------------------------------------------------------------


def test_image_grid_draws_each_sample_scaled_to_its_range() -> None:
    sample = {"pixels": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "true": "a", "pred": "<b>", "row": 7}
    root = parse(svg_image_grid([sample], [1, 2, 3], element_id="g"))
    assert root.get("id") == "g"
    (tile,) = find(root, "g", "sample")
    assert (tile.get("data-true"), tile.get("data-pred"), tile.get("data-row")) == ("a", "<b>", "7")
    pixels = find(tile, "rect", "px")
    assert len(pixels) == 6
    assert pixels[0].get("fill") == "#000000" and pixels[-1].get("fill") == "#ffffff"
    assert [t.text for t in find(tile, "text", "caption")] == ["true a", "pred <b>"]
    # Row-major: the second row starts below the first.
    assert float(pixels[3].get("y", "")) > float(pixels[0].get("y", ""))
    assert pixels[3].get("x") == pixels[0].get("x")


def test_image_grid_colours_three_channels() -> None:
    # One 1x2 image: red on the left, blue on the right (channel-first: R plane, G, B).
    sample = {"pixels": [1.0, 0.0, 0.0, 0.0, 0.0, 1.0], "true": "x", "pred": "y"}
    pixels = find(parse(svg_image_grid([sample], [3, 1, 2])), "rect", "px")
    assert [p.get("fill") for p in pixels] == ["#ff0000", "#0000ff"]


def test_image_grid_checks_the_shape() -> None:
    sample = {"pixels": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "true": "a", "pred": "b"}
    with pytest.raises(TrainpipeError, match="needs 4"):
        svg_image_grid([sample], [1, 2, 2])
    with pytest.raises(TrainpipeError, match="image_shape"):
        svg_image_grid([sample], [6])


def test_image_grid_without_samples() -> None:
    root = parse(svg_image_grid([], [1, 2, 2]))
    assert find(root, "g", "sample") == []
    assert "no data" in text(root)

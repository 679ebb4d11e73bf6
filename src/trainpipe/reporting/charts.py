"""The SVG charts of the HTML reports: line, scatter, bar, histogram, heatmap, grouped bars, images.

Each function returns one standalone ``<svg>`` element as text. The elements that carry the data
have stable classes and ``data-*`` attributes (a bar's ``data-value``, a histogram bin's
``data-count``, a series' ``data-series``), so tests and tools can read a chart back without
parsing coordinates. Non-finite values are skipped, never drawn, and a chart without any data
says "no data". Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainpipe.errors import TrainpipeError
from trainpipe.reporting.axes import round_axis
from trainpipe.reporting.svg import (
    PALETTE,
    Frame,
    SeriesEntry,
    attr,
    color,
    coord,
    finite_points,
    no_data,
    svg_open,
    x_axis,
    x_axis_label,
)
from trainpipe.reporting.values import finite_float, format_number

__all__ = [
    "svg_bar_chart",
    "svg_confusion_heatmap",
    "svg_grouped_bar_chart",
    "svg_histogram",
    "svg_image_grid",
    "svg_line_chart",
    "svg_scatter_chart",
]

# A line chart marks its points while a series has at most this many (beyond, dots are clutter).
_MAX_MARKERS = 40


def svg_line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 320,
    element_id: str | None = None,
) -> str:
    """Render ``{name: [(x, y), ...]}`` as an inline ``<svg>`` line chart with axes and a legend.

    Each series with at least one finite point becomes one ``<polyline>`` (points sorted by x);
    non-finite points are skipped. The chart uses presentation attributes only, so it renders the
    same inside any HTML page or as a standalone ``.svg`` file. ``element_id`` sets the svg's id.
    """
    cleaned = {str(name): finite_points(points, by_x=True) for name, points in series.items()}
    frame = Frame(
        [(name, "line", points) for name, points in cleaned.items()],
        css_class="chart",
        title=title,
        x_label=x_label,
        y_label=y_label,
        width=width,
        height=height,
        element_id=element_id,
    )
    marks: list[str] = []
    for index, (name, points) in enumerate(cleaned.items()):
        if not points:
            continue
        stroke = color(index)
        marks.append(frame.polyline("series", name, stroke, points))
        if len(points) <= _MAX_MARKERS:
            marks.append(f'<g class="markers" fill="{stroke}">')
            marks.extend(
                f'<circle cx="{coord(frame.sx(x))}" cy="{coord(frame.sy(y))}" r="2.5"/>'
                for x, y in points
            )
            marks.append("</g>")
    return frame.render(marks)


def svg_scatter_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 320,
    element_id: str | None = None,
    lines: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> str:
    """Render ``{name: [(x, y), ...]}`` as an inline ``<svg>`` scatter chart with axes and a legend.

    Each finite point becomes one ``<circle class="point">`` (with a ``<title>`` tooltip) inside
    the ``<g class="series" data-series="NAME">`` of its series; non-finite points are skipped.
    ``lines`` are extra series drawn as ``<polyline class="line">`` through their points sorted
    by x (a best-so-far curve, for instance); they share the axes and the legend. Like
    :func:`svg_line_chart`, the chart uses presentation attributes only and escapes every text;
    ``element_id`` sets the svg's id.
    """
    dots = {str(name): finite_points(points) for name, points in series.items()}
    curves = {str(name): finite_points(points, by_x=True) for name, points in (lines or {}).items()}
    entries: list[SeriesEntry] = [(name, "point", points) for name, points in dots.items()]
    entries += [(name, "line", points) for name, points in curves.items()]
    # Pad continuous ranges so that points do not sit on the axes.
    frame = Frame(
        entries,
        css_class="chart scatter",
        title=title,
        x_label=x_label,
        y_label=y_label,
        width=width,
        height=height,
        element_id=element_id,
        pad=0.04,
    )
    marks: list[str] = []
    # Lines first, so that the points stay visible on top of them.
    order = sorted(enumerate(entries), key=lambda item: item[1][1] != "line")
    for index, (name, kind, points) in order:
        if not points:
            continue
        stroke = color(index)
        if kind == "line":
            marks.append(frame.polyline("line", name, stroke, points))
            continue
        marks.append(
            f'<g class="series" data-series="{attr(name)}" fill="{stroke}" '
            f'fill-opacity="0.85" stroke="#ffffff" stroke-width="0.75">'
        )
        marks.extend(
            f'<circle class="point" cx="{coord(frame.sx(x))}" cy="{coord(frame.sy(y))}" r="3.5">'
            f"<title>{attr(f'{name}: {format_number(x)}, {format_number(y)}')}</title>"
            "</circle>"
            for x, y in points
        )
        marks.append("</g>")
    return frame.render(marks)


def svg_bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    element_id: str | None = None,
    width: int = 640,
    x_label: str = "",
) -> str:
    """Render ``[(label, value), ...]`` as an inline ``<svg>`` horizontal bar chart, in order.

    Each bar with a finite value is one ``<rect class="bar" data-label=... data-value=...>``
    from zero to its value, labelled on the left (long labels are shortened; the full label is
    the tooltip) and with its value on the right; non-finite values are skipped. The height
    grows with the number of bars. Every text is escaped; ``element_id`` sets the svg's id.
    """
    cleaned = [
        (str(label), number) for label, value in bars if (number := finite_float(value)) is not None
    ]
    row_h, bar_h, top, bottom = 24, 16, 34, 44
    height = top + max(len(cleaned), 1) * row_h + bottom
    longest = max((len(label) for label, _ in cleaned), default=0)
    label_w = min(width // 3, 12 + 7 * longest)
    max_chars = max((label_w - 12) // 7, 4)
    left, right = label_w + 8, 64
    plot_w = max(width - left - right, 10)
    plot_h = max(len(cleaned), 1) * row_h

    parts = svg_open("chart bars", title, width, height, element_id, left + plot_w / 2)
    x_axis_y = top + plot_h
    if cleaned:
        values = [value for _, value in cleaned]
        x0, x1, ticks = round_axis(min(0.0, *values), max(0.0, *values), 5, False)

        def sx(x: float) -> float:
            return left + (x - x0) / (x1 - x0) * plot_w

        parts.append('<g class="grid" stroke="#e5e5e5" stroke-width="1">')
        for tick in ticks:
            grid_x = coord(sx(tick))
            parts.append(f'<line x1="{grid_x}" y1="{top}" x2="{grid_x}" y2="{x_axis_y}"/>')
        parts.append("</g>")
        parts.extend(x_axis(ticks, sx, x_axis_y))

        zero = sx(0.0)
        for index, (label, value) in enumerate(cleaned):
            fill = PALETTE[0] if value >= 0 else PALETTE[3]
            row_top = top + index * row_h
            bar_y = row_top + (row_h - bar_h) / 2
            text_y = coord(row_top + row_h / 2 + 4)
            end = sx(value)
            shown = label if len(label) <= max_chars else label[: max_chars - 1] + "\u2026"
            parts.append(
                f'<g class="bar-row"><text class="bar-label" x="{left - 6}" y="{text_y}" '
                f'text-anchor="end" fill="#222">{attr(shown)}<title>{attr(label)}</title>'
                f'</text><rect class="bar" data-label="{attr(label)}" '
                f'data-value="{attr(repr(value))}" x="{coord(min(zero, end))}" '
                f'y="{coord(bar_y)}" width="{coord(abs(end - zero))}" height="{bar_h}" '
                f'fill="{fill}"><title>{attr(f"{label}: {format_number(value)}")}</title>'
                f'</rect><text class="bar-value" x="{coord(max(zero, end) + 4)}" '
                f'y="{text_y}" fill="#444">{attr(format_number(value))}</text></g>'
            )
        parts.append(
            f'<line class="zero" x1="{coord(zero)}" y1="{top}" x2="{coord(zero)}" '
            f'y2="{x_axis_y}" stroke="#444" stroke-width="1"/>'
        )
    else:
        parts.append(no_data(left + plot_w / 2, top + plot_h / 2 + 4))
    parts.append(
        f'<line class="axes" x1="{left}" y1="{x_axis_y}" x2="{left + plot_w}" y2="{x_axis_y}" '
        'stroke="#444" stroke-width="1"/>'
    )
    if x_label:
        parts.append(x_axis_label(left + plot_w / 2, height, x_label))
    parts.append("</svg>")
    return "\n".join(parts)


def svg_histogram(
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    bins: int = 20,
    width: int = 640,
    height: int = 300,
    element_id: str | None = None,
) -> str:
    """Render the distribution of ``values`` as an inline ``<svg>`` histogram.

    The finite values are counted into ``bins`` equal-width bins from their minimum to their
    maximum (the last bin includes the maximum); each bin is one ``<rect class="bin"
    data-lo=... data-hi=... data-count=...>``, so the counts add up to the number of finite
    values. With no finite value the chart says "no data".
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise TrainpipeError(f"bins must be a positive integer, got {bins!r}")
    finite = [number for v in values if (number := finite_float(v)) is not None]
    counts = [0] * bins
    lo = min(finite, default=0.0)
    hi = max(finite, default=1.0)
    span = hi - lo if hi > lo else 1.0
    for value in finite:
        counts[min(int((value - lo) / span * bins), bins - 1)] += 1
    edges = [lo + span * i / bins for i in range(bins + 1)]
    points = [(edges[i], float(counts[i])) for i in range(bins)] + [(edges[-1], 0.0)]
    frame = Frame(
        [("count", "point", points if finite else [])],
        css_class="chart histogram",
        title=title,
        x_label=x_label,
        y_label="count",
        width=width,
        height=height,
        element_id=element_id,
    )
    frame.y_range = (0.0, frame.y_range[1])
    marks = [f'<g class="bins" fill="{PALETTE[0]}" stroke="#ffffff" stroke-width="0.5">']
    for i, count in enumerate(counts):
        x0, x1 = frame.sx(edges[i]), frame.sx(edges[i + 1])
        top = frame.sy(float(count))
        marks.append(
            f'<rect class="bin" data-lo="{attr(repr(edges[i]))}" '
            f'data-hi="{attr(repr(edges[i + 1]))}" data-count="{count}" x="{coord(x0)}" '
            f'y="{coord(top)}" width="{coord(max(x1 - x0, 0.5))}" '
            f'height="{coord(frame.sy(0.0) - top)}"><title>'
            f"{attr(f'{format_number(edges[i])} to {format_number(edges[i + 1])}: {count}')}"
            "</title></rect>"
        )
    marks.append("</g>")
    return frame.render(marks)


def svg_confusion_heatmap(
    confusion: Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    title: str = "Confusion matrix",
    element_id: str | None = None,
    cell: int = 0,
) -> str:
    """Render a square confusion matrix (rows: true class) as an inline ``<svg>`` heatmap.

    Each cell is one ``<rect class="cell" data-true=... data-pred=... data-count=...>`` shaded by
    its share of the row, with the count written on it when the cells are large enough.
    """
    size = len(confusion)
    if len(labels) != size or any(len(row) != size for row in confusion):
        raise TrainpipeError(
            f"confusion heatmap needs a square matrix and one label per row, got {size} rows "
            f"and {len(labels)} labels"
        )
    side = cell or max(12, min(48, 480 // max(size, 1)))
    names = [str(label) for label in labels]
    label_w = min(160, 12 + 7 * max((len(n) for n in names), default=1))
    left, top = label_w + 24, 44
    width = left + side * size + 20
    height = top + side * size + label_w + 20
    parts = svg_open("chart heatmap", title, width, height, element_id, width / 2)
    for i, (name, row) in enumerate(zip(names, confusion, strict=True)):
        total = sum(int(c) for c in row)
        y = top + i * side
        parts.append(
            f'<text class="row-label" x="{left - 6}" y="{coord(y + side / 2 + 4)}" '
            f'text-anchor="end" fill="#222">{attr(name)}</text>'
        )
        for j, count in enumerate(row):
            share = int(count) / total if total else 0.0
            alpha = 0.04 + 0.9 * share if count else 0.0
            x = left + j * side
            parts.append(
                f'<rect class="cell" data-true="{attr(name)}" data-pred="{attr(names[j])}" '
                f'data-count="{int(count)}" x="{x}" y="{y}" width="{side}" height="{side}" '
                f'fill="{PALETTE[0]}" fill-opacity="{alpha:.3f}" stroke="#dddddd">'
                f"<title>{attr(f'true {name}, predicted {names[j]}: {int(count)}')}</title>"
                "</rect>"
            )
            if side >= 24:
                ink = "#ffffff" if alpha > 0.55 else "#222222"
                parts.append(
                    f'<text x="{coord(x + side / 2)}" y="{coord(y + side / 2 + 4)}" '
                    f'text-anchor="middle" fill="{ink}">{int(count)}</text>'
                )
    bottom = top + side * size
    for j, name in enumerate(names):
        col_x = coord(left + j * side + side / 2)
        parts.append(
            f'<text class="col-label" x="{col_x}" y="{bottom + 8}" '
            f'transform="rotate(90 {col_x} {bottom + 8})" fill="#222">{attr(name)}</text>'
        )
    parts.append(
        f'<text x="12" y="{coord(top + side * size / 2)}" fill="#666" '
        f'transform="rotate(-90 12 {coord(top + side * size / 2)})" text-anchor="middle">'
        "true</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def svg_grouped_bar_chart(
    groups: Sequence[tuple[str, Mapping[str, float]]],
    series: Sequence[str],
    *,
    title: str,
    element_id: str | None = None,
    width: int = 760,
    height: int = 320,
    y_label: str = "score",
) -> str:
    """Render ``[(group, {series: value})]`` as vertical bars grouped by ``group``.

    Each finite value is one ``<rect class="bar" data-group=... data-series=... data-value=...>``
    (missing and non-finite values draw nothing); the y axis starts at 0.
    """
    values = [
        number
        for _, row in groups
        for name in series
        if (number := finite_float(row.get(name))) is not None
    ]
    entries: list[SeriesEntry] = [(name, "point", []) for name in series]
    if values:
        entries[0] = (series[0], "point", [(0.0, 0.0), (float(len(groups)), max(values))])
    frame = Frame(
        entries,
        css_class="chart grouped-bars",
        title=title,
        x_label="class",
        y_label=y_label,
        width=width,
        height=height,
        element_id=element_id,
    )
    frame.legend = list(series)
    frame.y_range = (min(0.0, frame.y_range[0]), frame.y_range[1])
    frame.x_ticks = []
    frame.x_range = (0.0, float(max(len(groups), 1)))
    slot = frame.plot_w / max(len(groups), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    marks: list[str] = []
    for g, (group, row) in enumerate(groups):
        x0 = frame.left + g * slot + slot * 0.1
        for k, name in enumerate(series):
            value = finite_float(row.get(name))
            if value is None:
                continue
            top = frame.sy(value)
            marks.append(
                f'<rect class="bar" data-group="{attr(group)}" data-series="{attr(name)}" '
                f'data-value="{attr(repr(value))}" x="{coord(x0 + k * bar_w)}" '
                f'y="{coord(top)}" width="{coord(bar_w)}" '
                f'height="{coord(frame.sy(0.0) - top)}" fill="{color(k)}">'
                f"<title>{attr(f'{group} {name}: {format_number(value)}')}</title></rect>"
            )
        marks.append(
            f'<text class="group-label" x="{coord(frame.left + (g + 0.5) * slot)}" '
            f'y="{coord(frame.top + frame.plot_h + 16)}" text-anchor="middle" fill="#444">'
            f"{attr(group if len(group) <= 12 else group[:11] + chr(0x2026))}</text>"
        )
    return frame.render(marks)


def _gray(value: float) -> str:
    level = max(0, min(255, round(value * 255)))
    return f"#{level:02x}{level:02x}{level:02x}"


def svg_image_grid(
    samples: Sequence[Mapping[str, Any]],
    image_shape: Sequence[int],
    *,
    title: str = "Misclassified samples",
    element_id: str | None = None,
    columns: int = 8,
    pixel: int = 0,
) -> str:
    """Render images as an inline ``<svg>`` grid of pixels with their true and predicted labels.

    ``samples`` are ``{"pixels": [C*H*W numbers], "true": label, "pred": label}`` (as from
    :func:`trainpipe.evaluate.curves.misclassified_samples`); ``image_shape`` is ``[C, H, W]``
    in the row's channel-first order. Each sample is one ``<g class="sample" data-true=...
    data-pred=...>`` holding ``H*W`` ``<rect class="px">`` (RGB for three channels, otherwise the
    first channel as gray, each image scaled to its own min..max) and a caption.
    """
    if len(image_shape) != 3 or any(int(d) < 1 for d in image_shape):
        raise TrainpipeError(f"image_shape must be [channels, height, width], got {image_shape}")
    channels, rows, cols = (int(d) for d in image_shape)
    size = pixel or max(1, min(8, 64 // max(rows, cols)))
    tile_w, tile_h = cols * size, rows * size
    columns = max(1, min(columns, len(samples) or 1))
    cell_w, cell_h = max(tile_w, 72) + 12, tile_h + 34
    lines = (len(samples) + columns - 1) // columns
    width, height = 16 + columns * cell_w, 34 + max(lines, 1) * cell_h
    parts = svg_open("chart image-grid", title, width, height, element_id, width / 2)
    if not samples:
        parts.append(no_data(width / 2, height / 2 + 8))
    for index, sample in enumerate(samples):
        pixels = [float(v) for v in sample.get("pixels", [])]
        if len(pixels) != channels * rows * cols:
            raise TrainpipeError(
                f"sample {index} has {len(pixels)} pixel values but image_shape "
                f"{list(image_shape)} needs {channels * rows * cols}"
            )
        lo, hi = min(pixels), max(pixels)
        span = hi - lo if hi > lo else 1.0
        scaled = [(v - lo) / span for v in pixels]
        plane = rows * cols
        x0 = 8 + (index % columns) * cell_w
        y0 = 30 + (index // columns) * cell_h
        true, pred = str(sample.get("true", "")), str(sample.get("pred", ""))
        parts.append(
            f'<g class="sample" data-true="{attr(true)}" data-pred="{attr(pred)}" '
            f'data-row="{attr(sample.get("row", index))}">'
        )
        for r in range(rows):
            for c in range(cols):
                k = r * cols + c
                if channels == 3:
                    rgb = [max(0, min(255, round(scaled[ch * plane + k] * 255))) for ch in range(3)]
                    fill = f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"
                else:
                    fill = _gray(scaled[k])
                parts.append(
                    f'<rect class="px" x="{x0 + c * size}" y="{y0 + r * size}" width="{size}" '
                    f'height="{size}" fill="{fill}"/>'
                )
        parts.append(
            f'<text class="caption" x="{x0}" y="{y0 + tile_h + 14}" fill="#222">'
            f"true {attr(true)}</text>"
            f'<text class="caption" x="{x0}" y="{y0 + tile_h + 27}" fill="#9b1c1c">'
            f"pred {attr(pred)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)

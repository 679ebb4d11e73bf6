"""The parts the SVG charts are built from: palette, coordinates, heading, axes and the frame.

Every chart is one ``<svg>`` element with presentation attributes only (no CSS classes needed
for it to look right), so it renders the same inside any HTML page or as a standalone ``.svg``
file. Every text that goes into a chart is escaped here or by the chart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape

from trainpipe.reporting.axes import round_axis, tick_label
from trainpipe.reporting.values import finite_float

__all__ = [
    "PALETTE",
    "Frame",
    "SeriesEntry",
    "attr",
    "color",
    "coord",
    "finite_points",
    "no_data",
    "svg_open",
    "x_axis",
    "x_axis_label",
]

#: The series colours, in order (matplotlib's "tab10").
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""

#: One series of an x/y chart: its name, how it is drawn ("line" or "point") and its finite
#: points. The kind picks the legend swatch; the position in the chart picks the colour.
SeriesEntry = tuple[str, str, list[tuple[float, float]]]


def attr(value: object) -> str:
    """``value`` as text escaped for an attribute (or element) value."""
    return escape(str(value), quote=True)


def coord(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (``12.5``, ``3``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def color(index: int) -> str:
    """The palette colour of the ``index``-th series (the palette repeats)."""
    return PALETTE[index % len(PALETTE)]


def finite_points(
    points: Iterable[tuple[float, float]], *, by_x: bool = False
) -> list[tuple[float, float]]:
    """The finite ``(x, y)`` points as floats, in order or (``by_x``) sorted by x."""
    finite = [
        (fx, fy)
        for x, y in points
        if (fx := finite_float(x)) is not None and (fy := finite_float(y)) is not None
    ]
    return sorted(finite, key=lambda point: point[0]) if by_x else finite


def svg_open(
    css_class: str, title: str, width: int, height: int, element_id: str | None, title_x: float
) -> list[str]:
    """The ``<svg>`` start tag, its ``<title>``, the white background and the heading."""
    id_attr = f' id="{attr(element_id)}"' if element_id else ""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg"{id_attr} class="{attr(css_class)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{attr(title)}" {_FONT} font-size="11">',
        f"<title>{attr(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{coord(title_x)}" y="20" '
        f'text-anchor="middle" font-size="14" font-weight="600" fill="#222">'
        f"{attr(title)}</text>",
    ]


def x_axis(ticks: Sequence[float], sx: Callable[[float], float], axis_y: float) -> list[str]:
    """The ``<g class="x-axis">`` of tick marks and labels along ``axis_y``, placed by ``sx``."""
    parts = ['<g class="x-axis" fill="#444" text-anchor="middle">']
    for tick in ticks:
        tick_x = coord(sx(tick))
        parts.append(
            f'<line x1="{tick_x}" y1="{axis_y}" x2="{tick_x}" y2="{axis_y + 5}" '
            f'stroke="#444"/><text x="{tick_x}" y="{axis_y + 17}">'
            f"{attr(tick_label(tick, ticks))}</text>"
        )
    parts.append("</g>")
    return parts


def no_data(x: float, y: float) -> str:
    """The "no data" note a chart shows, centred at ``(x, y)``, when it has nothing to draw."""
    return (
        f'<text class="no-data" x="{coord(x)}" y="{coord(y)}" text-anchor="middle" '
        'fill="#888" font-size="13">no data</text>'
    )


def x_axis_label(x: float, height: int, label: str) -> str:
    """The x axis label, centred at ``x`` near the bottom of a chart ``height`` high."""
    return (
        f'<text class="x-label" x="{coord(x)}" y="{height - 8}" '
        f'text-anchor="middle" fill="#222" font-size="12">{attr(label)}</text>'
    )


class Frame:
    """The layout, scales and furniture that the x/y charts share.

    It sizes the plot next to a legend of ``entries``, fits round axes around all their points
    (continuous ranges widened by ``pad`` times their span) and renders everything but the marks:
    heading, grid, ticks, axes, axis labels and legend. A chart draws its own marks with
    :meth:`sx`, :meth:`sy` and :meth:`polyline` and hands them to :meth:`render`. A chart may
    adjust ``x_range``, ``y_range``, ``x_ticks`` and ``legend`` before it draws (a histogram's
    y axis starts at zero, for instance).
    """

    def __init__(
        self,
        entries: Sequence[SeriesEntry],
        *,
        css_class: str,
        title: str,
        x_label: str,
        y_label: str,
        width: int,
        height: int,
        element_id: str | None,
        pad: float = 0.0,
    ) -> None:
        self.entries = entries
        self.css_class, self.title, self.x_label, self.y_label = css_class, title, x_label, y_label
        self.width, self.height, self.element_id = width, height, element_id
        self.legend = [name if points else f"{name} (no data)" for name, _, points in entries]
        longest = max((len(label) for label in self.legend), default=0)
        legend_w = min(width // 3, 34 + 7 * longest) if entries else 0
        self.left, self.top, right, bottom = 64, 34, 16 + legend_w, 48
        self.plot_w = max(width - self.left - right, 10)
        self.plot_h = max(height - self.top - bottom, 10)

        all_points = [point for _, _, points in entries for point in points]
        self.has_data = bool(all_points)
        self.x_range, self.y_range = (0.0, 1.0), (0.0, 1.0)
        self.x_ticks: list[float] = []
        self.y_ticks: list[float] = []
        if all_points:
            xs = [x for x, _ in all_points]
            ys = [y for _, y in all_points]
            integer_x = all(x == int(x) for x in xs)
            x_pad = 0.0 if integer_x or not pad else (max(xs) - min(xs)) * pad
            y_pad = (max(ys) - min(ys)) * pad if pad else 0.0
            x0, x1, self.x_ticks = round_axis(min(xs) - x_pad, max(xs) + x_pad, 6, integer_x)
            y0, y1, self.y_ticks = round_axis(min(ys) - y_pad, max(ys) + y_pad, 5, False)
            self.x_range, self.y_range = (x0, x1), (y0, y1)

    def sx(self, x: float) -> float:
        """The svg x coordinate of data value ``x``."""
        x0, x1 = self.x_range
        return self.left + (x - x0) / (x1 - x0) * self.plot_w

    def sy(self, y: float) -> float:
        """The svg y coordinate of data value ``y`` (svg y grows downwards)."""
        y0, y1 = self.y_range
        return self.top + self.plot_h - (y - y0) / (y1 - y0) * self.plot_h

    def polyline(
        self, css_class: str, name: str, stroke: str, points: Sequence[tuple[float, float]]
    ) -> str:
        """One ``<polyline data-series=NAME>`` through ``points`` (data values), in order."""
        coords = " ".join(f"{coord(self.sx(x))},{coord(self.sy(y))}" for x, y in points)
        return (
            f'<polyline class="{attr(css_class)}" data-series="{attr(name)}" fill="none" '
            f'stroke="{stroke}" stroke-width="2" stroke-linejoin="round" '
            f'stroke-linecap="round" points="{coords}"/>'
        )

    def render(self, marks: Iterable[str]) -> str:
        """The whole ``<svg>``, with ``marks`` (one element a string) above grid and ticks."""
        left, top, plot_w, plot_h = self.left, self.top, self.plot_w, self.plot_h
        x_axis_y = top + plot_h
        parts = svg_open(
            self.css_class, self.title, self.width, self.height, self.element_id, left + plot_w / 2
        )
        if self.has_data:
            parts.append('<g class="grid" stroke="#e5e5e5" stroke-width="1">')
            for tick in self.y_ticks:
                grid_y = coord(self.sy(tick))
                parts.append(
                    f'<line x1="{left}" y1="{grid_y}" x2="{left + plot_w}" y2="{grid_y}"/>'
                )
            parts.append("</g>")
            parts.extend(x_axis(self.x_ticks, self.sx, x_axis_y))
            parts.append('<g class="y-axis" fill="#444" text-anchor="end">')
            for tick in self.y_ticks:
                y = self.sy(tick)
                parts.append(
                    f'<line x1="{left - 5}" y1="{coord(y)}" x2="{left}" y2="{coord(y)}" '
                    f'stroke="#444"/><text x="{left - 8}" y="{coord(y + 4)}">'
                    f"{attr(tick_label(tick, self.y_ticks))}</text>"
                )
            parts.append("</g>")
            parts.extend(marks)
        else:
            parts.append(no_data(left + plot_w / 2, top + plot_h / 2))

        # Axis lines and labels are drawn last so they stay on top of the marks.
        parts.append(
            f'<g class="axes" stroke="#444" stroke-width="1">'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{x_axis_y}"/>'
            f'<line x1="{left}" y1="{x_axis_y}" x2="{left + plot_w}" y2="{x_axis_y}"/></g>'
        )
        parts.append(x_axis_label(left + plot_w / 2, self.height, self.x_label))
        y_mid = coord(top + plot_h / 2)
        parts.append(
            f'<text class="y-label" x="14" y="{y_mid}" transform="rotate(-90 14 {y_mid})" '
            f'text-anchor="middle" fill="#222" font-size="12">{attr(self.y_label)}</text>'
        )

        if self.entries:
            legend_x = left + plot_w + 16
            parts.append('<g class="legend">')
            for index, ((_, kind, _), label) in enumerate(
                zip(self.entries, self.legend, strict=True)
            ):
                swatch_color = color(index)
                row_y = top + 8 + index * 18
                swatch = (
                    f'<line x1="{legend_x}" y1="{row_y}" x2="{legend_x + 18}" y2="{row_y}" '
                    f'stroke="{swatch_color}" stroke-width="3"/>'
                    if kind == "line"
                    else f'<circle class="legend-marker" cx="{legend_x + 9}" cy="{row_y}" '
                    f'r="4" fill="{swatch_color}"/>'
                )
                parts.append(
                    f'{swatch}<text x="{legend_x + 24}" y="{row_y + 4}" fill="#222">'
                    f"{attr(label)}</text>"
                )
            parts.append("</g>")

        parts.append("</svg>")
        return "\n".join(parts)

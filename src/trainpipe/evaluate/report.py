"""A standalone HTML evaluation report with inline SVG charts.

The report is a single HTML5 document with inline CSS and no scripts or external resources, so it
can be stored as a pipeline artifact and opened anywhere. Elements that tooling looks for carry
stable ids: ``metrics`` (metrics table), ``loss-curve`` (training history chart, an ``<svg>``),
``confusion-matrix`` (table), ``per-class`` (table) and ``gate`` (quality gate section).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any, TypeGuard

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.gate import GateResult

__all__ = ["render_report", "svg_bar_chart", "svg_line_chart", "svg_scatter_chart"]

_PALETTE = (
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
_MAX_MARKERS = 40


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _coord(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _finite_points(
    points: Sequence[tuple[float, float]], *, by_x: bool = False
) -> list[tuple[float, float]]:
    """The finite ``(x, y)`` points as floats, in order or (``by_x``) sorted by x."""
    finite = [
        (float(x), float(y))
        for x, y in points
        if _is_number(x) and _is_number(y) and math.isfinite(x) and math.isfinite(y)
    ]
    return sorted(finite, key=lambda point: point[0]) if by_x else finite


def _short_number(value: float) -> str:
    return "0" if value == 0 else f"{value:.4g}"


# --------------------------------------------------------------------------------------- axes


def _nice_step(span: float, target: int, integer: bool) -> float:
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    mantissas = (1.0, 2.0, 5.0, 10.0) if integer else (1.0, 2.0, 2.5, 5.0, 10.0)
    step = next(m * magnitude for m in mantissas if raw <= m * magnitude * (1 + 1e-9))
    return max(step, 1.0) if integer else step


def _axis(lo: float, hi: float, target: int, integer: bool) -> tuple[float, float, list[float]]:
    """Extend ``[lo, hi]`` to round bounds and return ``(lo, hi, ticks)``."""
    if hi - lo <= 0:
        pad = 1.0 if integer or lo == 0 else abs(lo) * 0.1
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, target, integer)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = round((end - start) / step)
    ticks = [round(start + i * step, 12) for i in range(count + 1)]
    return start, end, ticks


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    biggest = max(abs(t) for t in ticks)
    if biggest >= 1e6 or (0 < step < 1e-4):
        return f"{value:.3g}"
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


# ---------------------------------------------------------------------------------- svg parts

# One series of an x/y chart: its name, how it is drawn ("line" or "point") and its finite
# points. The kind picks the legend swatch; the position in the chart picks the colour.
_Entry = tuple[str, str, list[tuple[float, float]]]


def _color(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _svg_open(
    css_class: str, title: str, width: int, height: int, element_id: str | None, title_x: float
) -> list[str]:
    """The ``<svg>`` start tag, its ``<title>``, the white background and the heading."""
    id_attr = f' id="{_attr(element_id)}"' if element_id else ""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg"{id_attr} class="{_attr(css_class)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_attr(title)}" {_FONT} font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{_coord(title_x)}" y="20" '
        f'text-anchor="middle" font-size="14" font-weight="600" fill="#222">'
        f"{escape(title)}</text>",
    ]


def _x_axis(ticks: Sequence[float], sx: Callable[[float], float], axis_y: float) -> list[str]:
    parts = ['<g class="x-axis" fill="#444" text-anchor="middle">']
    for tick in ticks:
        tick_x = _coord(sx(tick))
        parts.append(
            f'<line x1="{tick_x}" y1="{axis_y}" x2="{tick_x}" y2="{axis_y + 5}" '
            f'stroke="#444"/><text x="{tick_x}" y="{axis_y + 17}">'
            f"{escape(_tick_label(tick, ticks))}</text>"
        )
    parts.append("</g>")
    return parts


def _no_data(x: float, y: float) -> str:
    return (
        f'<text class="no-data" x="{_coord(x)}" y="{_coord(y)}" text-anchor="middle" '
        'fill="#888" font-size="13">no data</text>'
    )


def _x_label(x: float, height: int, label: str) -> str:
    return (
        f'<text class="x-label" x="{_coord(x)}" y="{height - 8}" '
        f'text-anchor="middle" fill="#222" font-size="12">{escape(label)}</text>'
    )


class _Frame:
    """The layout, scales and furniture that the x/y charts share.

    It sizes the plot next to a legend of ``entries``, fits round axes around all their points
    (continuous ranges widened by ``pad`` times their span) and renders everything but the marks:
    heading, grid, ticks, axes, axis labels and legend. A chart draws its own marks with
    :meth:`sx`, :meth:`sy` and :meth:`polyline` and hands them to :meth:`render`.
    """

    def __init__(
        self,
        entries: Sequence[_Entry],
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
            x0, x1, self.x_ticks = _axis(min(xs) - x_pad, max(xs) + x_pad, 6, integer_x)
            y0, y1, self.y_ticks = _axis(min(ys) - y_pad, max(ys) + y_pad, 5, False)
            self.x_range, self.y_range = (x0, x1), (y0, y1)

    def sx(self, x: float) -> float:
        x0, x1 = self.x_range
        return self.left + (x - x0) / (x1 - x0) * self.plot_w

    def sy(self, y: float) -> float:
        y0, y1 = self.y_range
        return self.top + self.plot_h - (y - y0) / (y1 - y0) * self.plot_h

    def polyline(
        self, css_class: str, name: str, color: str, points: Sequence[tuple[float, float]]
    ) -> str:
        coords = " ".join(f"{_coord(self.sx(x))},{_coord(self.sy(y))}" for x, y in points)
        return (
            f'<polyline class="{_attr(css_class)}" data-series="{_attr(name)}" fill="none" '
            f'stroke="{color}" stroke-width="2" stroke-linejoin="round" '
            f'stroke-linecap="round" points="{coords}"/>'
        )

    def render(self, marks: Iterable[str]) -> str:
        """The whole ``<svg>``, with ``marks`` (one element a string) above grid and ticks."""
        left, top, plot_w, plot_h = self.left, self.top, self.plot_w, self.plot_h
        x_axis_y = top + plot_h
        parts = _svg_open(
            self.css_class, self.title, self.width, self.height, self.element_id, left + plot_w / 2
        )
        if self.has_data:
            parts.append('<g class="grid" stroke="#e5e5e5" stroke-width="1">')
            for tick in self.y_ticks:
                grid_y = _coord(self.sy(tick))
                parts.append(
                    f'<line x1="{left}" y1="{grid_y}" x2="{left + plot_w}" y2="{grid_y}"/>'
                )
            parts.append("</g>")
            parts.extend(_x_axis(self.x_ticks, self.sx, x_axis_y))
            parts.append('<g class="y-axis" fill="#444" text-anchor="end">')
            for tick in self.y_ticks:
                y = self.sy(tick)
                parts.append(
                    f'<line x1="{left - 5}" y1="{_coord(y)}" x2="{left}" y2="{_coord(y)}" '
                    f'stroke="#444"/><text x="{left - 8}" y="{_coord(y + 4)}">'
                    f"{escape(_tick_label(tick, self.y_ticks))}</text>"
                )
            parts.append("</g>")
            parts.extend(marks)
        else:
            parts.append(_no_data(left + plot_w / 2, top + plot_h / 2))

        # Axis lines and labels are drawn last so they stay on top of the marks.
        parts.append(
            f'<g class="axes" stroke="#444" stroke-width="1">'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{x_axis_y}"/>'
            f'<line x1="{left}" y1="{x_axis_y}" x2="{left + plot_w}" y2="{x_axis_y}"/></g>'
        )
        parts.append(_x_label(left + plot_w / 2, self.height, self.x_label))
        y_mid = _coord(top + plot_h / 2)
        parts.append(
            f'<text class="y-label" x="14" y="{y_mid}" transform="rotate(-90 14 {y_mid})" '
            f'text-anchor="middle" fill="#222" font-size="12">{escape(self.y_label)}</text>'
        )

        if self.entries:
            legend_x = left + plot_w + 16
            parts.append('<g class="legend">')
            for index, ((_, kind, _), label) in enumerate(
                zip(self.entries, self.legend, strict=True)
            ):
                color = _color(index)
                row_y = top + 8 + index * 18
                swatch = (
                    f'<line x1="{legend_x}" y1="{row_y}" x2="{legend_x + 18}" y2="{row_y}" '
                    f'stroke="{color}" stroke-width="3"/>'
                    if kind == "line"
                    else f'<circle class="legend-marker" cx="{legend_x + 9}" cy="{row_y}" '
                    f'r="4" fill="{color}"/>'
                )
                parts.append(
                    f'{swatch}<text x="{legend_x + 24}" y="{row_y + 4}" fill="#222">'
                    f"{escape(label)}</text>"
                )
            parts.append("</g>")

        parts.append("</svg>")
        return "\n".join(parts)


# -------------------------------------------------------------------------------------- chart


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
    cleaned = {str(name): _finite_points(points, by_x=True) for name, points in series.items()}
    frame = _Frame(
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
        color = _color(index)
        marks.append(frame.polyline("series", name, color, points))
        if len(points) <= _MAX_MARKERS:
            marks.append(f'<g class="markers" fill="{color}">')
            marks.extend(
                f'<circle cx="{_coord(frame.sx(x))}" cy="{_coord(frame.sy(y))}" r="2.5"/>'
                for x, y in points
            )
            marks.append("</g>")
    return frame.render(marks)


# ------------------------------------------------------------------------------------- report

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  margin: 0 auto; max-width: 1000px; padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d5d5d5; padding: 4px 10px; }
th { background: #f4f4f4; text-align: left; font-weight: 600; }
td.num { text-align: right; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; }
.verdict.pass { background: #e3f4e1; color: #1d6b1a; }
.verdict.fail { background: #fbe3e3; color: #9b1c1c; }
.verdict.none { background: #eee; color: #555; }
tr.fail td { background: #fdf1f1; }
td.result.pass { color: #1d6b1a; font-weight: 600; }
td.result.fail { color: #9b1c1c; font-weight: 600; }
#confusion-matrix td { text-align: right; min-width: 3em; }
#confusion-matrix th.corner { font-weight: normal; color: #666; font-size: 0.85em; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
.muted { color: #777; }
"""


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        if number == 0 or 1e-3 <= abs(number) < 1e6:
            return f"{number:.4f}"
        return f"{number:.4g}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, numbers.Real))


def _metrics_section(metrics: Mapping[str, Any]) -> str:
    rows = [
        f'<tr><th scope="row">{escape(str(key))}</th>'
        f'<td class="num">{escape(_format_value(value))}</td></tr>'
        for key, value in metrics.items()
        if _is_scalar(value)
    ]
    if not rows:
        rows = ['<tr><td colspan="2" class="muted">no scalar metrics</td></tr>']
    return (
        '<section><h2>Metrics</h2><table id="metrics"><thead><tr><th scope="col">metric</th>'
        '<th scope="col">value</th></tr></thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"
        "</section>"
    )


def _history_series(history: Sequence[Mapping[str, float]]) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for index, row in enumerate(history):
        epoch = row.get("epoch")
        x = float(epoch) if _is_number(epoch) else float(index + 1)
        for key, value in row.items():
            if key == "epoch" or not _is_number(value):
                continue
            series.setdefault(str(key), []).append((x, float(value)))
    return series


def _history_section(history: Sequence[Mapping[str, float]]) -> str:
    chart = svg_line_chart(
        _history_series(history),
        title="Training history",
        x_label="epoch",
        y_label="value",
        width=760,
        height=340,
        element_id="loss-curve",
    )
    note = "" if history else '<p class="muted">No training history was recorded.</p>'
    return f"<section><h2>Training history</h2>{note}\n{chart}\n</section>"


def _confusion_section(confusion: Sequence[Sequence[int]], labels: Sequence[str] | None) -> str:
    size = len(confusion)
    for i, row in enumerate(confusion):
        if len(row) != size:
            raise TrainpipeError(
                f"confusion matrix must be square: it has {size} rows but row {i} has "
                f"{len(row)} cells"
            )
    names = (
        [str(label) for label in labels] if labels is not None else [str(i) for i in range(size)]
    )
    if len(names) != size:
        raise TrainpipeError(
            f"confusion matrix is {size}x{size} but {len(names)} labels were given"
        )
    header = "".join(f'<th scope="col">{escape(name)}</th>' for name in names)
    body = []
    for name, row in zip(names, confusion, strict=True):
        total = sum(int(count) for count in row)
        cells = []
        for count in row:
            fraction = int(count) / total if total else 0.0
            alpha = 0.06 + 0.84 * fraction if count else 0.0
            text = "#fff" if alpha > 0.55 else "#222"
            cells.append(
                f'<td style="background-color: rgba(31, 119, 180, {alpha:.3f}); color: {text}" '
                f'title="{fraction:.1%} of true {_attr(name)}">{int(count)}</td>'
            )
        body.append(f'<tr><th scope="row">{escape(name)}</th>{"".join(cells)}</tr>')
    return (
        '<section><h2>Confusion matrix</h2><p class="muted">Rows are the true class, columns the '
        "predicted class; shading is the share of the row.</p>"
        '<table id="confusion-matrix"><thead><tr><th class="corner">true \\ predicted</th>'
        f"{header}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table></section>"
    )


def _per_class_section(per_class: Mapping[str, Any]) -> str:
    columns = ("precision", "recall", "f1", "support")
    head = "".join(f'<th scope="col">{column}</th>' for column in columns)
    rows = []
    for label, scores in per_class.items():
        values = scores if isinstance(scores, Mapping) else {}
        cells = "".join(
            f'<td class="num">{escape(_format_value(values[column]))}</td>'
            if column in values
            else '<td class="num muted">-</td>'
            for column in columns
        )
        rows.append(f'<tr><th scope="row">{escape(str(label))}</th>{cells}</tr>')
    return (
        '<section><h2>Per-class metrics</h2><table id="per-class"><thead><tr>'
        f'<th scope="col">class</th>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table></section>"
    )


def _gate_section(gate: GateResult | None) -> str:
    if gate is None:
        return (
            '<section id="gate"><h2>Quality gate</h2>'
            '<p><span class="verdict none">not evaluated</span></p></section>'
        )
    verdict = "pass" if gate.blessed else "fail"
    label = "blessed" if gate.blessed else "not blessed"
    parts = [
        '<section id="gate"><h2>Quality gate</h2>',
        f'<p><span class="verdict {verdict}">{label}</span> {escape(gate.reason)}</p>',
    ]
    if gate.checks:
        rows = []
        for check in gate.checks:
            status = "pass" if check.passed else "fail"
            value = "missing" if check.value is None else _format_value(check.value)
            rows.append(
                f'<tr class="{status}"><th scope="row">{escape(check.metric)}</th>'
                f"<td>{escape(check.op)} {escape(_format_value(check.threshold))}</td>"
                f'<td class="num">{escape(value)}</td>'
                f'<td class="result {status}">{status}</td></tr>'
            )
        parts.append(
            '<table class="checks"><thead><tr><th scope="col">metric</th>'
            '<th scope="col">requirement</th><th scope="col">value</th>'
            '<th scope="col">result</th></tr></thead><tbody>\n'
            + "\n".join(rows)
            + "\n</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_report(
    *,
    title: str,
    metrics: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    confusion: Sequence[Sequence[int]] | None,
    labels: Sequence[str] | None,
    gate: GateResult | None,
    extra_sections: Sequence[tuple[str, str]] = (),
) -> str:
    """Render a complete, standalone HTML5 evaluation report.

    Contains the quality gate verdict, a table of every scalar metric, the training history chart
    (one line per numeric key of the ``history`` rows, x = ``epoch``), the confusion matrix (rows
    are the true class) when ``confusion`` is given, and the per-class table when
    ``metrics["per_class"]`` exists. Every value is HTML-escaped. ``extra_sections`` are
    ``(heading, html)`` pairs appended at the end: the heading is escaped, the body is inserted as
    trusted HTML (e.g. another :func:`svg_line_chart`).
    """
    verdict = ""
    if gate is not None:
        css = "pass" if gate.blessed else "fail"
        verdict = f'<p><span class="verdict {css}">{escape(gate.reason)}</span></p>'
    sections = [_metrics_section(metrics), _history_section(history)]
    if confusion is not None:
        sections.append(_confusion_section(confusion, labels))
    per_class = metrics.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        sections.append(_per_class_section(per_class))
    sections.append(_gate_section(gate))
    sections.extend(
        f'<section class="extra"><h2>{escape(heading)}</h2>\n{body}\n</section>'
        for heading, body in extra_sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1>{verdict}</header>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------ more charts


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
    dots = {str(name): _finite_points(points) for name, points in series.items()}
    curves = {
        str(name): _finite_points(points, by_x=True) for name, points in (lines or {}).items()
    }
    entries: list[_Entry] = [(name, "point", points) for name, points in dots.items()]
    entries += [(name, "line", points) for name, points in curves.items()]
    # Pad continuous ranges so that points do not sit on the axes.
    frame = _Frame(
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
        color = _color(index)
        if kind == "line":
            marks.append(frame.polyline("line", name, color, points))
            continue
        marks.append(
            f'<g class="series" data-series="{_attr(name)}" fill="{color}" '
            f'fill-opacity="0.85" stroke="#ffffff" stroke-width="0.75">'
        )
        marks.extend(
            f'<circle class="point" cx="{_coord(frame.sx(x))}" cy="{_coord(frame.sy(y))}" r="3.5">'
            f"<title>{escape(f'{name}: {_short_number(x)}, {_short_number(y)}')}</title>"
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
        (str(label), float(value))
        for label, value in bars
        if _is_number(value) and math.isfinite(value)
    ]
    row_h, bar_h, top, bottom = 24, 16, 34, 44
    height = top + max(len(cleaned), 1) * row_h + bottom
    longest = max((len(label) for label, _ in cleaned), default=0)
    label_w = min(width // 3, 12 + 7 * longest)
    max_chars = max((label_w - 12) // 7, 4)
    left, right = label_w + 8, 64
    plot_w = max(width - left - right, 10)
    plot_h = max(len(cleaned), 1) * row_h

    parts = _svg_open("chart bars", title, width, height, element_id, left + plot_w / 2)
    x_axis_y = top + plot_h
    if cleaned:
        values = [value for _, value in cleaned]
        x0, x1, ticks = _axis(min(0.0, *values), max(0.0, *values), 5, False)

        def sx(x: float) -> float:
            return left + (x - x0) / (x1 - x0) * plot_w

        parts.append('<g class="grid" stroke="#e5e5e5" stroke-width="1">')
        for tick in ticks:
            grid_x = _coord(sx(tick))
            parts.append(f'<line x1="{grid_x}" y1="{top}" x2="{grid_x}" y2="{x_axis_y}"/>')
        parts.append("</g>")
        parts.extend(_x_axis(ticks, sx, x_axis_y))

        zero = sx(0.0)
        for index, (label, value) in enumerate(cleaned):
            color = _PALETTE[0] if value >= 0 else _PALETTE[3]
            row_top = top + index * row_h
            bar_y = row_top + (row_h - bar_h) / 2
            text_y = _coord(row_top + row_h / 2 + 4)
            end = sx(value)
            shown = label if len(label) <= max_chars else label[: max_chars - 1] + "\u2026"
            parts.append(
                f'<g class="bar-row"><text class="bar-label" x="{left - 6}" y="{text_y}" '
                f'text-anchor="end" fill="#222">{escape(shown)}<title>{escape(label)}</title>'
                f'</text><rect class="bar" data-label="{_attr(label)}" '
                f'data-value="{_attr(repr(value))}" x="{_coord(min(zero, end))}" '
                f'y="{_coord(bar_y)}" width="{_coord(abs(end - zero))}" height="{bar_h}" '
                f'fill="{color}"><title>{escape(f"{label}: {_short_number(value)}")}</title>'
                f'</rect><text class="bar-value" x="{_coord(max(zero, end) + 4)}" '
                f'y="{text_y}" fill="#444">{escape(_short_number(value))}</text></g>'
            )
        parts.append(
            f'<line class="zero" x1="{_coord(zero)}" y1="{top}" x2="{_coord(zero)}" '
            f'y2="{x_axis_y}" stroke="#444" stroke-width="1"/>'
        )
    else:
        parts.append(_no_data(left + plot_w / 2, top + plot_h / 2 + 4))
    parts.append(
        f'<line class="axes" x1="{left}" y1="{x_axis_y}" x2="{left + plot_w}" y2="{x_axis_y}" '
        'stroke="#444" stroke-width="1"/>'
    )
    if x_label:
        parts.append(_x_label(left + plot_w / 2, height, x_label))
    parts.append("</svg>")
    return "\n".join(parts)

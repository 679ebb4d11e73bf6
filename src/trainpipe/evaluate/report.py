"""A standalone HTML evaluation report with inline SVG charts.

The report is a single HTML5 document with inline CSS and no scripts or external resources, so it
can be stored as a pipeline artifact and opened anywhere. Elements that tooling looks for carry
stable ids: ``metrics`` (metrics table), ``loss-curve`` (train vs validation loss, an ``<svg>``),
``metric-curve`` (the other per-epoch metrics, e.g. accuracy), ``confusion-matrix`` (table),
``per-class`` (table) and ``gate`` (quality gate section). With :class:`ReportDetails` the report
also has the sections ``section-roc-pr`` (``roc-curve``, ``pr-curve``), ``section-misclassified``
(``misclassified-grid``), ``section-latency`` (``latency-histogram``), ``section-resources``
(``resource-cpu``, ``resource-memory``), ``section-sanity`` and ``section-splits``, plus
``confusion-heatmap`` and ``per-class-chart`` beside the tables.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, TypeGuard

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.gate import GateResult

__all__ = [
    "ReportDetails",
    "render_report",
    "svg_bar_chart",
    "svg_confusion_heatmap",
    "svg_grouped_bar_chart",
    "svg_histogram",
    "svg_image_grid",
    "svg_line_chart",
    "svg_scatter_chart",
]

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


_LOSS_KEYS = ("train_loss", "val_loss")
# Per-epoch bookkeeping, not model quality: kept out of the metric chart.
_NOT_METRICS = frozenset(
    {"learning_rate", "seconds", "samples_per_second", "data_wait_seconds", "grad_norm"}
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
    series = _history_series(history)
    losses = {key: series.get(key, []) for key in _LOSS_KEYS}
    losses |= {k: v for k, v in series.items() if k.endswith("loss") and k not in losses}
    others = {k: v for k, v in series.items() if k not in losses and k not in _NOT_METRICS}
    loss_chart = svg_line_chart(
        losses,
        title="Loss: train vs validation",
        x_label="epoch",
        y_label="loss",
        width=760,
        height=340,
        element_id="loss-curve",
    )
    metric_chart = svg_line_chart(
        others,
        title="Metrics per epoch",
        x_label="epoch",
        y_label="value",
        width=760,
        height=340,
        element_id="metric-curve",
    )
    note = "" if history else '<p class="muted">No training history was recorded.</p>'
    return (
        f'<section id="section-loss"><h2>Training history</h2>{note}\n{loss_chart}\n</section>\n'
        f'<section id="section-metric-curves"><h2>Metric curves</h2>\n{metric_chart}\n</section>'
    )


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
        f"{header}</tr></thead><tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n"
        + svg_confusion_heatmap(confusion, names, element_id="confusion-heatmap")
        + "</section>"
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
    chart = svg_grouped_bar_chart(
        [
            (str(label), scores if isinstance(scores, Mapping) else {})
            for label, scores in per_class.items()
        ],
        ("precision", "recall", "f1"),
        title="Precision, recall and F1 per class",
        element_id="per-class-chart",
    )
    return (
        '<section><h2>Per-class metrics</h2><table id="per-class"><thead><tr>'
        f'<th scope="col">class</th>{head}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + f"\n</tbody></table>\n{chart}</section>"
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


@dataclass(kw_only=True)
class ReportDetails:
    """What a full run report shows besides metrics, history, confusion matrix and gate.

    ``roc`` and ``pr`` come from :func:`trainpipe.evaluate.curves.binary_curves` (binary tasks
    only); ``misclassified`` from :func:`~trainpipe.evaluate.curves.misclassified_samples` with
    ``image_shape`` ``[C, H, W]`` (image data only); ``latencies_ms`` are single-sample latencies;
    ``resources`` the training job's samples (``seconds``, ``rank``, ``cpu_percent``,
    ``rss_bytes``, ``gpu_utilization_percent``, ``gpu_memory_used_bytes``); ``sanity`` the
    training sanity checks, ``baseline`` the model-vs-baseline comparison and ``splits`` the data
    split report (rows and class balance per split, overlap with train).
    """

    task: str = "classification"
    n_classes: int = 0
    roc: Mapping[str, Any] | None = None
    pr: Mapping[str, Any] | None = None
    misclassified: Sequence[Mapping[str, Any]] = ()
    image_shape: Sequence[int] = ()
    latencies_ms: Sequence[float] = ()
    resources: Sequence[Mapping[str, Any]] = ()
    sanity: Mapping[str, Any] | None = None
    baseline: Mapping[str, Any] | None = None
    splits: Mapping[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _muted(text: str) -> str:
    return f'<p class="muted">{escape(text)}</p>'


def _curves_section(details: ReportDetails) -> str:
    head = '<section id="section-roc-pr"><h2>ROC and precision-recall curves</h2>'
    if details.task != "classification" or details.n_classes != 2:
        what = "regression" if details.task != "classification" else f"{details.n_classes} classes"
        return (
            head
            + _muted(f"ROC and PR curves apply to binary classification; this task is {what}.")
            + "</section>"
        )
    if not details.roc or not details.pr:
        return (
            head
            + _muted("The test set holds a single class: the curves are undefined.")
            + "</section>"
        )
    roc, pr = details.roc, details.pr
    roc_chart = svg_line_chart(
        {
            f"ROC (AUC {float(roc['auc']):.3f})": list(zip(roc["fpr"], roc["tpr"], strict=True)),
            "chance": [(0.0, 0.0), (1.0, 1.0)],
        },
        title="ROC curve",
        x_label="false positive rate",
        y_label="true positive rate",
        element_id="roc-curve",
    )
    pr_chart = svg_line_chart(
        {
            f"PR (AP {float(pr['average_precision']):.3f})": list(
                zip(pr["recall"], pr["precision"], strict=True)
            )
        },
        title="Precision-recall curve",
        x_label="recall",
        y_label="precision",
        element_id="pr-curve",
    )
    return f"{head}\n{roc_chart}\n{pr_chart}\n</section>"


def _misclassified_section(details: ReportDetails) -> str:
    head = '<section id="section-misclassified"><h2>Misclassified samples</h2>'
    if details.task != "classification":
        return head + _muted("Not a classification task.") + "</section>"
    if not details.image_shape:
        return (
            head
            + _muted("Not image data (model.image_shape is not set): no image grid.")
            + "</section>"
        )
    if not details.misclassified:
        return head + _muted("No test sample was misclassified.") + "</section>"
    grid = svg_image_grid(
        details.misclassified, details.image_shape, element_id="misclassified-grid"
    )
    note = _muted(f"The first {len(details.misclassified)} misclassified test rows.")
    return f"{head}{note}\n{grid}\n</section>"


def _latency_section(details: ReportDetails) -> str:
    chart = svg_histogram(
        details.latencies_ms,
        title="Single-sample latency",
        x_label="milliseconds",
        element_id="latency-histogram",
    )
    note = "" if details.latencies_ms else _muted("No latency was measured.")
    return f'<section id="section-latency"><h2>Latency</h2>{note}\n{chart}\n</section>'


def _resource_series(
    resources: Sequence[Mapping[str, Any]], key: str, label: str, scale: float = 1.0
) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for sample in resources:
        value, seconds = sample.get(key), sample.get("seconds")
        if _is_number(value) and _is_number(seconds):
            name = f"{label} rank {sample.get('rank', 0)}"
            series.setdefault(name, []).append((float(seconds), float(value) * scale))
    return series


def _resources_section(details: ReportDetails) -> str:
    resources = details.resources
    cpu = _resource_series(resources, "cpu_percent", "cpu %")
    cpu |= _resource_series(resources, "gpu_utilization_percent", "gpu %")
    memory = _resource_series(resources, "rss_bytes", "rss MiB", 1 / 2**20)
    memory |= _resource_series(resources, "gpu_memory_used_bytes", "gpu MiB", 1 / 2**20)
    note = (
        _muted(f"{len(resources)} samples from the training job.")
        if resources
        else _muted(
            "No resource samples were recorded for this run (metrics.json has no resources)."
        )
    )
    cpu_chart = svg_line_chart(
        cpu, title="CPU and GPU utilization", x_label="seconds since start",
        y_label="percent", element_id="resource-cpu",
    )  # fmt: skip
    mem_chart = svg_line_chart(
        memory, title="Memory", x_label="seconds since start", y_label="MiB",
        element_id="resource-memory",
    )  # fmt: skip
    return (
        f'<section id="section-resources"><h2>Resource usage</h2>{note}\n{cpu_chart}\n'
        f"{mem_chart}\n</section>"
    )


def _sanity_section(details: ReportDetails) -> str:
    parts = ['<section id="section-sanity"><h2>Sanity checks and baseline</h2>']
    baseline = details.baseline
    if baseline:
        beats = bool(baseline.get("beats"))
        css = "pass" if beats else "fail"
        text = "beats the baseline" if beats else "does not beat the baseline"
        parts.append(
            f'<p id="baseline-verdict"><span class="verdict {css}">{text}</span> '
            f"{escape(str(baseline.get('message', '')))}</p>"
        )
    else:
        parts.append(_muted("No baseline comparison (training ran without sanity checks)."))
    sanity = details.sanity or {}
    overfit = sanity.get("overfit_one_batch")
    if isinstance(overfit, Mapping):
        css = "pass" if overfit.get("passed") else "fail"
        parts.append(
            f'<p id="overfit-verdict"><span class="verdict {css}">overfit one batch: '
            f"{'passed' if overfit.get('passed') else 'failed'}</span> "
            f"{escape(str(overfit.get('message', '')))}</p>"
        )
    scores = sanity.get("baselines")
    if isinstance(scores, Mapping) and scores:
        rows = []
        for name, values in scores.items():
            if isinstance(values, Mapping):
                cells = ", ".join(
                    f"{k}={_format_value(v)}" for k, v in values.items() if _is_scalar(v)
                )
                rows.append(
                    f'<tr><th scope="row">{escape(str(name))}</th><td>{escape(cells)}</td></tr>'
                )
        parts.append(
            '<table id="baseline-scores"><thead><tr><th scope="col">baseline</th>'
            '<th scope="col">validation scores</th></tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _splits_section(details: ReportDetails) -> str:
    head = '<section id="section-splits"><h2>Data splits</h2>'
    splits = details.splits or {}
    parts_info = {k: v for k, v in splits.items() if isinstance(v, Mapping) and "rows" in v}
    if not parts_info:
        return head + _muted("No split report was recorded.") + "</section>"
    classes: list[str] = []
    for info in parts_info.values():
        for name in info.get("class_balance") or {}:
            if str(name) not in classes:
                classes.append(str(name))
    header = "".join(f'<th scope="col">{escape(c)}</th>' for c in classes)
    rows = []
    for name, info in parts_info.items():
        balance = info.get("class_balance") or {}
        cells = "".join(
            f'<td class="num">{escape(_format_value(balance.get(c, 0)))}</td>' for c in classes
        )
        rows.append(
            f'<tr><th scope="row">{escape(str(name))}</th>'
            f'<td class="num">{escape(_format_value(info["rows"]))}</td>{cells}</tr>'
        )
    overlap = splits.get("overlap")
    notes = ""
    if isinstance(overlap, Mapping) and overlap:
        notes = "".join(
            f"<li>{escape(str(k))}: {escape(_format_value(v))} rows also in train</li>"
            for k, v in overlap.items()
        )
        notes = f'<ul id="split-overlap">{notes}</ul>'
    warnings = splits.get("warnings") or []
    if warnings:
        notes += "<ul>" + "".join(f"<li>{escape(str(w))}</li>" for w in warnings) + "</ul>"
    return (
        head
        + '<table id="split-table"><thead><tr><th scope="col">split</th><th scope="col">rows</th>'
        + header
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + notes
        + "</section>"
    )


def _details_sections(details: ReportDetails) -> list[str]:
    return [
        _curves_section(details),
        _misclassified_section(details),
        _latency_section(details),
        _resources_section(details),
        _sanity_section(details),
        _splits_section(details),
    ]


def render_report(
    *,
    title: str,
    metrics: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    confusion: Sequence[Sequence[int]] | None,
    labels: Sequence[str] | None,
    gate: GateResult | None,
    extra_sections: Sequence[tuple[str, str]] = (),
    details: ReportDetails | None = None,
) -> str:
    """Render a complete, standalone HTML5 evaluation report.

    Contains the quality gate verdict, a table of every scalar metric, the training history chart
    (one line per numeric key of the ``history`` rows, x = ``epoch``), the confusion matrix (rows
    are the true class) when ``confusion`` is given, and the per-class table when
    ``metrics["per_class"]`` exists. Every value is HTML-escaped. ``extra_sections`` are
    ``(heading, html)`` pairs appended at the end: the heading is escaped, the body is inserted as
    trusted HTML (e.g. another :func:`svg_line_chart`). ``details`` adds the sections of a full
    run report (see :class:`ReportDetails`); each of them is present even when it has no data,
    and then says why.
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
    if details is not None:
        sections.extend(_details_sections(details))
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
    finite = [float(v) for v in values if _is_number(v) and math.isfinite(v)]
    counts = [0] * bins
    lo = min(finite, default=0.0)
    hi = max(finite, default=1.0)
    span = hi - lo if hi > lo else 1.0
    for value in finite:
        counts[min(int((value - lo) / span * bins), bins - 1)] += 1
    edges = [lo + span * i / bins for i in range(bins + 1)]
    points = [(edges[i], float(counts[i])) for i in range(bins)] + [(edges[-1], 0.0)]
    frame = _Frame(
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
    marks = [f'<g class="bins" fill="{_PALETTE[0]}" stroke="#ffffff" stroke-width="0.5">']
    for i, count in enumerate(counts):
        x0, x1 = frame.sx(edges[i]), frame.sx(edges[i + 1])
        top = frame.sy(float(count))
        marks.append(
            f'<rect class="bin" data-lo="{_attr(repr(edges[i]))}" '
            f'data-hi="{_attr(repr(edges[i + 1]))}" data-count="{count}" x="{_coord(x0)}" '
            f'y="{_coord(top)}" width="{_coord(max(x1 - x0, 0.5))}" '
            f'height="{_coord(frame.sy(0.0) - top)}"><title>'
            f"{escape(f'{_short_number(edges[i])} to {_short_number(edges[i + 1])}: {count}')}"
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
    parts = _svg_open("chart heatmap", title, width, height, element_id, width / 2)
    for i, (name, row) in enumerate(zip(names, confusion, strict=True)):
        total = sum(int(c) for c in row)
        y = top + i * side
        parts.append(
            f'<text class="row-label" x="{left - 6}" y="{_coord(y + side / 2 + 4)}" '
            f'text-anchor="end" fill="#222">{escape(name)}</text>'
        )
        for j, count in enumerate(row):
            share = int(count) / total if total else 0.0
            alpha = 0.04 + 0.9 * share if count else 0.0
            x = left + j * side
            parts.append(
                f'<rect class="cell" data-true="{_attr(name)}" data-pred="{_attr(names[j])}" '
                f'data-count="{int(count)}" x="{x}" y="{y}" width="{side}" height="{side}" '
                f'fill="{_PALETTE[0]}" fill-opacity="{alpha:.3f}" stroke="#dddddd">'
                f"<title>{escape(f'true {name}, predicted {names[j]}: {int(count)}')}</title>"
                "</rect>"
            )
            if side >= 24:
                color = "#ffffff" if alpha > 0.55 else "#222222"
                parts.append(
                    f'<text x="{_coord(x + side / 2)}" y="{_coord(y + side / 2 + 4)}" '
                    f'text-anchor="middle" fill="{color}">{int(count)}</text>'
                )
    bottom = top + side * size
    for j, name in enumerate(names):
        col_x = _coord(left + j * side + side / 2)
        parts.append(
            f'<text class="col-label" x="{col_x}" y="{bottom + 8}" '
            f'transform="rotate(90 {col_x} {bottom + 8})" fill="#222">{escape(name)}</text>'
        )
    parts.append(
        f'<text x="12" y="{_coord(top + side * size / 2)}" fill="#666" '
        f'transform="rotate(-90 12 {_coord(top + side * size / 2)})" text-anchor="middle">'
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
        float(v)
        for _, row in groups
        for name in series
        if _is_number(v := row.get(name)) and math.isfinite(v)
    ]
    entries: list[_Entry] = [(name, "point", []) for name in series]
    if values:
        entries[0] = (series[0], "point", [(0.0, 0.0), (float(len(groups)), max(values))])
    frame = _Frame(
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
            value = row.get(name)
            if not (_is_number(value) and math.isfinite(value)):
                continue
            top = frame.sy(float(value))
            marks.append(
                f'<rect class="bar" data-group="{_attr(group)}" data-series="{_attr(name)}" '
                f'data-value="{_attr(repr(float(value)))}" x="{_coord(x0 + k * bar_w)}" '
                f'y="{_coord(top)}" width="{_coord(bar_w)}" '
                f'height="{_coord(frame.sy(0.0) - top)}" fill="{_color(k)}">'
                f"<title>{escape(f'{group} {name}: {_short_number(float(value))}')}</title></rect>"
            )
        marks.append(
            f'<text class="group-label" x="{_coord(frame.left + (g + 0.5) * slot)}" '
            f'y="{_coord(frame.top + frame.plot_h + 16)}" text-anchor="middle" fill="#444">'
            f"{escape(group if len(group) <= 12 else group[:11] + chr(0x2026))}</text>"
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
    parts = _svg_open("chart image-grid", title, width, height, element_id, width / 2)
    if not samples:
        parts.append(_no_data(width / 2, height / 2 + 8))
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
            f'<g class="sample" data-true="{_attr(true)}" data-pred="{_attr(pred)}" '
            f'data-row="{_attr(sample.get("row", index))}">'
        )
        for r in range(rows):
            for c in range(cols):
                k = r * cols + c
                if channels == 3:
                    rgb = [max(0, min(255, round(scaled[ch * plane + k] * 255))) for ch in range(3)]
                    color = f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"
                else:
                    color = _gray(scaled[k])
                parts.append(
                    f'<rect class="px" x="{x0 + c * size}" y="{y0 + r * size}" width="{size}" '
                    f'height="{size}" fill="{color}"/>'
                )
        parts.append(
            f'<text class="caption" x="{x0}" y="{y0 + tile_h + 14}" fill="#222">'
            f"true {escape(true)}</text>"
            f'<text class="caption" x="{x0}" y="{y0 + tile_h + 27}" fill="#9b1c1c">'
            f"pred {escape(pred)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)

"""The standalone HTML evaluation report: metrics, curves, confusion matrix, gate and run details.

The page is built with the shared page shell and charts of :mod:`trainpipe.reporting`. Elements
that tooling looks for carry stable ids: ``metrics`` (metrics table), ``loss-curve`` (train vs
validation loss, an ``<svg>``), ``metric-curve`` (the other per-epoch metrics, e.g. accuracy),
``confusion-matrix`` (table), ``per-class`` (table) and ``gate`` (quality gate section). With
:class:`ReportDetails` the report also has the sections ``section-roc-pr`` (``roc-curve``,
``pr-curve``), ``section-misclassified`` (``misclassified-grid``), ``section-latency``
(``latency-histogram``), ``section-resources`` (``resource-cpu``, ``resource-memory``),
``section-sanity``, ``section-splits`` and ``section-predicted-actual`` (``predicted-vs-actual``,
regression), plus ``confusion-heatmap`` and ``per-class-chart`` beside the tables.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.gate import Check, GateResult
from trainpipe.reporting.charts import (
    svg_confusion_heatmap,
    svg_grouped_bar_chart,
    svg_histogram,
    svg_image_grid,
    svg_line_chart,
    svg_scatter_chart,
)
from trainpipe.reporting.page import Cell, note, page, section, table
from trainpipe.reporting.values import format_value, is_number

__all__ = ["ReportDetails", "baseline_verdict", "render_report"]

# The report's own rules, on top of the shared page style.
_CSS = """
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; }
.verdict.pass { background: #e3f4e1; color: #1d6b1a; }
.verdict.fail { background: #fbe3e3; color: #9b1c1c; }
.verdict.none { background: #eee; color: #555; }
tr.fail td { background: #fdf1f1; }
td.result.pass { color: #1d6b1a; font-weight: 600; }
td.result.fail { color: #9b1c1c; font-weight: 600; }
#confusion-matrix td { text-align: right; min-width: 3em; }
#confusion-matrix th.corner { font-weight: normal; color: #666; font-size: 0.85em; }
"""


def baseline_verdict(baseline: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the model held its own against the baseline it was compared with (a tie holds),
    and the verdict naming that baseline: ``beats the linear baseline``, ``ties with ...`` or
    ``does worse than ...``."""
    name = f"the {baseline['baseline']} baseline" if baseline.get("baseline") else "the baseline"
    if baseline.get("beats"):
        return True, f"beats {name}"
    # evaluation JSON written before ties were told apart has no "worse": not beating was worse
    if baseline.get("worse", True):
        return False, f"does worse than {name}"
    return True, f"ties with {name}"


def _show(value: Any) -> str:
    """A metric value as the report shows it: scores with four decimals (``0.8000``)."""
    return format_value(value, decimals=4, significant=4)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, numbers.Real))


def _metrics_section(metrics: Mapping[str, Any]) -> str:
    rows = [(str(key), _show(value)) for key, value in metrics.items() if _is_scalar(value)]
    return section(
        "Metrics",
        table(
            rows,
            header=("metric", "value"),
            element_id="metrics",
            row_header=True,
            column_classes=("", "num"),
            empty="no scalar metrics",
        ),
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
        x = float(epoch) if is_number(epoch) else float(index + 1)
        for key, value in row.items():
            if key == "epoch" or not is_number(value):
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
    empty = "" if history else note("No training history was recorded.")
    return (
        section("Training history", empty, loss_chart, element_id="section-loss")
        + "\n"
        + section("Metric curves", metric_chart, element_id="section-metric-curves")
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
    # Cells are shaded by their share of the row, which the shared table helper has no say in.
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
                f'title="{fraction:.1%} of true {escape(name)}">{int(count)}</td>'
            )
        body.append(f'<tr><th scope="row">{escape(name)}</th>{"".join(cells)}</tr>')
    matrix = (
        '<table id="confusion-matrix"><thead><tr><th class="corner">true \\ predicted</th>'
        f"{header}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    )
    return section(
        "Confusion matrix",
        note(
            "Rows are the true class, columns the predicted class; shading is the share of the row."
        ),
        matrix,
        svg_confusion_heatmap(confusion, names, element_id="confusion-heatmap"),
    )


def _per_class_section(per_class: Mapping[str, Any]) -> str:
    columns = ("precision", "recall", "f1", "support")
    rows = []
    for label, scores in per_class.items():
        values = scores if isinstance(scores, Mapping) else {}
        cells = [_show(values[c]) if c in values else Cell("-", "num muted") for c in columns]
        rows.append([str(label), *cells])
    chart = svg_grouped_bar_chart(
        [
            (str(label), scores if isinstance(scores, Mapping) else {})
            for label, scores in per_class.items()
        ],
        ("precision", "recall", "f1"),
        title="Precision, recall and F1 per class",
        element_id="per-class-chart",
    )
    scores_table = table(
        rows,
        header=("class", *columns),
        element_id="per-class",
        row_header=True,
        column_classes=("", *("num" for _ in columns)),
    )
    return section("Per-class metrics", scores_table, chart)


def _requirement(check: Check) -> str:
    """``>= 0.95``; ``>= linear baseline 0.8571``; just ``>= linear baseline ...`` when there
    was nothing to compare with."""
    if not check.against:
        return f"{check.op} {_show(check.threshold)}"
    if check.value is None:
        return f"{check.op} {check.against}"
    return f"{check.op} {check.against} {_show(check.threshold)}"


def _gate_section(gate: GateResult | None) -> str:
    if gate is None:
        verdict = '<p><span class="verdict none">not evaluated</span></p>'
        return section("Quality gate", verdict, element_id="gate")
    css = "pass" if gate.blessed else "fail"
    label = "blessed" if gate.blessed else "not blessed"
    parts = [f'<p><span class="verdict {css}">{label}</span> {escape(gate.reason)}</p>']
    if gate.checks:
        statuses = ["pass" if check.passed else "fail" for check in gate.checks]
        rows = [
            (
                check.metric,
                _requirement(check),
                "missing" if check.value is None else _show(check.value),
                Cell(status, f"result {status}"),
            )
            for check, status in zip(gate.checks, statuses, strict=True)
        ]
        parts.append(
            table(
                rows,
                header=("metric", "requirement", "value", "result"),
                css_class="checks",
                row_header=True,
                column_classes=("", "", "num"),
                row_classes=statuses,
            )
        )
    return section("Quality gate", *parts, element_id="gate")


@dataclass(kw_only=True)
class ReportDetails:
    """What a full run report shows besides metrics, history, confusion matrix and gate.

    ``roc`` and ``pr`` come from :func:`trainpipe.evaluate.curves.binary_curves` (binary tasks
    only); ``misclassified`` from :func:`~trainpipe.evaluate.curves.misclassified_samples` with
    ``image_shape`` ``[C, H, W]`` (image data only); ``latencies_ms`` are single-sample latencies;
    ``resources`` the training job's samples (``seconds``, ``rank``, ``cpu_percent``,
    ``rss_bytes``, ``gpu_utilization_percent``, ``gpu_memory_used_bytes``); ``sanity`` the
    training sanity checks, ``baseline`` the model-vs-baseline comparison, ``splits`` the data
    split report (rows and class balance per split, overlap with train) and ``predictions`` the
    ``(actual, predicted)`` value of each test row (regression only).
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
    predictions: Sequence[tuple[float, float]] = ()
    notes: list[str] = field(default_factory=list)


def _curves_section(details: ReportDetails) -> str:
    heading, element_id = "ROC and precision-recall curves", "section-roc-pr"
    if details.task != "classification" or details.n_classes != 2:
        what = "regression" if details.task != "classification" else f"{details.n_classes} classes"
        why = f"ROC and PR curves apply to binary classification; this task is {what}."
        return section(heading, note(why), element_id=element_id)
    if not details.roc or not details.pr:
        why = "The test set holds a single class: the curves are undefined."
        return section(heading, note(why), element_id=element_id)
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
    return section(heading, roc_chart, pr_chart, element_id=element_id)


MAX_SCATTER_POINTS = 2000
"""The predicted-versus-actual chart draws at most this many test rows (evenly spaced)."""


def _predictions_section(details: ReportDetails) -> str:
    heading, element_id = "Predicted versus actual", "section-predicted-actual"
    if details.task == "classification":
        why = "Not a regression task: the confusion matrix shows the predictions."
        return section(heading, note(why), element_id=element_id)
    pairs = [(float(a), float(p)) for a, p in details.predictions]
    if not pairs:
        why = "No test predictions were recorded."
        return section(heading, note(why), element_id=element_id)
    shown = pairs
    if len(pairs) > MAX_SCATTER_POINTS:
        shown = [pairs[i * len(pairs) // MAX_SCATTER_POINTS] for i in range(MAX_SCATTER_POINTS)]
    values = [v for pair in pairs for v in pair if math.isfinite(v)]
    diagonal = [(min(values), min(values)), (max(values), max(values))] if values else []
    what = (
        "Each dot is a test row: its true value across, the model's prediction up; on the "
        "y = x line a prediction is exact, above it too high, below it too low."
    )
    if len(shown) < len(pairs):
        what += f" {len(shown)} of the {len(pairs)} rows are drawn, evenly spaced."
    chart = svg_scatter_chart(
        {"test rows": shown},
        title="Predicted versus actual",
        x_label="actual",
        y_label="predicted",
        width=520,
        height=440,
        element_id="predicted-vs-actual",
        lines={"y = x": diagonal},
    )
    return section(heading, note(what), chart, element_id=element_id)


def _misclassified_section(details: ReportDetails) -> str:
    heading, element_id = "Misclassified samples", "section-misclassified"
    if details.task != "classification":
        return section(heading, note("Not a classification task."), element_id=element_id)
    if not details.image_shape:
        why = "Not image data (model.image_shape is not set): no image grid."
        return section(heading, note(why), element_id=element_id)
    if not details.misclassified:
        why = "No test sample was misclassified."
        return section(heading, note(why), element_id=element_id)
    grid = svg_image_grid(
        details.misclassified, details.image_shape, element_id="misclassified-grid"
    )
    what = note(f"The first {len(details.misclassified)} misclassified test rows.")
    return section(heading, what, grid, element_id=element_id)


def _latency_section(details: ReportDetails) -> str:
    chart = svg_histogram(
        details.latencies_ms,
        title="Single-sample latency",
        x_label="milliseconds",
        element_id="latency-histogram",
    )
    empty = "" if details.latencies_ms else note("No latency was measured.")
    return section("Latency", empty, chart, element_id="section-latency")


def _resource_series(
    resources: Sequence[Mapping[str, Any]], key: str, label: str, scale: float = 1.0
) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for sample in resources:
        value, seconds = sample.get(key), sample.get("seconds")
        if is_number(value) and is_number(seconds):
            name = f"{label} rank {sample.get('rank', 0)}"
            series.setdefault(name, []).append((float(seconds), float(value) * scale))
    return series


def _resources_section(details: ReportDetails) -> str:
    resources = details.resources
    cpu = _resource_series(resources, "cpu_percent", "cpu %")
    cpu |= _resource_series(resources, "gpu_utilization_percent", "gpu %")
    memory = _resource_series(resources, "rss_bytes", "rss MiB", 1 / 2**20)
    memory |= _resource_series(resources, "gpu_memory_used_bytes", "gpu MiB", 1 / 2**20)
    what = (
        note(f"{len(resources)} samples from the training job.")
        if resources
        else note("No resource samples were recorded for this run (metrics.json has no resources).")
    )
    cpu_chart = svg_line_chart(
        cpu, title="CPU and GPU utilization", x_label="seconds since start",
        y_label="percent", element_id="resource-cpu",
    )  # fmt: skip
    mem_chart = svg_line_chart(
        memory, title="Memory", x_label="seconds since start", y_label="MiB",
        element_id="resource-memory",
    )  # fmt: skip
    return section("Resource usage", what, cpu_chart, mem_chart, element_id="section-resources")


def _sanity_section(details: ReportDetails) -> str:
    parts = []
    baseline = details.baseline
    if baseline:
        holds, text = baseline_verdict(baseline)
        css = "pass" if holds else "fail"
        parts.append(
            f'<p id="baseline-verdict"><span class="verdict {css}">{text}</span> '
            f"{escape(str(baseline.get('message', '')))}</p>"
        )
    else:
        parts.append(note("No baseline comparison (training ran without sanity checks)."))
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
        rows = [
            (str(name), ", ".join(f"{k}={_show(v)}" for k, v in values.items() if _is_scalar(v)))
            for name, values in scores.items()
            if isinstance(values, Mapping)
        ]
        parts.append(
            table(
                rows,
                header=("baseline", "validation scores"),
                element_id="baseline-scores",
                row_header=True,
            )
        )
    return section("Sanity checks and baseline", *parts, element_id="section-sanity")


def _splits_section(details: ReportDetails) -> str:
    heading, element_id = "Data splits", "section-splits"
    splits = details.splits or {}
    parts_info = {k: v for k, v in splits.items() if isinstance(v, Mapping) and "rows" in v}
    if not parts_info:
        return section(heading, note("No split report was recorded."), element_id=element_id)
    classes: list[str] = []
    for info in parts_info.values():
        for name in info.get("class_balance") or {}:
            if str(name) not in classes:
                classes.append(str(name))
    rows = []
    for name, info in parts_info.items():
        balance = info.get("class_balance") or {}
        rows.append([str(name), _show(info["rows"]), *(_show(balance.get(c, 0)) for c in classes)])
    split_table = table(
        rows,
        header=("split", "rows", *classes),
        element_id="split-table",
        row_header=True,
        column_classes=("", "num", *("num" for _ in classes)),
    )
    notes = ""
    overlap = splits.get("overlap")
    if isinstance(overlap, Mapping) and overlap:
        items = "".join(
            f"<li>{escape(str(k))}: {escape(_show(v))} rows also in train</li>"
            for k, v in overlap.items()
        )
        notes = f'<ul id="split-overlap">{items}</ul>'
    warnings = splits.get("warnings") or []
    if warnings:
        notes += "<ul>" + "".join(f"<li>{escape(str(w))}</li>" for w in warnings) + "</ul>"
    return section(heading, split_table, notes, element_id=element_id)


def _details_sections(details: ReportDetails) -> list[str]:
    return [
        _curves_section(details),
        _predictions_section(details),
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
    trusted HTML (e.g. a chart from :mod:`trainpipe.reporting.charts`). ``details`` adds the
    sections of a full run report (see :class:`ReportDetails`); each of them is present even when
    it has no data, and then says why.
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
    sections.extend(section(heading, body, css_class="extra") for heading, body in extra_sections)
    return page(title, sections, css=_CSS, header=verdict)

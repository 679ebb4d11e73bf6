"""A standalone HTML report of a hyperparameter search, from the tuning fan-in's summary.

The page is built with the shared page shell and charts of :mod:`trainpipe.reporting`: one HTML5
document with inline CSS and inline SVG, and no scripts or external resources. Its sections
carry stable ids:

* ``overview``: trial counts and the objectives.
* ``optimization-history``: the first objective of every completed trial against its number,
  the best value so far, and the last value each pruned trial reported.
* ``param-importances``: a horizontal bar chart of the parameter importances.
* ``pareto-front``: with two or more objectives, the completed trials on the first two
  objectives with the Pareto-optimal ones highlighted; otherwise a one-line note.
* ``trials``: a table of every trial (number, state, values, parameters, epochs, error).
* ``best``: the best parameters.

Non-finite values are left out of the charts (the trial table shows them as they are) and every
text coming from the summary is HTML-escaped.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from trainpipe.reporting.charts import svg_bar_chart, svg_scatter_chart
from trainpipe.reporting.page import Html, note, page, section, table
from trainpipe.reporting.values import DASH, finite_float, format_value

__all__ = ["SECTION_IDS", "render_tuning_report"]

#: The ids of the report's sections, in page order.
SECTION_IDS = (
    "overview",
    "optimization-history",
    "param-importances",
    "pareto-front",
    "trials",
    "best",
)

# The report's own rules, on top of the shared page style.
_CSS = """
td.error { color: #9b1c1c; max-width: 28em; overflow-wrap: anywhere; }
ul.params { list-style: none; margin: 0; padding: 0; }
tr.state-pruned td { background: #fbf7ea; }
tr.state-fail td { background: #fdf1f1; }
tr.state-running td { background: #eef4fb; }
tr.pareto td.number { font-weight: 600; }
"""


def render_tuning_report(summary: Mapping[str, Any], *, title: str) -> str:
    """Render a complete, standalone HTML5 report of a tuning summary.

    ``summary`` is the fan-in's dictionary: ``objectives`` (``[{"metric", "goal"}]``),
    ``best_params``, ``best_value``/``best_values``, ``pareto_front`` (trial numbers), the
    ``n_complete``/``n_pruned``/``n_failed``/``total_epochs`` counts, ``importances``
    (``{param: float}``, may be empty) and ``trials`` (each with ``number``, ``state``,
    ``values``, ``params``, ``epochs``, ``error`` and ``intermediate`` = ``{step: value}``).
    Missing keys are treated as empty. The sections are listed in the module docstring.
    """
    objectives = _objectives(summary)
    trials = sorted(
        (t for t in _sequence(summary.get("trials")) if isinstance(t, Mapping)),
        key=lambda t: (_int(t.get("number")) is None, _int(t.get("number")) or 0),
    )
    sections = [
        _overview_section(summary, objectives, trials),
        _history_section(objectives, trials),
        _importances_section(summary.get("importances")),
        _pareto_section(summary, objectives, trials),
        _trials_section(summary, objectives, trials),
        _best_section(summary, objectives),
    ]
    return page(title, sections, css=_CSS)


# --- reading the summary ---------------------------------------------------------------------


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else ()


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _objectives(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for item in _sequence(summary.get("objectives")):
        if isinstance(item, Mapping):
            goal = "maximize" if item.get("goal") == "maximize" else "minimize"
            found.append((str(item.get("metric", "value")), goal))
    return found or [("value", "minimize")]


def _state(trial: Mapping[str, Any]) -> str:
    return str(trial.get("state", "")).upper()


def _values(trial: Mapping[str, Any]) -> list[Any]:
    """The trial's objective values (``values``, or a single ``value`` of older summaries)."""
    values = trial.get("values")
    if values is None and trial.get("value") is not None:
        return [trial["value"]]
    return list(_sequence(values))


def _last_intermediate(trial: Mapping[str, Any]) -> float | None:
    """The value the trial reported at its last step, when finite."""
    intermediate = trial.get("intermediate")
    if not isinstance(intermediate, Mapping):
        return None
    steps = [
        (step, value) for key, value in intermediate.items() if (step := _int(key)) is not None
    ]
    if not steps:
        return None
    return finite_float(max(steps, key=lambda item: item[0])[1])


def _completed(trials: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [t for t in trials if _state(t) == "COMPLETE" and _int(t.get("number")) is not None]


# --- formatting ------------------------------------------------------------------------------


def _css_token(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "unknown"


# --- sections --------------------------------------------------------------------------------


def _overview_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    rows = [
        ("objectives", ", ".join(f"{metric} ({goal})" for metric, goal in objectives)),
        ("trials", str(len(trials))),
        ("completed", format_value(summary.get("n_complete", 0))),
        ("pruned", format_value(summary.get("n_pruned", 0))),
        ("failed", format_value(summary.get("n_failed", 0))),
        ("retried (worker died or stopped)", format_value(summary.get("n_retried", 0))),
        ("epochs trained", format_value(summary.get("total_epochs", 0))),
    ]
    overview = table(rows, css_class="overview", row_header=True)
    return section("Overview", overview, element_id="overview")


def _history_section(objectives: list[tuple[str, str]], trials: Sequence[Mapping[str, Any]]) -> str:
    metric, goal = objectives[0]
    sign = 1.0 if goal == "minimize" else -1.0
    completed: list[tuple[float, float]] = []
    best: list[tuple[float, float]] = []
    pruned: list[tuple[float, float]] = []
    for trial in trials:
        number = _int(trial.get("number"))
        if number is None:
            continue
        if _state(trial) == "COMPLETE":
            values = _values(trial)
            value = finite_float(values[0]) if values else None
            if value is None:
                continue
            completed.append((number, value))
            if not best or sign * value < sign * best[-1][1]:
                best.append((number, value))
            else:
                best.append((number, best[-1][1]))
        elif _state(trial) == "PRUNED":
            last = _last_intermediate(trial)
            if last is not None:
                pruned.append((number, last))
    series: dict[str, list[tuple[float, float]]] = {"completed": completed}
    if pruned:
        series["pruned (last reported)"] = pruned
    chart = svg_scatter_chart(
        series,
        lines={"best so far": best},
        title=f"Optimization history: {metric} ({goal})",
        x_label="trial",
        y_label=metric,
        width=760,
        height=340,
        element_id="optimization-history-chart",
    )
    notes = "" if completed else note("No trial completed with a finite objective value.")
    if len(objectives) > 1:
        notes += note(f"Shows the first of {len(objectives)} objectives.")
    return section("Optimization history", notes, chart, element_id="optimization-history")


def _importances_section(importances: Any) -> str:
    bars: list[tuple[str, float]] = []
    if isinstance(importances, Mapping):
        for name, value in importances.items():
            number = finite_float(value)
            if number is not None:
                bars.append((str(name), number))
    bars.sort(key=lambda bar: (-bar[1], bar[0]))
    if bars:
        body = svg_bar_chart(
            bars,
            title="Parameter importances",
            element_id="param-importances-chart",
            width=760,
            x_label="importance",
        )
    else:
        body = note("Not enough completed trials to estimate parameter importances.")
    return section("Parameter importances", body, element_id="param-importances")


def _pareto_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    heading, element_id = "Pareto front", "pareto-front"
    if len(objectives) < 2:
        why = note("Single objective: there is no Pareto front.")
        return section(heading, why, element_id=element_id)
    front_numbers = {n for n in map(_int, _sequence(summary.get("pareto_front"))) if n is not None}
    front: list[tuple[float, float]] = []
    dominated: list[tuple[float, float]] = []
    for trial in _completed(trials):
        values = _values(trial)
        first = finite_float(values[0]) if len(values) > 0 else None
        second = finite_float(values[1]) if len(values) > 1 else None
        if first is None or second is None:
            continue
        target = front if _int(trial.get("number")) in front_numbers else dominated
        target.append((first, second))
    (x_metric, x_goal), (y_metric, y_goal) = objectives[0], objectives[1]
    chart = svg_scatter_chart(
        {"Pareto front": front, "dominated": dominated},
        title=f"{x_metric} vs {y_metric}",
        x_label=f"{x_metric} ({x_goal})",
        y_label=f"{y_metric} ({y_goal})",
        width=760,
        height=340,
        element_id="pareto-front-chart",
    )
    shown = (
        note(f"Shows the first two of {len(objectives)} objectives.") if len(objectives) > 2 else ""
    )
    return section(heading, shown, chart, element_id=element_id)


def _params_list(params: Any) -> str:
    """A trial's parameters as a list of ``name = value`` items, or a dash when it has none."""
    if not (isinstance(params, Mapping) and params):
        return DASH
    items = "".join(
        f"<li><code>{escape(str(key))}</code> = {escape(format_value(value))}</li>"
        for key, value in params.items()
    )
    return Html(f'<ul class="params">{items}</ul>')


def _trials_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    front = {n for n in map(_int, _sequence(summary.get("pareto_front"))) if n is not None}
    rows, row_classes = [], []
    for trial in trials:
        number = _int(trial.get("number"))
        state = _state(trial) or "UNKNOWN"
        values = _values(trial)
        rows.append(
            [
                format_value(number if number is not None else trial.get("number")),
                state,
                *(format_value(values[i]) if i < len(values) else DASH
                  for i in range(len(objectives))),
                _params_list(trial.get("params")),
                format_value(trial.get("epochs")),
                str(trial.get("error") or ""),
            ]
        )  # fmt: skip
        row_classes.append(f"state-{_css_token(state)}" + (" pareto" if number in front else ""))
    trials_table = table(
        rows,
        header=("trial", "state", *(metric for metric, _ in objectives), "parameters", "epochs",
                "error"),
        css_class="trials",
        column_classes=("num number", "state", *("num value" for _ in objectives), "params",
                        "num epochs", "error"),
        row_classes=row_classes,
    )  # fmt: skip
    empty = "" if rows else note("The study has no trials.")
    return section("Trials", empty, trials_table, element_id="trials")


def _best_section(summary: Mapping[str, Any], objectives: list[tuple[str, str]]) -> str:
    parts = []
    best_values = _sequence(summary.get("best_values"))
    if not best_values and summary.get("best_value") is not None:
        best_values = [summary["best_value"]]
    if best_values:
        shown = ", ".join(
            f"{metric} = {format_value(value)}"
            for (metric, _), value in zip(objectives, best_values, strict=False)
        )
        parts.append(f'<p class="best-value">{escape(shown)}</p>')
    params = summary.get("best_params")
    if isinstance(params, Mapping) and params:
        rows = [
            (Html(f"<code>{escape(str(key))}</code>"), format_value(value))
            for key, value in params.items()
        ]
        parts.append(
            table(rows, header=("parameter", "value"), css_class="best-params", row_header=True)
        )
    else:
        parts.append(note("No completed trial: there are no best parameters."))
    return section("Best parameters", *parts, element_id="best")

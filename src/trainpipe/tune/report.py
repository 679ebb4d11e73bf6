"""A standalone HTML report of a hyperparameter search, from the tuning fan-in's summary.

Like the evaluation report, the page is one HTML5 document with inline CSS and inline SVG, and
no scripts or external resources. Its sections carry stable ids:

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

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from trainpipe.evaluate.report import svg_bar_chart, svg_scatter_chart

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

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  margin: 0 auto; max-width: 1100px; padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d5d5d5; padding: 4px 10px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; font-weight: 600; }
td.num { text-align: right; }
td.error { color: #9b1c1c; max-width: 28em; overflow-wrap: anywhere; }
code { font-size: 0.9em; }
ul.params { list-style: none; margin: 0; padding: 0; }
tr.state-pruned td { background: #fbf7ea; }
tr.state-fail td { background: #fdf1f1; }
tr.state-running td { background: #eef4fb; }
tr.pareto td.number { font-weight: 600; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
.muted { color: #777; }
"""
_DASH = "\u2014"


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
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1></header>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


# --- reading the summary ---------------------------------------------------------------------


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else ()


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (for None, bools, text, NaN and infinities)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


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
    return _finite(max(steps, key=lambda item: item[0])[1])


def _completed(trials: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [t for t in trials if _state(t) == "COMPLETE" and _int(t.get("number")) is not None]


# --- formatting ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A summary value as display text (not yet escaped)."""
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(number) if not math.isfinite(number) else f"{number:.6g}"
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _css_token(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "unknown"


def _note(text: str) -> str:
    return f'<p class="muted">{escape(text)}</p>'


# --- sections --------------------------------------------------------------------------------


def _overview_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    rows = [
        ("objectives", ", ".join(f"{metric} ({goal})" for metric, goal in objectives)),
        ("trials", str(len(trials))),
        ("completed", _text(summary.get("n_complete", 0))),
        ("pruned", _text(summary.get("n_pruned", 0))),
        ("failed", _text(summary.get("n_failed", 0))),
        ("epochs trained", _text(summary.get("total_epochs", 0))),
    ]
    body = "".join(
        f'<tr><th scope="row">{escape(key)}</th><td>{escape(value)}</td></tr>'
        for key, value in rows
    )
    return (
        '<section id="overview"><h2>Overview</h2>'
        f'<table class="overview"><tbody>{body}</tbody></table></section>'
    )


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
            value = _finite(values[0]) if values else None
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
    note = "" if completed else _note("No trial completed with a finite objective value.")
    if len(objectives) > 1:
        note += _note(f"Shows the first of {len(objectives)} objectives.")
    return (
        '<section id="optimization-history"><h2>Optimization history</h2>'
        f"{note}\n{chart}\n</section>"
    )


def _importances_section(importances: Any) -> str:
    bars: list[tuple[str, float]] = []
    if isinstance(importances, Mapping):
        for name, value in importances.items():
            number = _finite(value)
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
        body = _note("Not enough completed trials to estimate parameter importances.")
    return f'<section id="param-importances"><h2>Parameter importances</h2>\n{body}\n</section>'


def _pareto_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    heading = '<section id="pareto-front"><h2>Pareto front</h2>'
    if len(objectives) < 2:
        return heading + _note("Single objective: there is no Pareto front.") + "</section>"
    front_numbers = {n for n in map(_int, _sequence(summary.get("pareto_front"))) if n is not None}
    front: list[tuple[float, float]] = []
    dominated: list[tuple[float, float]] = []
    for trial in _completed(trials):
        values = _values(trial)
        first = _finite(values[0]) if len(values) > 0 else None
        second = _finite(values[1]) if len(values) > 1 else None
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
    note = (
        _note(f"Shows the first two of {len(objectives)} objectives.")
        if len(objectives) > 2
        else ""
    )
    return f"{heading}{note}\n{chart}\n</section>"


def _trials_section(
    summary: Mapping[str, Any],
    objectives: list[tuple[str, str]],
    trials: Sequence[Mapping[str, Any]],
) -> str:
    front = {n for n in map(_int, _sequence(summary.get("pareto_front"))) if n is not None}
    value_heads = "".join(f'<th scope="col">{escape(metric)}</th>' for metric, _ in objectives)
    rows = []
    for trial in trials:
        number = _int(trial.get("number"))
        state = _state(trial) or "UNKNOWN"
        values = _values(trial)
        cells = "".join(
            f'<td class="num value">{escape(_text(values[i]) if i < len(values) else _DASH)}</td>'
            for i in range(len(objectives))
        )
        params = trial.get("params")
        if isinstance(params, Mapping) and params:
            items = "".join(
                f"<li><code>{escape(str(key))}</code> = {escape(_text(value))}</li>"
                for key, value in params.items()
            )
            params_cell = f'<ul class="params">{items}</ul>'
        else:
            params_cell = _DASH
        classes = f"state-{_css_token(state)}" + (" pareto" if number in front else "")
        rows.append(
            f'<tr class="{classes}"><td class="num number">'
            f"{escape(_text(number if number is not None else trial.get('number')))}</td>"
            f'<td class="state">{escape(state)}</td>{cells}<td class="params">{params_cell}</td>'
            f'<td class="num epochs">{escape(_text(trial.get("epochs")))}</td>'
            f'<td class="error">{escape(str(trial.get("error") or ""))}</td></tr>'
        )
    body = "\n".join(rows) if rows else ""
    note = "" if rows else _note("The study has no trials.")
    return (
        '<section id="trials"><h2>Trials</h2>'
        f'{note}<table class="trials"><thead><tr><th scope="col">trial</th>'
        f'<th scope="col">state</th>{value_heads}<th scope="col">parameters</th>'
        '<th scope="col">epochs</th><th scope="col">error</th></tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></section>"
    )


def _best_section(summary: Mapping[str, Any], objectives: list[tuple[str, str]]) -> str:
    parts = ['<section id="best"><h2>Best parameters</h2>']
    best_values = _sequence(summary.get("best_values"))
    if not best_values and summary.get("best_value") is not None:
        best_values = [summary["best_value"]]
    if best_values:
        shown = ", ".join(
            f"{metric} = {_text(value)}"
            for (metric, _), value in zip(objectives, best_values, strict=False)
        )
        parts.append(f'<p class="best-value">{escape(shown)}</p>')
    params = summary.get("best_params")
    if isinstance(params, Mapping) and params:
        rows = "".join(
            f'<tr><th scope="row"><code>{escape(str(key))}</code></th>'
            f"<td>{escape(_text(value))}</td></tr>"
            for key, value in params.items()
        )
        parts.append(
            '<table class="best-params"><thead><tr><th scope="col">parameter</th>'
            f'<th scope="col">value</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    else:
        parts.append(_note("No completed trial: there are no best parameters."))
    parts.append("</section>")
    return "".join(parts)

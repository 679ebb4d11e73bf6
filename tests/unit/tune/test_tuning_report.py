"""The HTML tuning report (trainpipe.tune.report): every section holds what the summary says."""

from __future__ import annotations

from typing import Any

import pytest

from html_tree import Node, parse_html
from trainpipe.tune.report import SECTION_IDS, render_tuning_report

pytestmark = pytest.mark.unit

NAN, INF = float("nan"), float("inf")
parse = parse_html


def section(doc: Node, element_id: str) -> Node:
    node = doc.by_id(element_id)
    assert node is not None, f"no element with id {element_id!r}"
    assert node.tag == "section"
    return node


def points(node: Node, series: str) -> list[Node]:
    groups = node.find_all("g", class_="series", **{"data-series": series})
    assert len(groups) <= 1
    return groups[0].find_all("circle", class_="point") if groups else []


# --- summaries -------------------------------------------------------------------------------


def trial(number: int, state: str, values: list[float] | None = None, **extra: Any) -> dict:
    return {
        "number": number,
        "state": state,
        "values": values,
        "params": extra.pop("params", {"train.learning_rate": 0.001 * (number + 1)}),
        "epochs": extra.pop("epochs", 4),
        "error": extra.pop("error", ""),
        "intermediate": extra.pop("intermediate", {}),
    }


def single_objective_summary() -> dict[str, Any]:
    trials = [
        trial(0, "COMPLETE", [0.50], intermediate={"0": 0.9, "1": 0.5}),
        trial(1, "COMPLETE", [0.40]),
        trial(2, "PRUNED", None, intermediate={"0": 0.95, "1": 0.8}, epochs=2),
        trial(3, "COMPLETE", [0.45]),
        trial(4, "FAIL", None, error="loss is nan: the trial diverged", epochs=1),
        trial(5, "COMPLETE", [NAN]),  # a non-finite value is not plotted
        trial(6, "PRUNED", None, intermediate={"0": 0.7, "2": INF, "1": 0.6}),  # last is inf
        trial(7, "COMPLETE", [0.30]),
        trial(8, "RUNNING", None, epochs=0),
    ]
    return {
        "objectives": [{"metric": "val_loss", "goal": "minimize"}],
        "best_params": {"train.learning_rate": 0.008, "model.dropout": 0.1},
        "best_value": 0.30,
        "best_values": None,
        "pareto_front": [],
        "n_complete": 5,
        "n_pruned": 2,
        "n_failed": 1,
        "total_epochs": 27,
        "importances": {"train.learning_rate": 0.7, "model.dropout": 0.2, "train.bogus": NAN},
        "trials": trials,
    }


def two_objective_summary() -> dict[str, Any]:
    trials = [
        trial(0, "COMPLETE", [0.30, 0.84]),  # dominated by trial 1
        trial(1, "COMPLETE", [0.20, 0.85]),
        trial(2, "COMPLETE", [0.40, 0.95]),
        trial(3, "COMPLETE", [0.35, 0.80]),  # dominated by trials 1 and 2
        trial(4, "COMPLETE", [0.25, INF]),
        trial(5, "FAIL", None, error="CUDA out of memory"),
    ]
    return {
        "objectives": [
            {"metric": "val_loss", "goal": "minimize"},
            {"metric": "val_accuracy", "goal": "maximize"},
        ],
        "best_params": {"train.learning_rate": 0.002},
        "best_value": None,
        "best_values": [0.20, 0.85],
        "pareto_front": [1, 2, 4],
        "n_complete": 5,
        "n_pruned": 0,
        "n_failed": 1,
        "total_epochs": 24,
        "importances": {},
        "trials": trials,
    }


# --- the report ------------------------------------------------------------------------------


def test_report_is_standalone_html_with_every_section() -> None:
    html = render_tuning_report(single_objective_summary(), title="digits tuning")
    assert html.startswith("<!DOCTYPE html>")
    doc = parse(html)
    for element_id in SECTION_IDS:
        section(doc, element_id)
    assert not doc.find_all("script")
    assert not doc.find_all("link")
    assert not doc.find_all("img")
    for node in doc.iter():
        for key in ("src", "href"):
            assert key not in node.attrs, f"<{node.tag}> loads {node.attrs[key]}"
    assert doc.find_all("title")[0].text == "digits tuning"


def test_optimization_history_points_match_the_summary() -> None:
    doc = parse(render_tuning_report(single_objective_summary(), title="t"))
    history = section(doc, "optimization-history")
    (svg,) = history.find_all("svg")
    assert svg.attrs["id"] == "optimization-history-chart"
    # Trials 0, 1, 3 and 7 completed with a finite value; trial 5's NaN is skipped.
    completed = points(history, "completed")
    assert len(completed) == 4
    assert [c.text for c in completed] == [
        "completed: 0, 0.5",
        "completed: 1, 0.4",
        "completed: 3, 0.45",
        "completed: 7, 0.3",
    ]
    # Pruned trial 2 last reported 0.8; trial 6's last step (2) reported inf: skipped.
    pruned = points(history, "pruned (last reported)")
    assert [p.text for p in pruned] == ["pruned (last reported): 2, 0.8"]
    (line,) = history.find_all("polyline", class_="line")
    assert line.attrs["data-series"] == "best so far"
    coords = [tuple(map(float, pair.split(","))) for pair in line.attrs["points"].split()]
    assert len(coords) == 4
    ys = [y for _, y in coords]
    # Best so far of 0.5, 0.4, 0.45, 0.3 is 0.5, 0.4, 0.4, 0.3: svg y grows downwards.
    assert ys[0] < ys[1] == ys[2] < ys[3]
    assert sum(len(g.find_all("circle", class_="point")) for g in history.find_all("g")) == 5


def test_history_best_so_far_follows_a_maximize_goal() -> None:
    summary = single_objective_summary()
    summary["objectives"] = [{"metric": "val_accuracy", "goal": "maximize"}]
    doc = parse(render_tuning_report(summary, title="t"))
    (line,) = section(doc, "optimization-history").find_all("polyline", class_="line")
    ys = [float(pair.split(",")[1]) for pair in line.attrs["points"].split()]
    assert ys[0] == ys[1] == ys[2] == ys[3]  # 0.5 stays the best of 0.5, 0.4, 0.45, 0.3


def test_importance_bars_match_the_summary() -> None:
    doc = parse(render_tuning_report(single_objective_summary(), title="t"))
    importances = section(doc, "param-importances")
    bars = importances.find_all("rect", class_="bar")
    # The NaN importance is skipped; bars are sorted from the most important.
    assert [b.attrs["data-label"] for b in bars] == ["train.learning_rate", "model.dropout"]
    assert [float(b.attrs["data-value"]) for b in bars] == [0.7, 0.2]
    assert float(bars[0].attrs["width"]) > float(bars[1].attrs["width"]) > 0


def test_empty_importances_say_so() -> None:
    doc = parse(render_tuning_report(two_objective_summary(), title="t"))
    importances = section(doc, "param-importances")
    assert not importances.find_all("svg")
    assert "not enough completed trials" in importances.text.lower()


def test_pareto_chart_only_with_two_objectives() -> None:
    single = section(
        parse(render_tuning_report(single_objective_summary(), title="t")), "pareto-front"
    )
    assert not single.find_all("svg")
    assert not single.find_all("circle")
    assert "no Pareto front" in single.text

    doc = parse(render_tuning_report(two_objective_summary(), title="t"))
    pareto = section(doc, "pareto-front")
    (svg,) = pareto.find_all("svg")
    assert svg.attrs["id"] == "pareto-front-chart"
    # Trials 1 and 2 are on the front; trial 4 too, but its second value is inf: skipped.
    assert [p.text for p in points(pareto, "Pareto front")] == [
        "Pareto front: 0.2, 0.85",
        "Pareto front: 0.4, 0.95",
    ]
    assert len(points(pareto, "dominated")) == 2
    front_color = pareto.find_all("g", class_="series", **{"data-series": "Pareto front"})
    dominated_color = pareto.find_all("g", class_="series", **{"data-series": "dominated"})
    assert front_color[0].attrs["fill"] != dominated_color[0].attrs["fill"]


def test_trials_table_has_a_row_per_trial() -> None:
    summary = single_objective_summary()
    doc = parse(render_tuning_report(summary, title="t"))
    table = section(doc, "trials")
    (tbody,) = table.find_all("tbody")
    rows = tbody.find_all("tr")
    assert len(rows) == len(summary["trials"])
    heads = [th.text for th in table.find_all("th")]
    assert heads == ["trial", "state", "val_loss", "parameters", "epochs", "error"]
    first = [td.text for td in rows[0].find_all("td")]
    assert first == ["0", "COMPLETE", "0.5", "train.learning_rate = 0.001", "4", ""]
    failed = rows[4]
    assert "state-fail" in failed.attrs["class"].split()
    assert failed.find_all("td", class_="error")[0].text == "loss is nan: the trial diverged"
    assert rows[5].find_all("td", class_="value")[0].text == "nan"
    assert rows[8].find_all("td", class_="value")[0].text == "\u2014"


def test_two_objective_trials_table_marks_the_front() -> None:
    summary = two_objective_summary()
    table = section(parse(render_tuning_report(summary, title="t")), "trials")
    rows = table.find_all("tbody")[0].find_all("tr")
    assert len(rows) == 6
    assert [td.text for td in rows[1].find_all("td", class_="value")] == ["0.2", "0.85"]
    marked = [
        r.find_all("td", class_="number")[0].text for r in rows if "pareto" in r.attrs["class"]
    ]
    assert marked == ["1", "2", "4"]


def test_best_section_lists_the_best_parameters() -> None:
    summary = single_objective_summary()
    best = section(parse(render_tuning_report(summary, title="t")), "best")
    rows = best.find_all("tbody")[0].find_all("tr")
    assert len(rows) == len(summary["best_params"])
    assert [(r.find_all("th")[0].text, r.find_all("td")[0].text) for r in rows] == [
        ("train.learning_rate", "0.008"),
        ("model.dropout", "0.1"),
    ]
    assert "val_loss = 0.3" in best.text

    multi = section(parse(render_tuning_report(two_objective_summary(), title="t")), "best")
    assert "val_loss = 0.2, val_accuracy = 0.85" in multi.text


def test_everything_is_escaped() -> None:
    evil = "<script>alert('x')</script> & \"q\""
    summary = single_objective_summary()
    summary["objectives"] = [{"metric": "<b>loss</b>", "goal": "minimize"}]
    summary["best_params"] = {evil: evil}
    summary["importances"] = {evil: 0.5}
    summary["trials"][0]["params"] = {evil: evil}
    summary["trials"][4]["error"] = evil
    summary["trials"][8]["state"] = "<i>RUNNING</i>"
    html = render_tuning_report(summary, title=f"report {evil}")
    assert "<script>" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    doc = parse(html)
    assert not doc.find_all("script")
    assert not doc.find_all("b")
    assert doc.find_all("title")[0].text == f"report {evil}"
    assert doc.find_all("h1")[0].text == f"report {evil}"
    rows = section(doc, "trials").find_all("tbody")[0].find_all("tr")
    assert rows[4].find_all("td", class_="error")[0].text == evil
    assert rows[0].find_all("code")[0].text == evil
    (bar,) = section(doc, "param-importances").find_all("rect", class_="bar")
    assert bar.attrs["data-label"] == evil


def test_empty_summary_still_renders() -> None:
    doc = parse(render_tuning_report({}, title="empty"))
    for element_id in SECTION_IDS:
        section(doc, element_id)
    assert not section(doc, "trials").find_all("tbody")[0].find_all("tr")
    assert not section(doc, "optimization-history").find_all("circle", class_="point")
    assert "no best parameters" in section(doc, "best").text.lower()


def test_older_summaries_with_a_single_value() -> None:
    summary = {
        "best_params": {"train.learning_rate": 0.01},
        "best_value": 0.2,
        "trials": [
            {"number": 0, "state": "COMPLETE", "value": 0.3, "params": {}},
            {"number": 1, "state": "COMPLETE", "value": 0.2, "params": {}},
        ],
    }
    doc = parse(render_tuning_report(summary, title="t"))
    assert len(points(section(doc, "optimization-history"), "completed")) == 2

"""The shared page shell and HTML parts (trainpipe.reporting.page), and the reports built on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from html_tree import Node, parse_html
from trainpipe.data.report import statistics_html
from trainpipe.evaluate.report import render_report
from trainpipe.reporting.page import BASE_CSS, Cell, Html, note, page, section, table
from trainpipe.tune.report import render_tuning_report

pytestmark = pytest.mark.unit

EVIL = "<script>alert('x')</script> & \"q\""


def only(root: Node, tag: str) -> Node:
    (found,) = root.iter(tag)
    return found


def test_page_is_a_standalone_html5_document() -> None:
    html = page(
        f"report {EVIL}",
        ['<section id="a">one</section>', '<section id="b">two</section>'],
        css="td.x { color: red; }",
        header='<p class="verdict">trusted</p>',
    )
    assert html.startswith("<!DOCTYPE html>\n")
    root = parse_html(html)
    assert only(root, "html").attrs["lang"] == "en"
    assert only(root, "title").text == f"report {EVIL}"
    assert only(root, "h1").text == f"report {EVIL}"
    assert not root.iter("script") and not root.iter("link")
    assert not [n for n in root.iter() if "src" in n.attrs or "href" in n.attrs]
    style = only(root, "style").text
    assert style.startswith(BASE_CSS) and style.endswith("td.x { color: red; }")
    header = only(root, "header")
    assert [p.text for p in header.iter("p")] == ["trusted"]
    body = only(root, "body")
    assert [n.attrs.get("id") for n in body.children] == [None, "a", "b"]  # header, then sections


def test_section_and_note() -> None:
    html = section(
        "Heads <up>", note("why <not>"), "", "<svg></svg>", element_id="s-1", css_class="extra"
    )
    root = parse_html(html)
    part = only(root, "section")
    assert (part.attrs["id"], part.attrs["class"]) == ("s-1", "extra")
    assert [n.tag for n in part.children] == ["h2", "p", "svg"]  # the empty part is left out
    assert part.children[0].text == "Heads <up>"
    assert part.children[1].attrs["class"] == "muted" and part.children[1].text == "why <not>"
    assert section("x") == "<section><h2>x</h2></section>"


def test_table_escapes_cells_unless_marked_trusted() -> None:
    html = table(
        [[EVIL, Html("<code>k</code>"), Cell("-", "num muted")], ["b", "2", "3"]],
        header=("name <n>", "key", "value"),
        element_id="t",
        css_class="scores",
        column_classes=("", "", "num"),
        row_classes=("fail",),
    )
    root = parse_html(html)
    assert not root.iter("script")
    grid = only(root, "table")
    assert (grid.attrs["id"], grid.attrs["class"]) == ("t", "scores")
    heads = only(grid, "thead").iter("th")
    assert [h.text for h in heads] == ["name <n>", "key", "value"]
    assert {h.attrs["scope"] for h in heads} == {"col"}
    rows = only(grid, "tbody").iter("tr")
    assert [r.attrs.get("class") for r in rows] == ["fail", None]
    assert [td.text for td in rows[0].iter("td")] == [EVIL, "k", "-"]
    assert rows[0].iter("code")[0].text == "k"
    assert [td.attrs.get("class") for td in rows[0].iter("td")] == [None, None, "num muted"]
    assert [td.attrs.get("class") for td in rows[1].iter("td")] == [None, None, "num"]


def test_table_row_headers_no_header_and_empty_tables() -> None:
    root = parse_html(table([("a", "1"), ("b", "2")], row_header=True))
    assert not root.iter("thead")
    rows = root.iter("tr")
    assert [(r.iter("th")[0].text, r.iter("th")[0].attrs["scope"]) for r in rows] == [
        ("a", "row"),
        ("b", "row"),
    ]
    assert [[td.text for td in r.iter("td")] for r in rows] == [["1"], ["2"]]

    empty = parse_html(table([], header=("metric", "value"), empty="no <scalar> metrics"))
    (row,) = only(empty, "tbody").iter("tr")
    (cell,) = row.iter("td")
    assert (cell.attrs["colspan"], cell.attrs["class"], cell.text) == (
        "2",
        "muted",
        "no <scalar> metrics",
    )
    assert only(parse_html(table([], header=("a",))), "tbody").children == []


def _evaluation() -> str:
    return render_report(title=EVIL, metrics={}, history=[], confusion=None, labels=None, gate=None)


def _tuning() -> str:
    return render_tuning_report({}, title=EVIL)


def _statistics() -> str:
    stats = {
        "rows_in": 3, "rows": 3, "columns": 2, "duplicates_dropped": 0,
        "missing_rows_dropped": 0, "label_missing_dropped": 0,
        "features": {"x": {"mean": 1.0, "std": 0.5, "min": 0.0, "max": 2.0}},
    }  # fmt: skip
    return statistics_html(stats, title=EVIL)


@pytest.mark.parametrize("render", [_evaluation, _tuning, _statistics])
def test_every_report_is_built_on_the_shared_page(render: Callable[[], str]) -> None:
    html = render()
    root = parse_html(html)
    assert only(only(root, "header"), "h1").text == EVIL
    assert only(root, "style").text.startswith(BASE_CSS)
    assert not root.iter("script")
    body = only(root, "body")
    assert body.children[0].tag == "header"
    assert {n.tag for n in body.children[1:]} == {"section"}

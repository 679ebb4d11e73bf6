"""The page shell the HTML reports share, and the HTML parts that go on it.

A report is one HTML5 document with inline CSS and inline SVG and no scripts or external
resources, so it can be stored as a pipeline artifact and opened anywhere. :func:`page` builds
that document around a report's sections; :func:`section`, :func:`note` and :func:`table` build
the parts. Text is always escaped; only values marked :class:`Html` (and the section bodies a
report builds from these parts) go into the page as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import NamedTuple

__all__ = ["BASE_CSS", "Cell", "Html", "note", "page", "section", "table"]

#: The style every report starts from; a report appends its own rules with ``page(css=...)``.
BASE_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  margin: 0 auto; max-width: 1100px; padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d5d5d5; padding: 4px 10px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; font-weight: 600; }
td.num { text-align: right; }
code { font-size: 0.9em; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
.muted { color: #777; }
"""


class Html(str):
    """Trusted markup: a table cell or header holding it is inserted as it is, not escaped."""

    __slots__ = ()


class Cell(NamedTuple):
    """A table cell with its own CSS classes, replacing its column's (``Cell("-", "muted")``)."""

    content: str
    css_class: str = ""


def _content(value: str) -> str:
    return value if isinstance(value, Html) else escape(value)


def _class_attr(css_class: str) -> str:
    return f' class="{escape(css_class)}"' if css_class else ""


def page(title: str, sections: Iterable[str], *, css: str = "", header: str = "") -> str:
    """A complete, standalone HTML5 document titled ``title`` (escaped) holding ``sections``.

    ``css`` is appended to :data:`BASE_CSS`; ``header`` is trusted HTML placed under the
    ``<h1>`` (a verdict, for instance). The sections are trusted HTML, one after the other.
    """
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1>{header}</header>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def section(
    heading: str, *body: str, element_id: str | None = None, css_class: str | None = None
) -> str:
    """A ``<section>`` with an ``<h2>`` ``heading`` (escaped) and the trusted HTML ``body`` parts.

    Empty parts are left out, so a section can pass ``""`` for a note it does not need.
    """
    id_attr = f' id="{escape(element_id)}"' if element_id else ""
    return (
        f"<section{id_attr}{_class_attr(css_class or '')}><h2>{escape(heading)}</h2>"
        + "\n".join(part for part in body if part)
        + "</section>"
    )


def note(text: str) -> str:
    """A muted paragraph of ``text`` (escaped): why a section is empty, what a chart shows."""
    return f'<p class="muted">{escape(text)}</p>'


def table(
    rows: Iterable[Sequence[str | Cell]],
    *,
    header: Sequence[str] | None = None,
    element_id: str | None = None,
    css_class: str = "",
    row_header: bool = False,
    column_classes: Sequence[str] = (),
    row_classes: Sequence[str] = (),
    empty: str | None = None,
) -> str:
    """An HTML table of text cells; every cell and header is escaped unless it is :class:`Html`.

    Args:
        rows: The body rows; a cell is text, :class:`Html` or a :class:`Cell` with its classes.
        header: The column headings (``<thead>``); None for a table without a header row.
        element_id: The table's id; css_class: its classes.
        row_header: The first cell of each row is its ``<th scope="row">`` heading.
        column_classes: The classes of each column's ``<td>`` cells, by position (``"num"``
            right-aligns numbers); columns past the end get none.
        row_classes: The classes of each body row's ``<tr>``, by position.
        empty: With no rows, one row spanning every column says this (muted) instead.
    """
    id_attr = f' id="{escape(element_id)}"' if element_id else ""
    head = ""
    if header is not None:
        heads = "".join(f'<th scope="col">{_content(h)}</th>' for h in header)
        head = f"<thead><tr>{heads}</tr></thead>"
    lines = []
    for index, row in enumerate(rows):
        cells = []
        for column, value in enumerate(row):
            css = column_classes[column] if column < len(column_classes) else ""
            if isinstance(value, Cell):
                text, css = value.content, value.css_class
            else:
                text = value
            if row_header and column == 0:
                cells.append(f'<th scope="row">{_content(text)}</th>')
            else:
                cells.append(f"<td{_class_attr(css)}>{_content(text)}</td>")
        row_css = row_classes[index] if index < len(row_classes) else ""
        lines.append(f"<tr{_class_attr(row_css)}>{''.join(cells)}</tr>")
    if not lines and empty is not None:
        span = max(len(header or ()), 1)
        lines.append(f'<tr><td colspan="{span}" class="muted">{escape(empty)}</td></tr>')
    body = "\n".join(lines)
    return f"<table{id_attr}{_class_attr(css_class)}>{head}<tbody>{body}</tbody></table>"

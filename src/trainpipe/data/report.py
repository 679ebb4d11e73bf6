"""Human-readable renderings of ingest statistics: Markdown for the KFP dashboard and an HTML page.

The HTML page is built with the shared page shell and charts of :mod:`trainpipe.reporting`. Its
elements carry stable ids: ``summary``, ``rows-removed`` (each cleaning rule's count),
``column-roles`` (every column's role, who decided it and why), ``anomalies``, ``class-balance``
(a bar chart), ``columns`` (numeric and categorical features), ``histogram-N`` (one bar chart per
numeric feature, in column order), with text columns ``text-columns``, and for a dataset read
from files ``files`` (counts, skipped files, sizes or durations; its thousands of decoded value
columns are then not listed one by one).
"""

from __future__ import annotations

from typing import Any

from trainpipe.reporting.charts import svg_bar_chart
from trainpipe.reporting.page import page, section, table
from trainpipe.reporting.values import format_count, format_number, format_value

__all__ = ["statistics_html", "statistics_markdown"]

# The page's own rule, on top of the shared page style: histograms sit side by side.
_CSS = ".charts svg { margin: 4px; }\n"


def _summary_number(value: Any) -> str:
    """A column summary number (mean, std, min, max) with four significant digits."""
    return format_value(value, significant=4)


def statistics_markdown(stats: dict[str, Any]) -> str:
    """A Markdown report: row counts, cleaning, class balance and per-column summaries."""
    lines = [
        f"# Data statistics: {stats.get('source', '')}",
        "",
        f"- rows read: {stats['rows_in']}, rows kept: {stats['rows']}, columns: {stats['columns']}",
        f"- duplicates dropped: {stats['duplicates_dropped']}, rows dropped for missing values: "
        f"{stats['missing_rows_dropped']}, rows without a label: {stats['label_missing_dropped']}",
        f"- content hash: `{stats.get('data_hash', '')}`",
        f"- read: {_ingest_mode(stats)}",
        "",
    ]
    balance = stats.get("class_balance")
    if balance:
        total = sum(balance.values()) or 1
        lines += ["## Class balance", "", "| class | rows | share |", "|---|---:|---:|"]
        lines += [f"| {c} | {n} | {n / total:.1%} |" for c, n in balance.items()]
        lines.append("")
    lines += [
        "## Features",
        "",
        "| column | missing | mean | std | min | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    missing = stats.get("missing_values", {})
    for name, d in stats.get("features", {}).items():
        numbers = " | ".join(_summary_number(d[key]) for key in ("mean", "std", "min", "max"))
        lines.append(f"| {name} | {missing.get(name, 0)} | {numbers} |")
    categories = stats.get("categories") or {}
    if categories:
        lines += ["", "| categorical column | missing | categories | most frequent |"]
        lines.append("|---|---:|---:|---|")
        lines += [
            f"| {name} | {missing.get(name, 0)} | {len(counts)} | {_top(counts)} |"
            for name, counts in categories.items()
        ]
    roles = _role_rows(stats)
    if roles:
        lines += ["", "## Column roles", "", "| column | role | feature | decided by | why |"]
        lines.append("|---|---|---|---|---|")
        lines += [f"| {' | '.join(row)} |" for row in roles]
    return "\n".join(lines) + "\n"


def _top(counts: dict[str, int], shown: int = 3) -> str:
    """The most frequent categories with their counts: ``a (6), b (3)``."""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:shown]
    more = ", ..." if len(counts) > shown else ""
    return ", ".join(f"{k} ({format_count(v)})" for k, v in ranked) + more


def _role_rows(stats: dict[str, Any]) -> list[list[str]]:
    """One row per column decision of ``stats["column_roles"]``, then the dropped columns."""
    plan = stats.get("column_roles") or {}
    rows = [
        [str(d["column"]), str(d["role"]),
         ", ".join(d.get("derived") or []) or ("yes" if d["feature"] else "no"),
         str(d["source"]), str(d["reason"])]
        for d in plan.get("columns", [])
    ]  # fmt: skip
    rows += [
        [str(c), "dropped", "no", "config", "listed in data.drop"] for c in plan.get("dropped", [])
    ]
    if plan.get("group"):
        rows.append([str(plan["group"]), "split group", "", "", str(plan.get("group_source", ""))])
    return rows


def _removed_rows(stats: dict[str, Any]) -> list[list[str]]:
    """Rows read, each rule's removed rows with its setting, and rows kept."""
    account = stats.get("row_accounting")
    if not isinstance(account, dict):
        return []
    rows = [["rows read", format_count(account["rows_in"]), ""]]
    rows += [
        [str(r["what"]), f"-{format_count(r['rows'])}", str(r["setting"])]
        for r in account.get("removed", [])
    ]
    rows.append(["rows kept", format_count(account["rows_out"]), ""])
    return rows


def statistics_html(stats: dict[str, Any], *, title: str = "Data statistics") -> str:
    """A standalone HTML statistics report: summary, anomalies, class balance, and per column
    its summary numbers and a histogram (share of rows per quantile bin)."""
    summary = [
        ["source", str(stats.get("source", ""))],
        ["rows read / kept", f"{stats['rows_in']} / {stats['rows']}"],
        ["columns", str(stats["columns"])],
        ["duplicates dropped", str(stats["duplicates_dropped"])],
        ["rows dropped for missing values", str(stats["missing_rows_dropped"])],
        ["rows without a label", str(stats["label_missing_dropped"])],
        ["content hash", str(stats.get("data_hash", ""))],
        ["read", _ingest_mode(stats)],
    ]
    anomalies = stats.get("anomalies", [])
    anomaly_rows = [
        [str(a[key]) for key in ("column", "kind", "severity", "message")] for a in anomalies
    ]
    sections = [section("Summary", table(summary, header=("", ""), element_id="summary"))]
    removed = _removed_rows(stats)
    if removed:
        sections.append(
            section(
                "Rows", table(removed, header=("", "rows", "setting"), element_id="rows-removed")
            )
        )
    roles = _role_rows(stats)
    if roles:
        header = ("column", "role", "feature", "decided by", "why")
        sections.append(
            section("Column roles", table(roles, header=header, element_id="column-roles"))
        )
    sections += [
        section(
            "Anomalies",
            table(anomaly_rows, header=("column", "kind", "severity", "message"),
                  element_id="anomalies")
            if anomalies else '<p id="anomalies">none</p>',
        ),
    ]  # fmt: skip
    balance = stats.get("class_balance") or {}
    if balance:
        total = sum(balance.values()) or 1
        class_shares = [(str(c), n / total) for c, n in balance.items()]
        chart = svg_bar_chart(
            class_shares, title="share of rows per class", element_id="class-balance"
        )
        sections.append(section("Class balance", chart))
    files = _files_rows(stats)
    if files:
        sections.append(section("Files", table(files, header=("", ""), element_id="files")))
    if "image" in stats or "audio" in stats:  # thousands of pixel or mel columns: no per-column
        shown = f"{len(stats.get('features', {}))} decoded value columns, not listed one by one"
        sections.append(section("Columns", f'<p id="columns">{shown}</p>'))
        return page(title, sections, css=_CSS)
    missing = stats.get("missing_values", {})
    column_rows, charts = [], []
    for index, (name, d) in enumerate(stats.get("features", {}).items()):
        numbers = [_summary_number(d[key]) for key in ("mean", "std", "min", "max")]
        column_rows.append([str(name), format_count(missing.get(name, 0)), *numbers])
        hist = d.get("histogram") or {}
        edges, shares = hist.get("edges", []), hist.get("shares", [])
        if shares and len(edges) == len(shares) + 1:
            bars = [
                (f"{format_number(lo, significant=3)}..{format_number(hi, significant=3)}", share)
                for lo, hi, share in zip(edges, edges[1:], shares, strict=False)
            ]
            charts.append(
                svg_bar_chart(bars, title=name, element_id=f"histogram-{index}", width=420)
            )
    for name, counts in (stats.get("categories") or {}).items():
        column_rows.append(
            [str(name), format_count(missing.get(name, 0)),
             f"{len(counts)} categories: {_top(counts)}", "", "", ""]
        )  # fmt: skip
    columns = table(
        column_rows, header=("column", "missing", "mean", "std", "min", "max"), element_id="columns"
    )
    sections.append(section("Columns", columns))
    sections.append(section("Histograms", '<div class="charts">' + "".join(charts) + "</div>"))
    text = stats.get("text") or {}
    if text:
        text_rows = [
            [str(name), format_value(d["mean_words"], significant=3), format_count(d["max_words"]),
             format_count(d["empty"]), format_count(d["distinct_words"])]
            for name, d in text.items()
        ]  # fmt: skip
        header = ("column", "mean words", "max words", "empty texts", "distinct words")
        sections.append(
            section("Text columns", table(text_rows, header=header, element_id="text-columns"))
        )
    return page(title, sections, css=_CSS)


def _spread(values: Any, unit: str = "") -> str:
    if not isinstance(values, dict) or not values:
        return "n/a"
    low, mid, high = (format_value(values[k], significant=3) for k in ("min", "median", "max"))
    return f"{low} / {mid} / {high}{unit} (min / median / max)"


def _files_rows(stats: dict[str, Any]) -> list[list[str]]:
    """Rows of the ``Files`` section for a dataset read from image, audio or text files."""
    kind = next((k for k in ("image", "audio", "text_files") if k in stats), None)
    if kind is None:
        return []
    found = stats[kind]
    skipped = ", ".join(str(item["file"]) for item in found.get("skipped", []))
    rows = [
        ["layout", f"{kind.removesuffix('_files')} {found.get('layout', '')}"],
        ["files read", format_count(found.get("files", 0))],
        ["files per class", _top(found.get("files_per_class", {}), shown=10)],
        ["skipped (data.bad_files: skip)",
         f"{format_count(found.get('skipped_files', 0))}{f': {skipped}' if skipped else ''}"],
        ["files repeating another's bytes", format_count(found.get("duplicate_files", 0))],
    ]  # fmt: skip
    if kind == "image":
        rows += [
            ["width", _spread(found.get("width"), " px")],
            ["height", _spread(found.get("height"), " px")],
            ["modes", _top(found.get("modes", {}))],
            ["resized to", str(found.get("resized_to", ""))],
        ]
    elif kind == "audio":
        rows += [
            ["duration", _spread(found.get("seconds"), " s")],
            ["sample rates (Hz)", _top(found.get("sample_rates", {}))],
            ["channels", _top(found.get("channels", {}))],
            ["resampled / cut / padded",
             f"{found.get('resampled', 0)} / {found.get('cut', 0)} / {found.get('padded', 0)}"],
            ["features", f"{found.get('features', '')} of shape {found.get('shape', '')}"],
        ]  # fmt: skip
    else:
        rows += [
            ["characters", _spread(found.get("characters"))],
            ["words", _spread(found.get("words"))],
            ["empty files", format_count(found.get("empty_files", 0))],
        ]
    return rows


def _ingest_mode(stats: dict[str, Any]) -> str:
    """How ingest read the source and why (``stats["ingest_mode"]``), or "not recorded"."""
    mode = stats.get("ingest_mode")
    if not isinstance(mode, dict):
        return "not recorded"
    where = "streamed" if mode.get("mode") == "stream" else "in memory"
    return f"{where}: {mode.get('reason', '')}"

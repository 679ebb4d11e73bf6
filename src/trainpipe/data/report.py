"""Human-readable renderings of ingest statistics (Markdown for the KFP dashboard)."""

from __future__ import annotations

from typing import Any


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
        lines.append(
            f"| {name} | {missing.get(name, 0)} | {d['mean']:.4g} | {d['std']:.4g} | "
            f"{d['min']:.4g} | {d['max']:.4g} |"
        )
    return "\n".join(lines) + "\n"


def statistics_html(stats: dict[str, Any], *, title: str = "Data statistics") -> str:
    """A standalone HTML statistics report: summary, anomalies, class balance, and per column
    its summary numbers and a histogram (share of rows per quantile bin)."""
    from html import escape

    from trainpipe.evaluate.report import svg_bar_chart

    def table(rows: list[list[str]], header: list[str], element_id: str) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        return (
            f'<table id="{element_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        )

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
    sections = [
        "<h2>Summary</h2>" + table(summary, ["", ""], "summary"),
        "<h2>Anomalies</h2>"
        + (
            table([[a["column"], a["kind"], a["severity"], a["message"]] for a in anomalies],
                  ["column", "kind", "severity", "message"], "anomalies")
            if anomalies else '<p id="anomalies">none</p>'
        ),
    ]  # fmt: skip
    balance = stats.get("class_balance") or {}
    if balance:
        total = sum(balance.values()) or 1
        sections.append(
            "<h2>Class balance</h2>"
            + svg_bar_chart([(str(c), n / total) for c, n in balance.items()],
                            title="share of rows per class", element_id="class-balance")
        )  # fmt: skip
    missing = stats.get("missing_values", {})
    column_rows, charts = [], []
    for index, (name, d) in enumerate(stats.get("features", {}).items()):
        column_rows.append([name, str(missing.get(name, 0)), f"{d['mean']:.4g}", f"{d['std']:.4g}",
                            f"{d['min']:.4g}", f"{d['max']:.4g}"])  # fmt: skip
        hist = d.get("histogram") or {}
        edges, shares = hist.get("edges", []), hist.get("shares", [])
        if shares and len(edges) == len(shares) + 1:
            bars = [(f"{edges[i]:.3g}..{edges[i + 1]:.3g}", s) for i, s in enumerate(shares)]
            charts.append(svg_bar_chart(bars, title=name, element_id=f"histogram-{index}",
                                        width=420))  # fmt: skip
    sections.append(
        "<h2>Columns</h2>"
        + table(column_rows, ["column", "missing", "mean", "std", "min", "max"], "columns")
    )
    sections.append('<h2>Histograms</h2><div class="charts">' + "".join(charts) + "</div>")
    text = stats.get("text") or {}
    if text:
        text_rows = [
            [name, f"{d['mean_words']:.3g}", f"{d['max_words']:.0f}", f"{d['empty']:.0f}",
             f"{d['distinct_words']:.0f}"]
            for name, d in text.items()
        ]  # fmt: skip
        header = ["column", "mean words", "max words", "empty texts", "distinct words"]
        sections.append("<h2>Text columns</h2>" + table(text_rows, header, "text-columns"))
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px}"
        ".charts svg{margin:4px}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{style}</style></head><body><h1>{escape(title)}</h1>{''.join(sections)}"
        "</body></html>"
    )


def _ingest_mode(stats: dict[str, Any]) -> str:
    """How ingest read the source and why (``stats["ingest_mode"]``), or "not recorded"."""
    mode = stats.get("ingest_mode")
    if not isinstance(mode, dict):
        return "not recorded"
    where = "streamed" if mode.get("mode") == "stream" else "in memory"
    return f"{where}: {mode.get('reason', '')}"

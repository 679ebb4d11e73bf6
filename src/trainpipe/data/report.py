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

"""Where every input row went: the rows each cleaning rule removed, adding up to the input.

Ingest (in memory or streamed) records each rule as it applies it, in order, so the counts add up
by construction: ``rows_in - sum(removed) == rows_out``. The account is saved in ``stats.json``
as ``row_accounting``, printed when it removed more than :data:`NOTICE_SHARE` of the rows, and
read back by ``trainpipe doctor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NOTICE_SHARE", "RULES", "RowAccount"]

NOTICE_SHARE = 0.02
"""Share of the input rows removed above which ingest prints where they went."""

RULES: dict[str, tuple[str, str]] = {
    "label_missing": ("rows without a label", "data.label"),
    "duplicate_rows": (
        "exact repeats of an earlier row, label included",
        "data.drop_duplicates: true; false keeps them",
    ),
    "duplicate_keys": (
        "rows repeating an earlier row's key columns",
        "data.duplicate_keys",
    ),
    "missing_values": (
        "rows with a missing feature value",
        "data.missing: drop; mean, median, mode or constant impute instead",
    ),
}
"""Each rule: what it removes, and the setting that decides it."""


@dataclass
class RowAccount:
    """The rows read, and the rows each rule removed, in the order the rules ran."""

    rows_in: int
    removed: dict[str, int] = field(default_factory=dict)

    def remove(self, rule: str, rows: int) -> None:
        """Record that ``rule`` (a key of :data:`RULES`) removed ``rows`` more rows."""
        if rule not in RULES:
            raise ValueError(f"unknown row rule {rule!r}; known: {sorted(RULES)}")
        if rows < 0 or rows > self.rows_out:
            raise ValueError(f"rule {rule!r} cannot remove {rows} of {self.rows_out} rows")
        self.removed[rule] = self.removed.get(rule, 0) + rows

    @property
    def rows_out(self) -> int:
        """The rows left after every rule."""
        return self.rows_in - sum(self.removed.values())

    @property
    def share_removed(self) -> float:
        """The share of the input rows removed (0 for an empty input)."""
        return (self.rows_in - self.rows_out) / self.rows_in if self.rows_in else 0.0

    def lines(self) -> list[str]:
        """One phrase per rule that removed rows, e.g. ``"231 exact repeats ... (data...)"``."""
        return [
            f"{rows} {RULES[rule][0]} ({RULES[rule][1]})"
            for rule, rows in self.removed.items()
            if rows
        ]

    def notice(self, display: str) -> str:
        """The console line when more than :data:`NOTICE_SHARE` of the rows were removed,
        else ``""``."""
        if self.share_removed <= NOTICE_SHARE:
            return ""
        removed = self.rows_in - self.rows_out
        return (
            f"[trainpipe] ingest: {display}: kept {self.rows_out} of {self.rows_in} rows; "
            f"removed {removed} ({self.share_removed:.1%}): " + "; ".join(self.lines())
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``stats.json``: rows in and out, and each rule's count and setting."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "removed": [
                {"rule": rule, "rows": rows, "what": RULES[rule][0], "setting": RULES[rule][1]}
                for rule, rows in self.removed.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowAccount:
        """Inverse of :meth:`to_dict`."""
        account = cls(rows_in=int(data["rows_in"]))
        for item in data.get("removed", []):
            account.removed[str(item["rule"])] = int(item["rows"])
        return account

"""What a model saw in the rows it was asked to score: values it filled by the training policy,
and categories it had never seen (which encode as all zeros).

:meth:`trainpipe.train.data.Preprocess.transform_with_report` builds the report;
:meth:`trainpipe.train.artifacts.LoadedModel.predict` and ``predict_proba`` raise an
:class:`UnseenCategoryWarning` with its counts, once per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["InputReport", "UnseenCategoryWarning"]

#: Unseen values quoted per column in messages.
EXAMPLES = 3


class UnseenCategoryWarning(UserWarning):
    """Rows held categories the training split did not have; ``counts`` maps each categorical
    column to its number of such rows."""

    def __init__(self, message: str, counts: dict[str, int]):
        super().__init__(message)
        self.counts = dict(counts)


@dataclass(frozen=True, kw_only=True)
class InputReport:
    """Per-column counts for one batch of rows, in the model's column order."""

    rows: int
    """Rows in the batch."""
    policy: str = ""
    """The missing-value policy the model applied (``data.missing`` of its training run)."""
    filled: dict[str, int] = field(default_factory=dict)
    """Missing values filled per column (only columns with at least one)."""
    unseen: dict[str, int] = field(default_factory=dict)
    """Rows per categorical column whose category the training split did not have."""
    unseen_examples: dict[str, list[str]] = field(default_factory=dict)
    """Up to three distinct unseen values per column, in order of appearance."""

    @property
    def unseen_rows(self) -> int:
        """Unseen values over all categorical columns (a row can count in several)."""
        return sum(self.unseen.values())

    def unseen_message(self) -> str:
        """One line naming every column with unseen categories, its count and examples."""
        parts = [
            f"{column!r}: {count} of {self.rows} rows (e.g. "
            f"{', '.join(repr(v) for v in self.unseen_examples.get(column, []))})"
            for column, count in self.unseen.items()
        ]
        return (
            f"categories unseen in training encode as all zeros: {'; '.join(parts)}; map them to "
            "known categories or retrain on data that has them"
        )

    def filled_message(self) -> str:
        """One line naming every column with filled missing values and its count."""
        parts = [f"{column!r}: {count}" for column, count in self.filled.items()]
        return f"missing values filled by data.missing {self.policy!r}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "rows": self.rows,
            "policy": self.policy,
            "filled": dict(self.filled),
            "unseen": dict(self.unseen),
            "unseen_examples": {k: list(v) for k, v in self.unseen_examples.items()},
        }

    @classmethod
    def combine(cls, reports: list[InputReport]) -> InputReport:
        """One report for the rows of several batches (a streamed split's blocks), counts
        summed and examples kept in order of appearance."""
        filled: dict[str, int] = {}
        unseen: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        for report in reports:
            for column, count in report.filled.items():
                filled[column] = filled.get(column, 0) + count
            for column, count in report.unseen.items():
                unseen[column] = unseen.get(column, 0) + count
            for column, values in report.unseen_examples.items():
                kept = examples.setdefault(column, [])
                kept += [v for v in values if v not in kept][: EXAMPLES - len(kept)]
        return cls(
            rows=sum(report.rows for report in reports),
            policy=reports[0].policy if reports else "",
            filled=filled,
            unseen=unseen,
            unseen_examples=examples,
        )

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

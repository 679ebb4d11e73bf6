"""Column statistics and missing values in a stream, one batch of rows at a time.

:class:`Moments` keeps per column the count, sum, sum of squared deviations, min and max of the
values seen, merged batch by batch, for the ``{mean, std, min, max}`` the statistics report.
:class:`MissingValues` counts the missing values of the kept rows and applies ``data.missing``:
``drop``, ``fail`` and ``constant`` (``data.fill_value``) work in one pass; ``mean`` fills with
the column means of a first pass over the file (:meth:`Moments.means`); ``median`` and ``mode``
need whole columns and are refused (:func:`check_policy`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainpipe.errors import DataError

__all__ = ["STREAM_POLICIES", "MissingValues", "Moments", "check_policy"]

STREAM_POLICIES = ("drop", "mean", "constant", "fail")
"""The ``data.missing`` policies the streaming ingest supports."""


def check_policy(policy: str, display: str) -> None:
    """Refuse a ``data.missing`` policy the stream cannot apply.

    Raises:
        DataError: ``policy`` is not one of :data:`STREAM_POLICIES`; the message names the file.
    """
    if policy not in STREAM_POLICIES:
        raise DataError(
            f"{display}: data.missing {policy!r} needs whole columns in memory, which streaming "
            f"ingest does not hold; set data.missing to drop (or {', '.join(STREAM_POLICIES)}), "
            "or use ingest without streaming (trainpipe.data.ingest.ingest)"
        )


class Moments:
    """Per-column count, sum, sum of squared deviations (Chan's merge), min and max.

    Squared deviations are merged rather than a raw sum of squares, which loses every digit of
    the variance when the mean is large compared with the spread.
    """

    def __init__(self, width: int) -> None:
        self.count = np.zeros(width, dtype=np.int64)
        self.total = np.zeros(width)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.low = np.full(width, np.inf)
        self.high = np.full(width, -np.inf)

    def update(self, values: np.ndarray, gaps: np.ndarray | None) -> None:
        """Add a batch of values (columns x rows) whose NaN mask is ``gaps`` (None: no NaN)."""
        if values.shape[1] == 0:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            if gaps is None:
                count = np.full(values.shape[0], values.shape[1], dtype=np.int64)
                total = values.sum(axis=1)
                mean = total / count
                deviation = values - mean[:, None]
                low, high = values.min(axis=1), values.max(axis=1)
            else:
                present = ~gaps
                count = present.sum(axis=1)
                total = np.where(present, values, 0.0).sum(axis=1)
                mean = total / count
                deviation = np.where(present, values - mean[:, None], 0.0)
                low = np.where(present, values, np.inf).min(axis=1)
                high = np.where(present, values, -np.inf).max(axis=1)
            m2 = np.einsum("ij,ij->i", deviation, deviation)
            merged = self.count + count
            delta = mean - self.mean
            grew = count > 0
            self.mean = np.where(grew, self.mean + delta * count / merged, self.mean)
            self.m2 = np.where(grew, self.m2 + m2 + delta**2 * self.count * count / merged, self.m2)
        self.count = merged
        self.total += total
        self.low = np.minimum(self.low, low)
        self.high = np.maximum(self.high, high)

    def means(self) -> np.ndarray:
        """Column means (NaN for a column without values)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / self.count, np.nan)

    def describe(self, column: int) -> dict[str, float]:
        """The ``{mean, std, min, max}`` ingest reports for one column (population std)."""
        if self.count[column] == 0:
            return {
                "mean": float("nan"),
                "std": float("nan"),
                "min": float("nan"),
                "max": float("nan"),
            }
        return {
            "mean": float(self.total[column] / self.count[column]),
            "std": float(np.sqrt(self.m2[column] / self.count[column])),
            "min": float(self.low[column]),
            "max": float(self.high[column]),
        }


class MissingValues:
    """``data.missing`` applied batch by batch, and the counts the statistics report.

    Args:
        policy: One of :data:`STREAM_POLICIES`.
        features: The feature columns, in the order of the rows of the values.
        display: The file, as error messages name it.
        fill: Per-feature fill values (``mean``: the first pass's means, ``constant``:
            ``data.fill_value``); None: count only (the first pass of ``mean``).
    """

    def __init__(
        self,
        policy: str,
        features: Sequence[str],
        display: str,
        *,
        fill: np.ndarray | None = None,
    ) -> None:
        check_policy(policy, display)
        self.policy = policy
        self.features = list(features)
        self.display = display
        self.fill = fill
        self.counts = np.zeros(len(self.features), dtype=np.int64)
        """Missing values per feature among the rows kept before this policy applied."""
        self.rows_dropped = 0
        """Rows dropped for a missing value (``drop``)."""

    def apply(
        self, values: np.ndarray, gaps: np.ndarray, positions: np.ndarray, start: int
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
        """Count the missing values of a batch and apply the policy to them.

        ``values`` holds the kept rows (features x rows), ``gaps`` its NaN mask, ``positions`` the
        rows' 0-based positions in their batch and ``start`` the batch's first data row. Returns
        the rows to keep (None: all), the values (filled where the policy fills) and their NaN
        mask (None: no NaN left).

        Raises:
            DataError: ``fail``, naming the column and the data row of the first missing value.
        """
        self.counts += gaps.sum(axis=1)
        incomplete = np.asarray(gaps.any(axis=0))
        if self.policy == "fail":
            first = int(np.argmax(incomplete))
            column = self.features[int(np.argmax(gaps[:, first]))]
            raise DataError(
                f"{self.display}: column {column!r} has missing values (first at data row "
                f"{start + int(positions[first]) + 1}) and data.missing is 'fail'; choose "
                "drop, mean or constant (median and mode need ingest without streaming)"
            )
        if self.policy == "drop":
            self.rows_dropped += int(incomplete.sum())
            return ~incomplete, values, None
        if self.fill is None:
            return None, values, gaps
        filled = np.where(gaps, self.fill[:, None], values)
        left = np.isnan(filled)
        return None, filled, left if left.any() else None

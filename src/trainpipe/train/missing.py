"""The training run's missing-value policy (``data.missing``), carried to inference.

Ingest applies ``data.missing`` before the split, so the training split has no missing values.
A row scored later may: a model trained with a filling policy (``mean``, ``median``, ``mode``,
``constant``) fills it with values fitted on the training split; a model trained with ``drop`` or
``fail`` cannot drop a row it is asked to score and refuses it instead, as does a model saved
before the policy was recorded (policy ``""``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainpipe.errors import DataError

__all__ = [
    "CONSTANT_CATEGORY",
    "FILLING_POLICIES",
    "fills",
    "fit_fill_values",
    "refuse_missing",
    "row_label",
]

FILLING_POLICIES = ("mean", "median", "mode", "constant")
"""The ``data.missing`` policies that fill a missing value at inference; the others refuse it."""

CONSTANT_CATEGORY = "missing"
"""The category ``data.missing: constant`` gives a missing categorical value (as ingest does)."""


def fills(policy: str) -> bool:
    """Whether ``policy`` fills missing values (else a row with one is refused)."""
    return policy in FILLING_POLICIES


def fit_fill_values(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    *,
    policy: str,
    fill_value: float,
) -> tuple[list[float], dict[str, str]]:
    """The values a missing numeric feature and a missing category become under ``policy``,
    fitted on the training split ``frame`` the way ingest fills: the column's mean, median or
    most frequent value (a category: its most frequent one for mean, median and mode), or
    ``fill_value`` (a category: ``"missing"``) for ``constant``. Empty when ``policy`` refuses."""
    if not fills(policy):
        return [], {}
    values: list[float] = []
    for column in numeric:
        series = pd.to_numeric(frame[column], errors="coerce")
        if policy == "constant":
            value = float(fill_value)
        elif policy == "mean":
            value = float(series.mean())
        elif policy == "median":
            value = float(series.median())
        else:
            value = float(series.mode().iloc[0])
        values.append(value)
    categories = {
        column: CONSTANT_CATEGORY
        if policy == "constant"
        else str(frame[column].dropna().astype(str).mode().iloc[0])
        for column in categorical
    }
    return values, categories


def row_label(frame: pd.DataFrame, position: int) -> object:
    """The index label of row ``position``, as a plain Python value for messages."""
    label = frame.index[position]
    return label.item() if isinstance(label, np.generic) else label


def refuse_missing(frame: pd.DataFrame, columns: list[str], policy: str) -> None:
    """Raise when a row of ``frame`` has a missing value in ``columns`` and ``policy`` refuses.

    Raises:
        DataError: naming the first such row's index and column, how many rows have missing
            values, the policy, and what to do.
    """
    missing = frame[columns].isna().to_numpy()
    rows = missing.any(axis=1)
    if not rows.any():
        return
    position = int(np.flatnonzero(rows)[0])
    column = columns[int(np.flatnonzero(missing[position])[0])]
    if policy:
        why = (
            f"the model was trained with data.missing {policy!r}, so it does not fill missing "
            "values and cannot drop a row it is asked to score"
        )
    else:
        why = (
            "the model was saved without a missing-value policy (by an older trainpipe), "
            "so it does not fill missing values"
        )
    raise DataError(
        f"row {row_label(frame, position)!r} has a missing value in column {column!r} "
        f"({int(rows.sum())} of {len(frame)} rows have missing values): {why}; fill or drop "
        "those rows before predicting, or retrain with data.missing mean, median, mode or constant"
    )

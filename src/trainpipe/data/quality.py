"""Data-quality checks: split overlap, label leakage, degenerate columns and per-group bias.

Every check is a pure function of its inputs. A check returns a :class:`Finding` (or a list of
them) when it sees a problem and ``None`` (or an empty list) when it does not; it never writes
anything and never mutates the frames it is given. Inputs that cannot be checked at all (a column
that is not in the frame, arrays of the wrong length) raise :class:`~trainpipe.errors.DataError`
naming the column and the columns that are available.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from trainpipe.data.dataset import Schema
from trainpipe.errors import ConfigError, DataError
from trainpipe.evaluate.metrics import classification_metrics

__all__ = [
    "MIN_GROUP_ROWS",
    "Finding",
    "bias_report",
    "check_split",
    "constant_columns",
    "high_missing",
    "label_leakage",
    "row_hashes",
    "shared_rows",
]

Severity = Literal["info", "warn", "fail"]

MIN_GROUP_ROWS = 5
"""Groups of :func:`bias_report` with fewer rows than this get no metrics (too noisy)."""

LEAKAGE_CORRELATION = 0.999
"""A regression feature whose Pearson ``|r|`` with the label exceeds this is a near-copy."""


@dataclass(frozen=True)
class Finding:
    """One problem a check found.

    ``check`` names the check (``shared_rows``, ``label_leakage``, ...); ``columns`` lists the
    columns concerned; ``rows`` counts the rows concerned (0 when the finding is about columns).
    """

    check: str
    severity: Severity
    message: str
    columns: tuple[str, ...] = ()
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``columns`` as a list)."""
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "columns": list(self.columns),
            "rows": self.rows,
        }


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> list[str]:
    """Return ``columns`` as a list, or raise naming those missing from ``frame``."""
    if isinstance(columns, str):
        columns = [columns]
    names = list(columns)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        available = [str(c) for c in frame.columns]
        shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
        raise DataError(
            f"{what}: column(s) {', '.join(repr(c) for c in missing)} not found; "
            f"available columns are: {shown or '(none)'}"
        )
    return names


def row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A ``uint64`` content hash of each row of ``frame`` over ``columns``, ignoring the index.

    Numeric and boolean columns are hashed as ``float64`` (with ``-0.0`` folded into ``0.0``), so
    the same values stored as ``int64`` in one frame and ``float64`` in another hash alike; other
    columns are hashed as strings. Missing values hash alike. Rows with equal hashes have, up to a
    negligible 64-bit collision chance, equal content in ``columns``.

    Raises:
        DataError: ``columns`` is empty or names a column ``frame`` lacks.
    """
    names = _require_columns(frame, columns, "row_hashes")
    if not names:
        raise DataError("row_hashes: no columns given to hash")
    dtypes = frame.dtypes  # not frame[n]: a Series per column costs more than the hashing
    kinds = [
        pd.api.types.is_bool_dtype(dtypes[n]) or pd.api.types.is_numeric_dtype(dtypes[n])
        for n in names
    ]
    if all(kinds):  # one float64 block: the same hashes, without a Series per column
        values = frame[names].to_numpy(dtype="float64", na_value=np.nan) + 0.0
        block = pd.DataFrame(values, index=pd.RangeIndex(len(frame)), copy=False)
        return pd.util.hash_pandas_object(block, index=False).to_numpy(dtype=np.uint64)
    normalized = {}
    for name in names:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype="float64", na_value=np.nan) + 0.0
            normalized[name] = pd.Series(values, copy=False)
        else:
            normalized[name] = pd.Series(series.astype(str).to_numpy(dtype=object), copy=False)
    table = pd.DataFrame(normalized, index=pd.RangeIndex(len(frame)))
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


def shared_rows(
    train: pd.DataFrame, other: pd.DataFrame, columns: Sequence[str], *, name: str = "test"
) -> Finding | None:
    """Rows of ``other`` whose content in ``columns`` also occurs in ``train``.

    Returns a ``fail`` finding counting those rows (``rows``) with their share of ``other``, or
    ``None`` when there are none (or ``other`` is empty). ``name`` names ``other`` in the message.

    Raises:
        DataError: a column is missing from either frame.
    """
    names = _require_columns(train, columns, "shared_rows (train)")
    _require_columns(other, names, f"shared_rows ({name})")
    if len(other) == 0 or len(train) == 0:
        return None
    seen = np.isin(row_hashes(other, names), row_hashes(train, names))
    count = int(seen.sum())
    if count == 0:
        return None
    fraction = count / len(other)
    return Finding(
        check="shared_rows",
        severity="fail",
        message=(
            f"{count} of {len(other)} {name} rows ({fraction:.1%}) have the same feature values "
            f"as a train row, so {name} scores overstate generalization; split with trainpipe "
            "(it keeps identical rows in one split) or deduplicate before splitting"
        ),
        columns=tuple(names),
        rows=count,
    )


def _class_codes(label: pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Class index of each label value (``-1`` for a value not in ``classes`` or missing)."""
    names = list(classes) or sorted(label.dropna().astype(str).unique())
    text = label.astype(str).where(label.notna())
    codes = pd.Categorical(text, categories=names).codes
    return np.asarray(codes, dtype=np.int64)


def _numbers(series: pd.Series) -> np.ndarray:
    """``series`` as ``float64`` with non-numeric values as NaN."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _is_bijection(feature: pd.Series, label: pd.Series) -> bool:
    """Whether each feature value goes with one label value and each label value with one feature.

    Only rows where both are present count. A mapping is only evidence of leakage when some label
    value occurs more than once: otherwise any column of distinct values maps 1:1 (row identity).
    """
    both = feature.notna().to_numpy() & label.notna().to_numpy()
    pairs = pd.DataFrame(
        {
            "f": feature.to_numpy(dtype=object)[both],
            "y": label.astype(str).to_numpy(dtype=object)[both],
        }
    )
    if pairs.empty:
        return False
    n_labels = pairs["y"].nunique()
    if n_labels < 2 or len(pairs) <= n_labels:
        return False
    n_pairs = len(pairs.drop_duplicates())
    return n_pairs == n_labels and pairs["f"].nunique() == n_labels


def _yaml_item(name: str) -> str:
    """``name`` as an item of a YAML flow list: as it is when plain, else double-quoted."""
    return name if re.fullmatch(r"[A-Za-z_][\w .()/-]*(?<! )", name) else json.dumps(name)


def _leak(column: str, label: str, why: str) -> Finding:
    return Finding(
        check="label_leakage",
        severity="fail",
        message=(
            f"feature {column!r} {why} label {label!r}: a model would learn the answer from it; "
            f"leave it out with data.drop: [{_yaml_item(column)}]"
        ),
        columns=(column,),
    )


def label_leakage(
    frame: pd.DataFrame, schema: Schema, *, correlation: float = LEAKAGE_CORRELATION
) -> list[Finding]:
    """Features that give the label away: one ``fail`` finding per such column.

    Classification: a feature equal to the label (as numbers, e.g. label ``"0"``/``"1"`` and a
    feature ``0``/``1``), equal to the class index of the label in ``schema.classes``, or any
    deterministic 1:1 mapping of the label values (a re-encoded label). Regression: a feature
    equal to the label, or whose Pearson correlation with it has ``|r| > correlation``. (A 1:1
    test means nothing for a continuous label, where every distinct column maps 1:1.) Rows where
    the feature or the label is missing are ignored.

    Raises:
        DataError: the label or a feature is missing from ``frame``.
    """
    _require_columns(frame, [schema.label], "label_leakage (label)")
    features = _require_columns(frame, schema.features, "label_leakage (features)")
    label = frame[schema.label]
    label_numbers = _numbers(label)
    codes = _class_codes(label, schema.classes) if schema.task == "classification" else None
    could_map: set[str] = set(features)
    if codes is not None:
        # A 1:1 mapping needs 2..n_labels distinct feature values where the label is present:
        # one vectorized count spares the pairwise test for the rest (thousands of pixels).
        labelled = label.notna().to_numpy()
        n_labels = label[labelled].astype(str).nunique()
        distinct = frame.loc[labelled, features].nunique(dropna=True)
        could_map = {c for c in features if 2 <= int(distinct[c]) <= n_labels}
    findings: list[Finding] = []
    for column in features:
        if column == schema.label:
            findings.append(_leak(column, schema.label, "is the"))
            continue
        values = _numbers(frame[column])
        both = ~np.isnan(values) & ~np.isnan(label_numbers)
        identical = bool(both.sum() >= 2) and np.array_equal(values[both], label_numbers[both])
        if codes is not None:
            if column not in could_map or not _is_bijection(frame[column], label):
                continue
            coded = ~np.isnan(values) & (codes >= 0)
            if identical:
                why = "is identical to the"
            elif coded.any() and np.array_equal(values[coded], codes[coded].astype("float64")):
                why = "equals the class index of the"
            else:
                why = "is a 1:1 encoding of the"
            findings.append(_leak(column, schema.label, why))
        elif identical:
            findings.append(_leak(column, schema.label, "is identical to the"))
        else:
            r = _pearson(values, label_numbers)
            if r is not None and abs(r) > correlation:
                why = f"has correlation r={r:.6f} with the"
                findings.append(_leak(column, schema.label, why))
    return findings


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation over rows where both are finite; ``None`` when it is undefined."""
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    a, b = x[keep], y[keep]
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denominator == 0.0:
        return None
    return float(np.dot(a, b)) / denominator


def constant_columns(frame: pd.DataFrame, features: Sequence[str]) -> Finding | None:
    """A ``warn`` finding naming the features with at most one distinct non-missing value.

    Such a column carries no information for a model. Returns ``None`` when there are none or
    ``frame`` is empty.

    Raises:
        DataError: a feature is missing from ``frame``.
    """
    names = _require_columns(frame, features, "constant_columns")
    if len(frame) == 0:
        return None
    constant = [c for c in names if frame[c].nunique(dropna=True) <= 1]
    if not constant:
        return None
    return Finding(
        check="constant_columns",
        severity="warn",
        message=(
            f"{len(constant)} feature(s) have a single value in all {len(frame)} rows and carry "
            f"no information: {', '.join(constant)}; consider dropping them"
        ),
        columns=tuple(constant),
    )


def high_missing(
    frame: pd.DataFrame, features: Sequence[str], threshold: float = 0.5
) -> Finding | None:
    """A ``warn`` finding naming the features whose share of missing values exceeds ``threshold``.

    Returns ``None`` when there are none or ``frame`` is empty.

    Raises:
        ConfigError: ``threshold`` is not in ``[0, 1)``.
        DataError: a feature is missing from ``frame``.
    """
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"high_missing: threshold must be in [0, 1), got {threshold!r}")
    names = _require_columns(frame, features, "high_missing")
    if len(frame) == 0:
        return None
    shares = {c: float(frame[c].isna().mean()) for c in names}
    flagged = [c for c in names if shares[c] > threshold]
    if not flagged:
        return None
    detail = ", ".join(f"{c} ({shares[c]:.0%})" for c in flagged)
    return Finding(
        check="high_missing",
        severity="warn",
        message=(
            f"{len(flagged)} feature(s) are missing in more than {threshold:.0%} of "
            f"{len(frame)} rows: {detail}; imputed values would dominate them"
        ),
        columns=tuple(flagged),
    )


def missing_classes(
    counts: Mapping[Any, int], split_counts: Sequence[Mapping[Any, int]], *, fix: str
) -> list[Finding]:
    """A warning for each of validation and test (``split_counts[1:]``, rows per class of each
    split, train first) that lacks a class of ``counts`` (rows per class in all); ``fix`` says
    what to do."""
    findings = []
    for name, held in zip(("validation", "test"), split_counts[1:], strict=True):
        absent = [c for c in counts if not held.get(c)]
        if absent:
            listed = ", ".join(f"{c!r} ({counts[c]} rows in all)" for c in absent[:10])
            findings.append(
                Finding(
                    check="missing_classes",
                    severity="warn",
                    message=(
                        f"the {name} split has no rows of class {listed}"
                        f"{' ...' if len(absent) > 10 else ''}: its {name} scores measure "
                        f"nothing of it; {fix}"
                    ),
                    rows=int(sum(counts[c] for c in absent)),
                )
            )
    return findings


def check_split(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    schema: Schema,
    *,
    shared: bool = True,
) -> list[Finding]:
    """Run the split checks: validation and test rows shared with train (unless ``shared`` is
    False: the caller weighs them itself), then leakage and constant features on train.
    Findings come in that order; an empty list means all passed.

    Raises:
        DataError: a schema column is missing from one of the frames.
    """
    findings: list[Finding] = []
    for name, part in (("validation", validation), ("test", test)) if shared else ():
        found = shared_rows(train, part, schema.features, name=name)
        if found is not None:
            findings.append(found)
    findings.extend(label_leakage(train, schema))
    constant = constant_columns(train, schema.features)
    if constant is not None:
        findings.append(constant)
    return findings


def _group_key(value: Any) -> str:
    """A JSON-friendly name for a group value: ``1.0`` -> ``"1"``, missing -> ``"<missing>"``."""
    if pd.isna(value):
        return "<missing>"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _gap(scores: dict[str, float]) -> dict[str, Any] | None:
    """The spread of ``scores`` over groups, or ``None`` with fewer than two groups."""
    if len(scores) < 2:
        return None
    highest = max(scores, key=lambda g: scores[g])
    lowest = min(scores, key=lambda g: scores[g])
    return {"gap": scores[highest] - scores[lowest], "highest": highest, "lowest": lowest}


def bias_report(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    column: str,
    labels: Sequence[str],
    min_rows: int = MIN_GROUP_ROWS,
) -> dict[str, Any]:
    """Classification metrics per group of the sensitive ``column`` and the gaps between groups.

    ``y_true`` and ``y_pred`` hold class indices into ``labels`` and align with ``frame`` by
    position (the index is ignored). Each group (a distinct value of ``column``, named as a string;
    missing values form ``"<missing>"``) reports ``rows`` and, with at least ``min_rows`` rows,
    ``accuracy``, ``f1_macro`` and ``recall`` per class from
    :func:`~trainpipe.evaluate.metrics.classification_metrics`; a class absent from a group's
    ``y_true`` has recall ``None`` there (it is undefined). A smaller group gets
    ``"note": "too few rows"`` instead of metrics.

    ``accuracy_gap`` is the largest difference in accuracy between groups with metrics
    (``{"gap", "highest", "lowest"}``); ``recall_gaps`` holds that per class (over the groups
    where the class occurs) and ``recall_gap`` the largest of those, with its ``class``. A gap
    is ``None`` when fewer than two groups qualify. ``overall`` has the metrics of all rows.

    Raises:
        DataError: ``column`` is not in ``frame``, or the arrays and ``frame`` differ in length.
        TrainpipeError: the class indices or ``labels`` are invalid (from the metrics).
    """
    _require_columns(frame, [column], "bias_report (sensitive column)")
    true_arr = np.asarray(y_true).reshape(-1)
    pred_arr = np.asarray(y_pred).reshape(-1)
    if not len(true_arr) == len(pred_arr) == len(frame):
        raise DataError(
            f"bias_report: frame has {len(frame)} rows but y_true has {len(true_arr)} and "
            f"y_pred has {len(pred_arr)}; they must align row by row"
        )
    overall = classification_metrics(true_arr, pred_arr, labels)
    names: list[str] = overall["labels"]
    keys = np.array([_group_key(v) for v in frame[column].to_numpy(dtype=object)], dtype=object)

    groups: dict[str, dict[str, Any]] = {}
    accuracy: dict[str, float] = {}
    recall: dict[str, dict[str, float]] = {name: {} for name in names}
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        rows = int(mask.sum())
        if rows < min_rows:
            groups[key] = {"rows": rows, "note": "too few rows"}
            continue
        metrics = classification_metrics(true_arr[mask], pred_arr[mask], names)
        per_class = metrics["per_class"]
        group_recall: dict[str, float | None] = {}
        for name in names:
            if per_class[name]["support"] > 0:
                group_recall[name] = per_class[name]["recall"]
                recall[name][key] = per_class[name]["recall"]
            else:
                group_recall[name] = None
        groups[key] = {
            "rows": rows,
            "accuracy": metrics["accuracy"],
            "f1_macro": metrics["f1_macro"],
            "recall": group_recall,
        }
        accuracy[key] = metrics["accuracy"]

    recall_gaps = {name: _gap(recall[name]) for name in names}
    widest = [(gap["gap"], name) for name, gap in recall_gaps.items() if gap is not None]
    recall_gap: dict[str, Any] | None = None
    if widest:
        _, worst = max(widest, key=lambda item: item[0])
        recall_gap = {"class": worst, **(recall_gaps[worst] or {})}
    return {
        "column": column,
        "rows": len(frame),
        "min_group_rows": min_rows,
        "overall": {
            "accuracy": overall["accuracy"],
            "f1_macro": overall["f1_macro"],
            "recall": {name: overall["per_class"][name]["recall"] for name in names},
        },
        "groups": groups,
        "accuracy_gap": _gap(accuracy),
        "recall_gap": recall_gap,
        "recall_gaps": recall_gaps,
    }

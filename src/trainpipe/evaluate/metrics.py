"""Evaluation metrics for classification and regression models.

Every function validates its inputs and raises :class:`~trainpipe.errors.TrainpipeError` with a
message naming the problem, instead of letting scikit-learn fail with a shape error deep inside.
Results are plain Python values (``float``, ``int``, ``list``, ``dict``) so they serialize to JSON
as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from trainpipe.errors import TrainpipeError

__all__ = ["classification_metrics", "per_class_scores", "regression_metrics"]


def _as_vector(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D array; a column vector ``[n, 1]`` is flattened."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise TrainpipeError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    return arr


def _check_lengths(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if len(y_true) != len(y_pred):
        raise TrainpipeError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise TrainpipeError("y_true and y_pred are empty: there is nothing to evaluate")


def _as_class_indices(values: np.ndarray, name: str, n_classes: int) -> np.ndarray:
    """Validate that ``values`` holds integer class indices in ``[0, n_classes)``."""
    if values.dtype == np.bool_ or not (
        np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    ):
        raise TrainpipeError(
            f"{name} must hold integer class indices, got values of type {values.dtype}"
        )
    if np.issubdtype(values.dtype, np.floating):
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            example = float(values[bad][0])
            raise TrainpipeError(
                f"{name} must hold integer class indices, got non-integer value {example!r}"
            )
    indices = values.astype(np.int64)
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n_classes:
        offender = low if low < 0 else high
        raise TrainpipeError(
            f"{name} holds class index {offender} but labels has {n_classes} entries "
            f"(valid indices are 0..{n_classes - 1})"
        )
    return indices


def _check_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str):
        raise TrainpipeError(f"labels must be a sequence of class names, got the string {labels!r}")
    names = [str(label) for label in labels]
    if not names:
        raise TrainpipeError("labels is empty: a classifier needs at least one class name")
    seen: set[str] = set()
    for label in names:
        if label in seen:
            raise TrainpipeError(f"labels names class {label!r} more than once")
        seen.add(label)
    return names


def _roc_auc(y_true: np.ndarray, y_proba: Any, n_rows: int, n_classes: int) -> float | None:
    """ROC AUC for binary or multiclass scores, or ``None`` when it is undefined."""
    proba = np.asarray(y_proba, dtype=np.float64)
    if n_classes == 2 and proba.ndim == 1:
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.ndim != 2 or proba.shape != (n_rows, n_classes):
        raise TrainpipeError(
            f"y_proba must have shape ({n_rows}, {n_classes}) (one row per sample, one column "
            f"per label), got shape {proba.shape}"
        )
    if not np.isfinite(proba).all():
        raise TrainpipeError("y_proba holds NaN or infinite scores")
    present = np.unique(y_true)
    if n_classes == 2:
        if len(present) < 2:
            return None  # AUC is undefined when y_true holds a single class
        return float(roc_auc_score(y_true, proba[:, 1]))
    if n_classes < 2 or len(present) < n_classes:
        return None  # one-vs-rest AUC is undefined for a class absent from y_true
    sums = proba.sum(axis=1)
    off = np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-3))
    if len(off):
        row = int(off[0])
        raise TrainpipeError(
            f"y_proba rows must be probabilities summing to 1 for multiclass ROC AUC, but row "
            f"{row} sums to {sums[row]:.4g}; apply softmax to the logits first"
        )
    proba = proba / sums[:, None]
    return float(
        roc_auc_score(
            y_true, proba, multi_class="ovr", average="macro", labels=list(range(n_classes))
        )
    )


def per_class_scores(
    names: Sequence[str],
    precision: np.ndarray,
    recall: np.ndarray,
    f1: np.ndarray,
    support: np.ndarray,
) -> dict[str, dict[str, float | int]]:
    """``{class: {"precision", "recall", "f1", "support"}}`` in ``names`` order."""
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[str],
    *,
    y_proba: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compute accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

    ``y_true`` and ``y_pred`` hold integer class indices into ``labels``. Macro averages follow
    scikit-learn's default: they average over the classes present in ``y_true`` or ``y_pred``,
    with ``zero_division=0``. ``per_class`` lists every label. ``confusion_matrix`` is ordered as
    ``labels`` with rows for the true class and columns for the predicted class.

    When ``y_proba`` (shape ``[n, k]``) is given, ``roc_auc`` is added: for a binary task the
    score of class index 1 is the positive score; for a multiclass task the macro one-vs-rest AUC
    is reported when every class occurs in ``y_true`` and omitted otherwise (it is undefined).
    """
    names = _check_labels(labels)
    n_classes = len(names)
    true_arr = _as_vector(y_true, "y_true")
    pred_arr = _as_vector(y_pred, "y_pred")
    _check_lengths(true_arr, pred_arr)
    true_idx = _as_class_indices(true_arr, "y_true", n_classes)
    pred_idx = _as_class_indices(pred_arr, "y_pred", n_classes)

    all_classes = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        true_idx, pred_idx, labels=all_classes, zero_division=0
    )
    macro_p, macro_r, macro_f1, _ = precision_recall_fscore_support(
        true_idx, pred_idx, average="macro", zero_division=0
    )
    matrix = confusion_matrix(true_idx, pred_idx, labels=all_classes)

    result: dict[str, Any] = {
        "accuracy": float(accuracy_score(true_idx, pred_idx)),
        "precision_macro": float(macro_p),
        "recall_macro": float(macro_r),
        "f1_macro": float(macro_f1),
        "per_class": per_class_scores(names, precision, recall, f1, support),
        "confusion_matrix": [[int(count) for count in row] for row in matrix],
        "labels": names,
    }
    if y_proba is not None:
        auc = _roc_auc(true_idx, y_proba, len(true_idx), n_classes)
        if auc is not None:
            result["roc_auc"] = auc
    return result


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Compute ``rmse``, ``mae`` and ``r2`` for regression predictions.

    Inputs are 1-D (a ``[n, 1]`` column is flattened) or matching ``[n, m]`` arrays, whose
    metrics are averaged uniformly over the outputs. ``r2`` is NaN for a single sample, where it
    is undefined; for a constant ``y_true`` it is 1.0 for a perfect fit and 0.0 otherwise.
    """
    true_arr = np.asarray(y_true, dtype=np.float64)
    pred_arr = np.asarray(y_pred, dtype=np.float64)
    if true_arr.ndim == 2 and true_arr.shape[1] == 1:
        true_arr = true_arr.reshape(-1)
    if pred_arr.ndim == 2 and pred_arr.shape[1] == 1:
        pred_arr = pred_arr.reshape(-1)
    for name, arr in (("y_true", true_arr), ("y_pred", pred_arr)):
        if arr.ndim not in (1, 2):
            raise TrainpipeError(f"{name} must be 1-D or 2-D, got an array of shape {arr.shape}")
    _check_lengths(true_arr, pred_arr)
    if true_arr.shape != pred_arr.shape:
        raise TrainpipeError(
            f"y_true has shape {true_arr.shape} but y_pred has shape {pred_arr.shape}"
        )
    for name, arr in (("y_true", true_arr), ("y_pred", pred_arr)):
        if not np.isfinite(arr).all():
            raise TrainpipeError(f"{name} holds NaN or infinite values")

    mse = float(mean_squared_error(true_arr, pred_arr))
    r2 = float(r2_score(true_arr, pred_arr)) if len(true_arr) >= 2 else math.nan
    return {
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(true_arr, pred_arr)),
        "r2": r2,
    }

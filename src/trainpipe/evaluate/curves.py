"""Data behind the evaluation charts: ROC and PR curves, misclassified samples, split balance.

Every function returns plain Python values (lists, dicts, floats) so the results go into JSON and
into KFP's ClassificationMetrics as they are. Curves are thinned to at most ``max_points`` points
(always keeping both ends) so that a large test set does not make the report or the KFP metadata
huge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from trainpipe.errors import TrainpipeError

__all__ = ["binary_curves", "class_balance", "misclassified_samples"]


def _thin(count: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread points out of ``count``, ends included."""
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_points)).astype(np.int64))


def _finite_thresholds(thresholds: np.ndarray, scores: np.ndarray) -> list[float]:
    # scikit-learn puts +inf before the highest score ("predict nothing positive"); JSON and
    # KFP need finite numbers, and no score exceeds the largest one anyway.
    top = float(scores.max()) if len(scores) else 1.0
    return [float(t) if math.isfinite(t) else max(top, 1.0) for t in thresholds]


def binary_curves(
    y_true: Sequence[int] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    *,
    max_points: int = 200,
) -> dict[str, dict[str, Any]]:
    """ROC and precision-recall curves of a binary classifier.

    ``y_true`` holds class indices 0/1 (1 is the positive class) and ``y_score`` the positive
    class's score (its probability). Returns ``{"roc": {"fpr", "tpr", "thresholds", "auc"},
    "pr": {"precision", "recall", "thresholds", "average_precision"}}``, each list thinned to at
    most ``max_points`` points.

    Raises:
        TrainpipeError: the lengths differ, a label is not 0/1, a score is not finite, or
            ``y_true`` holds a single class (both curves are undefined then).
    """
    truth = np.asarray(y_true).reshape(-1)
    scores = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if len(truth) != len(scores):
        raise TrainpipeError(f"y_true has {len(truth)} rows but y_score has {len(scores)}")
    if max_points < 2:
        raise TrainpipeError(f"max_points must be at least 2, got {max_points}")
    values = set(np.unique(truth).tolist())
    if not values <= {0, 1}:
        raise TrainpipeError(
            f"binary curves need class indices 0 and 1 in y_true, got {sorted(values)}"
        )
    if len(values) < 2:
        raise TrainpipeError(
            "binary curves need both classes in y_true, but it holds only class "
            f"{next(iter(values), 'none')}: evaluate on a larger or stratified test split"
        )
    if not np.isfinite(scores).all():
        raise TrainpipeError("y_score holds NaN or infinite scores")
    truth = truth.astype(np.int64)

    fpr, tpr, roc_thresholds = roc_curve(truth, scores)
    keep = _thin(len(fpr), max_points)
    precision, recall, pr_thresholds = precision_recall_curve(truth, scores)
    # The last PR point (recall 0, precision 1) has no threshold: the highest score closes it.
    pr_thresholds = np.append(pr_thresholds, scores.max())
    pr_keep = _thin(len(precision), max_points)
    return {
        "roc": {
            "fpr": [float(v) for v in fpr[keep]],
            "tpr": [float(v) for v in tpr[keep]],
            "thresholds": _finite_thresholds(roc_thresholds[keep], scores),
            "auc": float(auc(fpr, tpr)),
        },
        "pr": {
            "precision": [float(v) for v in precision[pr_keep]],
            "recall": [float(v) for v in recall[pr_keep]],
            "thresholds": _finite_thresholds(pr_thresholds[pr_keep], scores),
            "average_precision": float(average_precision_score(truth, scores)),
        },
    }


def misclassified_samples(
    features: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[str],
    *,
    limit: int = 16,
) -> list[dict[str, Any]]:
    """The first ``limit`` rows whose prediction is wrong, for the report's image grid.

    ``features`` is ``[n, d]`` (raw pixel values, one image per row). Each entry is ``{"row": i,
    "true": label, "pred": label, "pixels": [d floats]}``, in row order.
    """
    data = np.asarray(features, dtype=np.float64)
    truth = np.asarray(y_true).reshape(-1)
    pred = np.asarray(y_pred).reshape(-1)
    if data.ndim != 2 or not (len(data) == len(truth) == len(pred)):
        raise TrainpipeError(
            f"misclassified_samples needs features [n, d] and n labels/predictions, got "
            f"features {data.shape}, {len(truth)} labels and {len(pred)} predictions"
        )
    wrong = np.flatnonzero(truth != pred)[: max(limit, 0)]
    names = [str(label) for label in labels]
    return [
        {
            "row": int(i),
            "true": names[int(truth[i])],
            "pred": names[int(pred[i])],
            "pixels": [float(v) if math.isfinite(v) else 0.0 for v in data[i]],
        }
        for i in wrong
    ]


def class_balance(values: Sequence[Any], classes: Sequence[str]) -> dict[str, int]:
    """Count of each class name in ``values`` (as strings), in ``classes`` order."""
    counts: dict[str, int] = {str(c): 0 for c in classes}
    for value in values:
        key = str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts

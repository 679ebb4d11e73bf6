"""Evaluation metrics accumulated block by block, for a split streamed from its row groups.

:func:`~trainpipe.evaluate.metrics.classification_metrics` and
:func:`~trainpipe.evaluate.metrics.regression_metrics` need every prediction at once. The totals
here keep only what the metrics are made of, so memory does not grow with the split:

* :class:`ClassificationTotals`: the confusion matrix, from which accuracy, per-class and macro
  precision, recall and F1 follow exactly (the same numbers scikit-learn gives); and for ROC AUC
  and the ROC and precision-recall curves, per class a histogram of the one-vs-rest score of
  the rows of that class and of the others. The score is binned as a logit (``log p - log(1 -
  p)``), which spreads the confident ends that probabilities crowd near 0 and 1. Rows in one bin
  tie, so the AUC is exact up to the pairs that share a bin: ``roc_auc_max_error`` bounds it.
* :class:`RegressionTotals`: sums of squared and absolute errors and the target's running mean
  and spread (Chan's parallel update), for exact RMSE, MAE and R².
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.metrics import per_class_scores

__all__ = ["LOGIT_LIMIT", "ClassificationTotals", "RegressionTotals", "one_vs_rest_logits"]

LOGIT_LIMIT = 40.0
"""Score logits are clipped to ±this before binning (float32 probabilities round to 0 or 1
beyond about ±17, so nothing a model can tell apart is lost)."""
SCORE_CELLS = 1 << 21
"""Histogram cells over all classes (two histograms per class): bins per class shrink with the
number of classes so the totals stay about 32 MiB at most."""
MAX_BINS = 16_384


def one_vs_rest_logits(logits: np.ndarray) -> np.ndarray:
    """``[n, k]`` model outputs -> ``[n, k]`` logits of each class's softmax probability against
    the rest, ``log p_c - log(1 - p_c) = z_c - logsumexp(z_j, j != c)``, computed without
    forming the probabilities (which round to 0 or 1 for confident rows)."""
    z = np.asarray(logits, dtype=np.float64)
    k = z.shape[1]
    out = np.empty_like(z)
    for c in range(k):
        others = np.delete(z, c, axis=1)
        top = others.max(axis=1)
        out[:, c] = z[:, c] - (top + np.log(np.exp(others - top[:, None]).sum(axis=1)))
    return out


class ClassificationTotals:
    """Confusion matrix and score histograms of a classifier over the blocks fed so far."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = [str(label) for label in labels]
        k = len(self.labels)
        if k < 2:
            raise TrainpipeError(f"a classifier needs at least two classes, got {self.labels}")
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.bins = int(min(MAX_BINS, max(256, SCORE_CELLS // (2 * k))))
        # positives[c, b]: rows of class c whose class-c score falls in bin b; negatives: the rest
        self.positives = np.zeros((k, self.bins), dtype=np.int64)
        self.negatives = np.zeros((k, self.bins), dtype=np.int64)

    @property
    def rows(self) -> int:
        """Rows fed so far."""
        return int(self.confusion.sum())

    def add(self, y_true: np.ndarray, logits: np.ndarray) -> None:
        """Feed one block: class indices ``[n]`` and the model's raw outputs ``[n, k]``."""
        k = len(self.labels)
        truth = np.asarray(y_true, dtype=np.int64).reshape(-1)
        z = np.asarray(logits)
        if z.ndim != 2 or z.shape != (len(truth), k):
            raise TrainpipeError(
                f"expected model outputs of shape ({len(truth)}, {k}), got {tuple(z.shape)}"
            )
        if len(truth) == 0:
            return
        if not np.isfinite(z).all():
            raise TrainpipeError("the model's outputs hold NaN or infinite values")
        predicted = z.argmax(axis=1)
        np.add.at(self.confusion, (truth, predicted), 1)
        scores = one_vs_rest_logits(z)
        cells = self._bin(scores)
        for c in range(k):
            mine = truth == c
            self.positives[c] += np.bincount(cells[mine, c], minlength=self.bins)
            self.negatives[c] += np.bincount(cells[~mine, c], minlength=self.bins)

    def _bin(self, scores: np.ndarray) -> np.ndarray:
        clipped = np.clip(scores, -LOGIT_LIMIT, LOGIT_LIMIT)
        cells = ((clipped + LOGIT_LIMIT) * (self.bins / (2 * LOGIT_LIMIT))).astype(np.int64)
        return np.minimum(cells, self.bins - 1)

    def _edge(self, cell: int) -> float:
        """The probability at the lower edge of ``cell``."""
        logit = -LOGIT_LIMIT + cell * (2 * LOGIT_LIMIT / self.bins)
        return float(1.0 / (1.0 + math.exp(-logit)))

    def metrics(self) -> dict[str, Any]:
        """The keys of :func:`~trainpipe.evaluate.metrics.classification_metrics` (with
        ``y_proba``), from the totals; plus ``roc_auc_max_error`` where ``roc_auc`` is given.

        Raises:
            TrainpipeError: no rows were fed.
        """
        if self.rows == 0:
            raise TrainpipeError("y_true and y_pred are empty: there is nothing to evaluate")
        matrix = self.confusion
        hits = np.diag(matrix).astype(np.float64)
        support = matrix.sum(axis=1)
        predicted = matrix.sum(axis=0)
        precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
        recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
        denominator = support + predicted
        f1 = np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)
        # scikit-learn's macro averages run over the classes that occur in y_true or y_pred
        seen = (support > 0) | (predicted > 0)
        result: dict[str, Any] = {
            "accuracy": float(hits.sum() / self.rows),
            "precision_macro": float(precision[seen].mean()),
            "recall_macro": float(recall[seen].mean()),
            "f1_macro": float(f1[seen].mean()),
            "per_class": per_class_scores(self.labels, precision, recall, f1, support),
            "confusion_matrix": [[int(count) for count in row] for row in matrix],
            "labels": list(self.labels),
        }
        auc = self._roc_auc(support)
        if auc is not None:
            result["roc_auc"], result["roc_auc_max_error"] = auc
        return result

    def _roc_auc(self, support: np.ndarray) -> tuple[float, float] | None:
        """Binary: the AUC of class index 1's score; multiclass: the macro one-vs-rest AUC,
        given only when every class occurs (as in the in-memory metrics)."""
        k = len(self.labels)
        if k == 2:
            return _auc(self.positives[1], self.negatives[1]) if (support > 0).all() else None
        if (support == 0).any():
            return None
        pairs = [_auc(self.positives[c], self.negatives[c]) for c in range(k)]
        return (
            float(np.mean([auc for auc, _ in pairs])),
            float(np.mean([error for _, error in pairs])),
        )

    def binary_curves(self, *, max_points: int = 200) -> dict[str, dict[str, Any]] | None:
        """The ROC and precision-recall curves of class index 1's score, as
        :func:`~trainpipe.evaluate.curves.binary_curves` returns them, one point per occupied
        bin (thinned to ``max_points``); None unless the task is binary with both classes."""
        if len(self.labels) != 2:
            return None
        positives, negatives = self.positives[1], self.negatives[1]
        total_pos, total_neg = int(positives.sum()), int(negatives.sum())
        if total_pos == 0 or total_neg == 0:
            return None
        occupied = np.flatnonzero((positives + negatives) > 0)[::-1]  # highest score first
        tp = np.cumsum(positives[occupied])
        fp = np.cumsum(negatives[occupied])
        thresholds = [self._edge(int(cell)) for cell in occupied]
        fpr = np.concatenate([[0.0], fp / total_neg])
        tpr = np.concatenate([[0.0], tp / total_pos])
        roc_thresholds = [max(thresholds[0], 1.0), *thresholds]
        precision = tp / (tp + fp)
        recall = tp / total_pos
        # scikit-learn's order: recall falling to 0, where precision is 1
        pr_precision = np.concatenate([precision[::-1], [1.0]])
        pr_recall = np.concatenate([recall[::-1], [0.0]])
        pr_thresholds = [*thresholds[::-1], thresholds[0]]
        average_precision = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
        keep = _thin(len(fpr), max_points)
        pr_keep = _thin(len(pr_precision), max_points)
        return {
            "roc": {
                "fpr": [float(v) for v in fpr[keep]],
                "tpr": [float(v) for v in tpr[keep]],
                "thresholds": [roc_thresholds[i] for i in keep],
                "auc": _auc(positives, negatives)[0],
            },
            "pr": {
                "precision": [float(v) for v in pr_precision[pr_keep]],
                "recall": [float(v) for v in pr_recall[pr_keep]],
                "thresholds": [pr_thresholds[i] for i in pr_keep],
                "average_precision": average_precision,
            },
        }


def _auc(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """AUC of two score histograms over the same bins (a tie in a bin counts half) and the
    largest error that binning can have caused: half the share of pairs that tie."""
    pairs = float(positives.sum()) * float(negatives.sum())
    below = np.cumsum(negatives) - negatives  # negatives in lower bins
    wins = float(np.sum(positives * (below + 0.5 * negatives)))
    ties = float(np.sum(positives.astype(np.float64) * negatives))
    return wins / pairs, 0.5 * ties / pairs


def _thin(count: int, max_points: int) -> np.ndarray:
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_points)).astype(np.int64))


class RegressionTotals:
    """Error sums and the target's moments over the blocks fed so far."""

    def __init__(self) -> None:
        self.rows = 0
        self.squared_error = 0.0
        self.absolute_error = 0.0
        self.mean = 0.0
        self.spread = 0.0
        """Sum of squared deviations of the target from its mean."""

    def add(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Feed one block of targets and predictions.

        Raises:
            TrainpipeError: the lengths differ or a value is NaN or infinite.
        """
        truth = np.asarray(y_true, dtype=np.float64).reshape(-1)
        predicted = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        if len(truth) != len(predicted):
            raise TrainpipeError(f"y_true has {len(truth)} rows but y_pred has {len(predicted)}")
        for name, values in (("y_true", truth), ("y_pred", predicted)):
            if not np.isfinite(values).all():
                raise TrainpipeError(f"{name} holds NaN or infinite values")
        n = len(truth)
        if n == 0:
            return
        error = truth - predicted
        self.squared_error += float(np.dot(error, error))
        self.absolute_error += float(np.abs(error).sum())
        mean = float(truth.mean())
        spread = float(np.sum((truth - mean) ** 2))
        total = self.rows + n
        delta = mean - self.mean
        self.spread += spread + delta * delta * self.rows * n / total
        self.mean += delta * n / total
        self.rows = total

    def metrics(self) -> dict[str, float]:
        """``rmse``, ``mae`` and ``r2`` as :func:`~trainpipe.evaluate.metrics.regression_metrics`
        gives them (R² is NaN for one row; for a constant target 1.0 when perfect, else 0.0).

        Raises:
            TrainpipeError: no rows were fed.
        """
        if self.rows == 0:
            raise TrainpipeError("y_true and y_pred are empty: there is nothing to evaluate")
        if self.rows < 2:
            r2 = math.nan
        elif self.spread == 0:
            r2 = 1.0 if self.squared_error == 0 else 0.0
        else:
            r2 = 1.0 - self.squared_error / self.spread
        return {
            "rmse": math.sqrt(self.squared_error / self.rows),
            "mae": self.absolute_error / self.rows,
            "r2": r2,
        }

"""Metrics accumulated block by block equal the metrics of all rows at once."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import average_precision_score, roc_auc_score

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.curves import binary_curves
from trainpipe.evaluate.incremental import (
    ClassificationTotals,
    RegressionTotals,
    one_vs_rest_logits,
)
from trainpipe.evaluate.metrics import classification_metrics, regression_metrics

pytestmark = pytest.mark.unit


def scored_rows(rows: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and logits of a model that is right more often than not."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    logits = rng.normal(0, 1.5, (rows, classes)).astype(np.float32)
    logits[np.arange(rows), y] += 1.2
    return y, logits


def fed(labels: list[str], y: np.ndarray, logits: np.ndarray, block: int) -> ClassificationTotals:
    totals = ClassificationTotals(labels)
    for start in range(0, len(y), block):
        totals.add(y[start : start + block], logits[start : start + block])
    return totals


@pytest.mark.parametrize("classes", [2, 5])
def test_classification_totals_equal_the_metrics_of_all_rows(classes: int) -> None:
    labels = [f"c{i}" for i in range(classes)]
    y, logits = scored_rows(5000, classes, seed=classes)
    streamed = fed(labels, y, logits, block=333).metrics()
    whole = classification_metrics(y, logits.argmax(axis=1), labels, y_proba=softmax(logits, 1))
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
        assert streamed[key] == pytest.approx(whole[key], abs=1e-12), key
    assert streamed["confusion_matrix"] == whole["confusion_matrix"]
    assert streamed["labels"] == whole["labels"]
    for name in labels:
        for key, value in whole["per_class"][name].items():
            assert streamed["per_class"][name][key] == pytest.approx(value, abs=1e-12)
    # The binned AUC is within its own stated bound of the exact one, and the bound is tight.
    error = streamed["roc_auc_max_error"]
    assert 0 <= error < 1e-3
    assert abs(streamed["roc_auc"] - whole["roc_auc"]) <= error + 1e-12


def test_macro_averages_run_over_the_classes_that_occur() -> None:
    labels = ["a", "b", "c", "d"]
    y = np.array([0, 0, 1, 1, 1])
    logits = np.eye(4, dtype=np.float32)[[0, 1, 1, 1, 0]] * 5  # "c" and "d" never occur
    streamed = fed(labels, y, logits, block=2).metrics()
    whole = classification_metrics(y, logits.argmax(axis=1), labels)
    assert streamed["f1_macro"] == pytest.approx(whole["f1_macro"])
    assert streamed["recall_macro"] == pytest.approx(whole["recall_macro"])
    assert "roc_auc" not in streamed  # undefined for classes absent from y_true


def test_binary_curves_from_the_totals_match_the_exact_curves() -> None:
    y, logits = scored_rows(4000, 2, seed=11)
    totals = fed(["no", "yes"], y, logits, block=500)
    curves = totals.binary_curves()
    assert curves is not None
    score = softmax(logits.astype(np.float64), 1)[:, 1]
    exact = binary_curves(y, score)
    assert curves["roc"]["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-3)
    assert curves["pr"]["average_precision"] == pytest.approx(
        average_precision_score(y, score), abs=2e-3
    )
    roc, pr = curves["roc"], curves["pr"]
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["thresholds"]) <= 0)
    assert (pr["recall"][-1], pr["precision"][-1]) == (0.0, 1.0)
    assert len(roc["fpr"]) <= 200 and len(pr["precision"]) <= 200
    assert set(curves) == set(exact) and set(roc) == set(exact["roc"])
    assert set(pr) == set(exact["pr"])
    assert fed(["a", "b", "c"], *scored_rows(10, 3, 1), block=5).binary_curves() is None


def test_confident_scores_keep_their_order_as_logits() -> None:
    # Probabilities of 1 - 1e-9 and 1 - 1e-12 round to 1.0 in float32; their logits do not.
    z = np.array([[0.0, 21.0], [0.0, 27.0], [0.0, -30.0]])
    assert np.allclose(one_vs_rest_logits(z)[:, 1], [21.0, 27.0, -30.0])
    assert np.allclose(one_vs_rest_logits(z)[:, 0], [-21.0, -27.0, 30.0])
    totals = ClassificationTotals(["no", "yes"])
    # The positive at 21 ranks below the negative at 27 and above the one at -30: AUC 0.5
    # (as float32 probabilities the first two would tie, for 0.75).
    totals.add(np.array([0, 1, 0]), z[[1, 0, 2]])
    metrics = totals.metrics()
    assert metrics["roc_auc"] == pytest.approx(0.5) and metrics["roc_auc_max_error"] == 0.0


def test_bad_blocks_are_refused() -> None:
    totals = ClassificationTotals(["a", "b"])
    with pytest.raises(TrainpipeError, match=r"shape \(2, 2\)"):
        totals.add(np.array([0, 1]), np.zeros((2, 3)))
    with pytest.raises(TrainpipeError, match="NaN or infinite"):
        totals.add(np.array([0]), np.array([[np.nan, 1.0]]))
    with pytest.raises(TrainpipeError, match="nothing to evaluate"):
        totals.metrics()
    with pytest.raises(TrainpipeError, match="at least two classes"):
        ClassificationTotals(["only"])


def test_regression_totals_equal_the_metrics_of_all_rows() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 10_001)
    predicted = y + rng.normal(0, 2, len(y))
    totals = RegressionTotals()
    for start in range(0, len(y), 997):
        totals.add(y[start : start + 997], predicted[start : start + 997])
    whole = regression_metrics(y, predicted)
    streamed = totals.metrics()
    for key in ("rmse", "mae", "r2"):
        assert streamed[key] == pytest.approx(whole[key], rel=1e-10), key

    constant = RegressionTotals()
    constant.add(np.ones(3), np.ones(3))
    assert constant.metrics()["r2"] == 1.0
    one = RegressionTotals()
    one.add(np.array([1.0]), np.array([2.0]))
    assert np.isnan(one.metrics()["r2"])
    with pytest.raises(TrainpipeError, match="y_pred holds NaN"):
        one.add(np.array([1.0]), np.array([np.inf]))

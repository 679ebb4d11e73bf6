"""Unit tests for trainpipe.evaluate.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.metrics import classification_metrics, regression_metrics

pytestmark = pytest.mark.unit

LABELS = ["cat", "dog", "bird"]
# true:  cat cat dog dog  bird bird
# pred:  cat dog dog bird bird bird
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 2, 2, 2])


def test_three_class_metrics_match_hand_computation() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, LABELS)

    # 4 of 6 correct.
    assert m["accuracy"] == pytest.approx(4 / 6)
    # cat: P=1/1 R=1/2 F1=2/3; dog: P=1/2 R=1/2 F1=1/2; bird: P=2/3 R=2/2 F1=4/5.
    assert m["precision_macro"] == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert m["recall_macro"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    assert m["per_class"]["cat"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert m["per_class"]["dog"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert m["per_class"]["bird"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert m["labels"] == LABELS
    assert "roc_auc" not in m


def test_result_types_are_plain_python() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, LABELS)
    assert type(m["accuracy"]) is float
    assert type(m["per_class"]["cat"]["support"]) is int
    assert all(type(c) is int for row in m["confusion_matrix"] for c in row)


def test_confusion_matrix_rows_are_true_class_in_label_order() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, LABELS)
    assert m["confusion_matrix"] == [
        [1, 1, 0],  # true cat: 1 predicted cat, 1 predicted dog
        [0, 1, 1],  # true dog
        [0, 0, 2],  # true bird
    ]
    # Orientation: everything truly class 0, all predicted class 1 -> row 0, column 1.
    m2 = classification_metrics(np.zeros(3, dtype=int), np.ones(3, dtype=int), ["a", "b"])
    assert m2["confusion_matrix"] == [[0, 3], [0, 0]]


def test_per_class_lists_labels_absent_from_the_data() -> None:
    m = classification_metrics(np.array([0, 1]), np.array([0, 1]), ["a", "b", "c"])
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["confusion_matrix"][2] == [0, 0, 0]
    assert m["accuracy"] == 1.0


def test_binary_roc_auc_uses_class_one_as_positive() -> None:
    y_true = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    proba = np.stack([1 - scores, scores], axis=1)
    m = classification_metrics(y_true, (scores > 0.5).astype(int), ["neg", "pos"], y_proba=proba)
    # Pairs (pos, neg): (0.35,0.1) ok, (0.35,0.4) wrong, (0.8,0.1) ok, (0.8,0.4) ok -> 3/4.
    assert m["roc_auc"] == pytest.approx(0.75)


def test_binary_roc_auc_omitted_when_only_one_class_present() -> None:
    proba = np.array([[0.8, 0.2], [0.6, 0.4]])
    m = classification_metrics(np.array([0, 0]), np.array([0, 0]), ["n", "p"], y_proba=proba)
    assert "roc_auc" not in m


def test_multiclass_roc_auc_when_all_classes_present() -> None:
    proba = np.eye(3)[Y_TRUE] * 0.7 + 0.1  # rows sum to 1, true class ranked first
    m = classification_metrics(Y_TRUE, Y_PRED, LABELS, y_proba=proba)
    assert m["roc_auc"] == pytest.approx(1.0)


def test_multiclass_roc_auc_omitted_when_a_class_is_absent() -> None:
    y_true = np.array([0, 1, 0, 1])
    proba = np.full((4, 3), 1 / 3)
    m = classification_metrics(y_true, y_true, LABELS, y_proba=proba)
    assert "roc_auc" not in m


def test_multiclass_roc_auc_rejects_logits() -> None:
    logits = np.eye(3)[Y_TRUE] * 5.0
    with pytest.raises(TrainpipeError, match="sums to 5"):
        classification_metrics(Y_TRUE, Y_PRED, LABELS, y_proba=logits)


def test_y_proba_shape_is_checked() -> None:
    with pytest.raises(TrainpipeError, match=r"y_proba must have shape \(6, 3\)"):
        classification_metrics(Y_TRUE, Y_PRED, LABELS, y_proba=np.zeros((6, 2)))


def test_length_mismatch_message() -> None:
    with pytest.raises(TrainpipeError, match="y_true has 10 rows but y_pred has 9"):
        classification_metrics(np.zeros(10, dtype=int), np.zeros(9, dtype=int), ["a", "b"])


def test_empty_inputs_rejected() -> None:
    with pytest.raises(TrainpipeError, match="empty"):
        classification_metrics(np.array([], dtype=int), np.array([], dtype=int), ["a"])


def test_index_out_of_range_message() -> None:
    with pytest.raises(TrainpipeError, match=r"y_pred holds class index 3 but labels has 3"):
        classification_metrics(np.array([0, 1]), np.array([0, 3]), LABELS)
    with pytest.raises(TrainpipeError, match=r"y_true holds class index -1"):
        classification_metrics(np.array([-1, 1]), np.array([0, 1]), LABELS)


def test_non_integer_indices_rejected_but_integral_floats_accepted() -> None:
    with pytest.raises(TrainpipeError, match=r"non-integer value 0\.5"):
        classification_metrics(np.array([0.5, 1.0]), np.array([0, 1]), LABELS)
    m = classification_metrics(np.array([0.0, 1.0]), np.array([0, 1]), LABELS)
    assert m["accuracy"] == 1.0


def test_labels_validated() -> None:
    with pytest.raises(TrainpipeError, match="labels is empty"):
        classification_metrics(np.array([0]), np.array([0]), [])
    with pytest.raises(TrainpipeError, match="'a' more than once"):
        classification_metrics(np.array([0]), np.array([0]), ["a", "a"])


def test_regression_metrics_known_values() -> None:
    # errors 0, 0, 0, 2 -> MSE 1, MAE 0.5; SS_tot around mean 2.5 is 5 -> R2 = 1 - 4/5.
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m == pytest.approx({"rmse": 1.0, "mae": 0.5, "r2": 0.2})
    assert all(type(v) is float for v in m.values())


def test_regression_perfect_fit_and_column_vectors() -> None:
    y = np.array([[1.0], [2.0], [4.0]])
    m = regression_metrics(y, y.ravel())
    assert m == {"rmse": 0.0, "mae": 0.0, "r2": 1.0}


def test_regression_single_sample_r2_is_nan() -> None:
    m = regression_metrics(np.array([3.0]), np.array([2.0]))
    assert m["rmse"] == 1.0
    assert math.isnan(m["r2"])


def test_regression_validation_messages() -> None:
    with pytest.raises(TrainpipeError, match="y_true has 3 rows but y_pred has 2"):
        regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0]))
    with pytest.raises(TrainpipeError, match="empty"):
        regression_metrics(np.array([]), np.array([]))
    with pytest.raises(TrainpipeError, match="y_pred holds NaN"):
        regression_metrics(np.array([1.0, 2.0]), np.array([1.0, np.nan]))

"""Unit tests for trainpipe.evaluate.curves and the latency helpers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trainpipe.errors import TrainpipeError
from trainpipe.evaluate.curves import binary_curves, class_balance, misclassified_samples
from trainpipe.evaluate.latency import measure_latency, summarize_latency, time_predictions

pytestmark = pytest.mark.unit


def test_binary_curves_match_sklearn_and_are_finite() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7])
    curves = binary_curves(y, s)
    roc, pr = curves["roc"], curves["pr"]
    assert roc["auc"] == pytest.approx(roc_auc_score(y, s))
    assert roc["fpr"][0] == 0.0 and roc["tpr"][0] == 0.0
    assert roc["fpr"][-1] == 1.0 and roc["tpr"][-1] == 1.0
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["thresholds"])
    assert all(np.isfinite(roc["thresholds"])) and all(np.isfinite(pr["thresholds"]))
    assert pr["recall"][0] == 1.0 and pr["recall"][-1] == 0.0


def test_binary_curves_are_thinned_keeping_both_ends() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    s = rng.random(2000)
    full = binary_curves(y, s, max_points=10_000)
    thin = binary_curves(y, s, max_points=25)
    assert len(thin["roc"]["fpr"]) <= 25 < len(full["roc"]["fpr"])
    assert thin["roc"]["fpr"][0] == full["roc"]["fpr"][0]
    assert thin["roc"]["tpr"][-1] == full["roc"]["tpr"][-1]
    assert thin["roc"]["auc"] == full["roc"]["auc"]


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1], [0.5], "rows"),
        ([0, 2], [0.1, 0.2], "0 and 1"),
        ([1, 1], [0.1, 0.2], "only class 1"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_binary_curves_reject_bad_input(y: list[int], s: list[float], match: str) -> None:
    with pytest.raises(TrainpipeError, match=match):
        binary_curves(y, s)


def test_misclassified_samples_picks_wrong_rows_in_order() -> None:
    x = np.arange(12, dtype=float).reshape(4, 3)
    found = misclassified_samples(x, [0, 1, 1, 0], [0, 0, 1, 1], ["a", "b"], limit=5)
    assert [(f["row"], f["true"], f["pred"]) for f in found] == [(1, "b", "a"), (3, "a", "b")]
    assert found[0]["pixels"] == [3.0, 4.0, 5.0]
    assert len(misclassified_samples(x, [0, 1, 1, 0], [0, 0, 1, 1], ["a", "b"], limit=1)) == 1
    with pytest.raises(TrainpipeError, match="features"):
        misclassified_samples(x[:2], [0, 1, 1], [0, 1, 1], ["a", "b"])


def test_class_balance_counts_every_class() -> None:
    assert class_balance(["b", "a", "b"], ["a", "b", "c"]) == {"a": 1, "b": 2, "c": 0}


def test_per_call_latencies_feed_the_summary() -> None:
    calls: list[int] = []
    millis = time_predictions(calls.append, [1, 2, 3], warmup=2, repeats=5)
    assert calls == [1, 2, 1, 2, 3, 1, 2] and len(millis) == 5
    summary = summarize_latency(millis)
    assert summary["latency_n"] == 5.0
    assert summary["latency_p50_ms"] == pytest.approx(float(np.median(millis)))
    assert set(measure_latency(calls.append, [1])) == set(summary)
    with pytest.raises(TrainpipeError, match="at least one"):
        summarize_latency(np.array([]))

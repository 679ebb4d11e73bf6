"""Unit tests for trainpipe.evaluate.stages.diagnose on synthetic learning curves."""

from __future__ import annotations

import pytest

from trainpipe.evaluate.stages import Diagnosis, diagnose

pytestmark = pytest.mark.unit


def history(
    train_loss: list[float],
    val_loss: list[float],
    train_accuracy: list[float] | None = None,
    val_accuracy: list[float] | None = None,
) -> list[dict[str, float]]:
    rows = []
    for i, (tl, vl) in enumerate(zip(train_loss, val_loss, strict=True)):
        row = {"epoch": float(i + 1), "train_loss": tl, "val_loss": vl}
        if train_accuracy is not None:
            row["train_accuracy"] = train_accuracy[i]
        if val_accuracy is not None:
            row["val_accuracy"] = val_accuracy[i]
        rows.append(row)
    return rows


def test_overfitting_val_loss_rises_while_train_falls() -> None:
    rows = history(
        train_loss=[1.0, 0.5, 0.3, 0.2, 0.15, 0.14],
        val_loss=[1.0, 0.6, 0.5, 0.55, 0.65, 0.8],
        train_accuracy=[0.6, 0.8, 0.9, 0.93, 0.95, 0.95],
        val_accuracy=[0.6, 0.78, 0.85, 0.86, 0.86, 0.86],
    )
    result = diagnose(rows, "classification")
    assert result.verdict == "overfitting"
    assert "validation loss rose from 0.5 (epoch 3) to 0.8" in result.reasons[0]
    assert "training loss kept falling" in result.reasons[0]
    assert "dropout" in result.reasons[-1]


def test_overfitting_by_accuracy_gap() -> None:
    rows = history(
        train_loss=[0.5, 0.3, 0.28],
        val_loss=[0.6, 0.55, 0.55],
        train_accuracy=[0.9, 0.98, 0.99],
        val_accuracy=[0.8, 0.8, 0.8],
    )
    result = diagnose(rows, "classification")
    assert result.verdict == "overfitting"
    assert any("exceeds validation accuracy by 0.19" in r for r in result.reasons)


def test_overfitting_regression_has_no_accuracy() -> None:
    rows = history(train_loss=[1.0, 0.5, 0.3, 0.2], val_loss=[1.0, 0.4, 0.6, 0.9])
    assert diagnose(rows, "regression").verdict == "overfitting"


def test_rising_val_loss_with_rising_train_loss_is_not_overfitting() -> None:
    # Both losses went up: that is instability, not overfitting.
    rows = history(
        train_loss=[0.3, 0.2, 0.25, 0.3],
        val_loss=[0.4, 0.3, 0.45, 0.5],
        train_accuracy=[0.9, 0.92, 0.91, 0.9],
        val_accuracy=[0.88, 0.9, 0.89, 0.88],
    )
    assert diagnose(rows, "classification").verdict != "overfitting"


def test_underfitting_low_train_accuracy() -> None:
    rows = history(
        train_loss=[1.1, 1.05, 1.02, 1.0],
        val_loss=[1.1, 1.06, 1.03, 1.02],
        train_accuracy=[0.4, 0.45, 0.5, 0.52],
        val_accuracy=[0.4, 0.45, 0.49, 0.5],
    )
    result = diagnose(rows, "classification")
    assert result.verdict == "underfitting"
    assert "training accuracy is only 0.52" in result.reasons
    assert "more epochs" in result.reasons[-1]


def test_underfitting_loss_still_falling_fast() -> None:
    rows = history(
        train_loss=[2.0, 1.0, 0.5, 0.25],
        val_loss=[2.0, 1.0, 0.5, 0.26],
        train_accuracy=[0.5, 0.7, 0.85, 0.9],
        val_accuracy=[0.5, 0.7, 0.85, 0.9],
    )
    result = diagnose(rows, "classification")
    assert result.verdict == "underfitting"
    assert "training loss was still falling fast in the last epochs" in result.reasons


def test_a_near_zero_training_loss_halving_is_not_underfitting() -> None:
    # The digits CNN's last epochs: 0.004 -> 0.002 is half, but a thousandth of where it began.
    rows = history(
        train_loss=[2.0, 0.5, 0.1, 0.02, 0.004, 0.003, 0.002],
        val_loss=[1.3, 0.4, 0.15, 0.08, 0.06, 0.058, 0.057],
        train_accuracy=[0.4, 0.85, 0.97, 0.995, 1.0, 1.0, 1.0],
        val_accuracy=[0.7, 0.9, 0.96, 0.98, 0.985, 0.985, 0.985],
    )
    assert diagnose(rows, "classification") == Diagnosis(
        verdict="good fit", reasons=["curves converged without a widening gap"]
    )


def test_good_fit() -> None:
    rows = history(
        train_loss=[1.0, 0.4, 0.2, 0.15, 0.14, 0.135],
        val_loss=[1.0, 0.45, 0.25, 0.2, 0.19, 0.19],
        train_accuracy=[0.7, 0.9, 0.95, 0.97, 0.97, 0.97],
        val_accuracy=[0.7, 0.88, 0.94, 0.95, 0.96, 0.96],
    )
    result = diagnose(rows, "classification")
    assert result == Diagnosis(
        verdict="good fit", reasons=["curves converged without a widening gap"]
    )
    assert result.to_dict() == {"verdict": "good fit", "reasons": result.reasons}


def test_small_val_loss_bump_is_tolerated() -> None:
    rows = history(
        train_loss=[1.0, 0.4, 0.3, 0.28, 0.27],
        val_loss=[1.0, 0.45, 0.35, 0.33, 0.36],  # +9% over the best: noise, not overfitting
        train_accuracy=[0.7, 0.88, 0.9, 0.91, 0.91],
        val_accuracy=[0.7, 0.87, 0.89, 0.9, 0.9],
    )
    assert diagnose(rows, "classification").verdict == "good fit"


def test_empty_history() -> None:
    assert diagnose([], "classification") == Diagnosis(
        verdict="unknown", reasons=["no training history"]
    )

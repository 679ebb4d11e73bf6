"""Unit tests for trainpipe.train.sanity: overfit one batch, baselines, split report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema
from trainpipe.errors import TrainingError
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import run_training
from trainpipe.train.sanity import (
    baseline_scores,
    compare_with_baseline,
    loss_floor,
    overfit_one_batch,
    run_sanity_checks,
    split_report,
)
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=gen) + 3.0 * y[:, None]
    return x, y


def test_a_capable_model_overfits_one_batch() -> None:
    x, y = _blobs(32, 0)
    result = overfit_one_batch(
        lambda: nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2)),
        x, y, task="classification",
    )  # fmt: skip
    assert result["passed"] is True
    assert result["final_loss"] <= 0.1 * result["initial_loss"]
    assert 1 <= result["steps"] <= 100 and result["batch_size"] == 32


def test_a_model_that_cannot_learn_the_batch_is_flagged() -> None:
    # Random labels on random points: a linear model cannot fit them.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 2, generator=gen)
    y = torch.randint(0, 2, (32,), generator=gen)
    result = overfit_one_batch(lambda: nn.Linear(2, 2), x, y, task="classification", steps=40)
    assert result["passed"] is False
    assert result["steps"] == 40
    assert "could not overfit one batch of 32 rows" in result["message"]
    assert result["reduction"] < 0.9


def test_identical_rows_with_different_labels_set_the_floor_the_check_measures_against() -> None:
    """A survey batch: 4 distinct answer patterns, each repeated 8 times with labels split 5:3.
    No model fits that below the labels' entropy, so the check counts the way to that floor."""
    x = torch.tensor([[a, b] for a in (0.0, 1.0) for b in (0.0, 1.0)]).repeat_interleave(8, 0)
    y = torch.tensor(([1] * 5 + [0] * 3) * 4)
    entropy = -(5 / 8 * np.log(5 / 8) + 3 / 8 * np.log(3 / 8))
    assert loss_floor("classification", x, y) == pytest.approx(entropy)
    assert loss_floor("classification", x + torch.arange(32.0)[:, None], y) == 0.0
    targets = torch.tensor([1.0, 3.0] * 16)
    assert loss_floor("regression", x, targets) == pytest.approx(1.0)
    result = overfit_one_batch(
        lambda: nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)),
        x, y, task="classification", steps=300,
    )  # fmt: skip
    assert result["passed"] is True, result["message"]
    assert result["floor"] == pytest.approx(entropy)
    assert result["final_loss"] > 0.5 * result["initial_loss"]  # far from a tenth: the floor
    assert f"of the way to {entropy:.4g}, the floor" in result["message"]


def test_overfit_regression_and_leaves_rng_and_threads_alone() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    result = overfit_one_batch(
        lambda: nn.Linear(3, 1), x, y, task="regression", steps=100, learning_rate=0.1
    )
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert result["passed"] is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"task": "ranking"}, "task"), ({"task": "regression", "steps": 0}, "steps")],
)
def test_overfit_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TrainingError, match=match):
        overfit_one_batch(lambda: nn.Linear(1, 1), torch.zeros(2, 1), torch.zeros(2), **kwargs)
    with pytest.raises(TrainingError, match="non-empty batch"):
        overfit_one_batch(
            lambda: nn.Linear(1, 1), torch.zeros(2, 1), torch.zeros(3), task="regression"
        )


def test_classification_baselines() -> None:
    x_train, y_train = _blobs(100, 3)
    y_train[:10] = 1  # class 1 is now the majority (55 vs 45)
    x_val, y_val = _blobs(40, 4)
    scores = baseline_scores(
        x_train.numpy(), y_train.numpy(), x_val.numpy(), y_val.numpy(), task="classification"
    )
    assert scores["majority"]["class_index"] == 1
    assert scores["majority"]["accuracy"] == pytest.approx(float((y_val == 1).float().mean()))
    assert scores["linear"]["accuracy"] > 0.9
    with pytest.raises(TrainingError, match="2-D"):
        baseline_scores(np.zeros(3), np.zeros(3), np.zeros((1, 1)), np.zeros(1), task="regression")


def test_regression_baselines_use_the_training_mean() -> None:
    rng = np.random.default_rng(5)
    x_train, x_val = rng.normal(size=(80, 2)), rng.normal(size=(20, 2))
    y_train, y_val = x_train[:, 0] * 2 + 1, x_val[:, 0] * 2 + 1
    scores = baseline_scores(x_train, y_train, x_val, y_val, task="regression")
    assert scores["mean"]["mse"] == pytest.approx(float(np.mean((y_val - y_train.mean()) ** 2)))
    assert scores["linear"]["mse"] < 0.01 < scores["mean"]["mse"]
    assert scores["linear"]["r2"] > 0.99


def test_split_report_counts_balance_overlap_and_missing_classes() -> None:
    schema = Schema(label="y", task="classification", features=["a"], classes=["p", "q"])
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": ["p", "q", "p", "q"]})
    val = pd.DataFrame({"a": [2.0, 9.0], "y": ["p", "p"]})
    report = split_report({"train": train, "validation": val}, schema)
    assert report["train"] == {"rows": 4, "class_balance": {"p": 2, "q": 2}}
    assert report["validation"] == {"rows": 2, "class_balance": {"p": 2, "q": 0}}
    assert report["overlap"] == {"validation": 1}
    assert any("same feature values" in w for w in report["warnings"])
    assert any("no rows of class(es) ['q']" in w for w in report["warnings"])


def test_compare_with_baseline() -> None:
    sanity = {
        "baselines": {"majority": {"accuracy": 0.6}, "linear": {"accuracy": 0.9}},
    }
    history = [{"val_accuracy": 0.5}, {"val_accuracy": 0.8}]
    stronger = compare_with_baseline(sanity, history, task="classification")
    assert stronger is not None and stronger["baseline"] == "linear"
    assert (stronger["beats"], stronger["worse"]) == (False, True)
    assert (stronger["model"], stronger["baseline_value"]) == (0.8, 0.9)
    assert stronger["scores"] == {"majority": 0.6, "linear": 0.9}
    assert (
        "0.8 is below the linear baseline's 0.9 (the stronger of majority 0.6 and linear 0.9)"
        in (stronger["message"])
    )
    trivial = compare_with_baseline(sanity, history, task="classification", baseline="trivial")
    assert trivial is not None and trivial["beats"] is True and trivial["baseline"] == "majority"
    assert (trivial["model"], trivial["baseline_value"]) == (0.8, 0.6)
    # beating the majority class is not the whole story when the linear model is ahead
    assert "the linear baseline scores 0.9, better than the model" in trivial["message"]
    linear = compare_with_baseline(sanity, history, task="classification", baseline="linear")
    assert linear is not None and linear["beats"] is False
    assert "below the linear baseline's 0.9" in linear["message"]
    tie = compare_with_baseline(sanity, [{"val_accuracy": 0.9}], task="classification")
    assert tie is not None and (tie["beats"], tie["worse"]) == (False, False)
    assert "equal to the linear baseline's 0.9" in tie["message"]
    regression = compare_with_baseline(
        {"baselines": {"mean": {"mse": 1.0}, "linear": {"mse": 0.5}}},
        [{"val_loss": 0.7}],
        task="regression",
    )
    # lower is better: the stronger baseline is the lower mse, and 0.7 is worse than it
    assert regression is not None and regression["baseline"] == "linear"
    assert (
        regression["worse"] is True
        and "0.7 is above the linear baseline's 0.5" in (regression["message"])
    )
    only_trivial = compare_with_baseline(
        {"baselines": {"majority": {"accuracy": 0.6}}}, history, task="classification"
    )
    assert only_trivial is not None and only_trivial["baseline"] == "majority"
    assert compare_with_baseline(None, history, task="classification") is None
    assert compare_with_baseline(sanity, [], task="classification") is None
    with pytest.raises(TrainingError, match=r"evaluate\.baseline must be one of stronger"):
        compare_with_baseline(sanity, history, task="classification", baseline="forest")


def _config(**train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "seed": 3,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"epochs": 2, "batch_size": 16, "nproc_per_node": 1,
                      "backend": "inprocess", "num_threads": 1, **train},
            # without sanity checks there is no baseline for the gate: opt out explicitly
            "evaluate": {"require_beat_baseline": train.get("sanity_checks", True)},
        }
    )  # fmt: skip


def test_run_sanity_checks_on_iris(iris_splits: dict[str, str], tmp_path: Path) -> None:
    spec = TrainSpec(
        config=_config(),
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "m"),
    )
    logs: list[str] = []
    result = run_sanity_checks(spec, log=logs.append)
    assert set(result) == {"baselines", "overfit_one_batch", "splits", "seconds"}
    assert result["overfit_one_batch"]["passed"] is True
    assert 0.2 < result["baselines"]["majority"]["accuracy"] < 0.5  # three balanced classes
    assert result["baselines"]["linear"]["accuracy"] > 0.8
    assert set(result["splits"]["train"]["class_balance"]) == {"0", "1", "2"}
    assert any("baselines on validation" in line for line in logs)
    json.dumps(result)


def test_run_training_saves_the_sanity_result(iris_splits: dict[str, str], tmp_path: Path) -> None:
    for enabled, name in ((True, "on"), (False, "off")):
        spec = TrainSpec(
            config=_config(sanity_checks=enabled, epochs=1),
            train_data=iris_splits["train"],
            validation_data=iris_splits["validation"],
            output=str(tmp_path / name),
        )
        run_training(spec, DistContext(), log=lambda line: None)
        sanity = json.loads((tmp_path / name / "metrics.json").read_text())["sanity"]
        assert (sanity is not None) is enabled


def test_a_resumed_run_keeps_the_first_sanity_result(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    """The checks run once, before the first step; a restart resumes with their result."""
    spec = TrainSpec(
        config=_config(epochs=1),
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
        checkpoints=str(tmp_path / "checkpoints"),
    )
    first: list[str] = []
    run_training(spec, DistContext(), log=first.append)
    again: list[str] = []
    run_training(spec, DistContext(), log=again.append)  # resumes from the last checkpoint
    assert any("sanity: baselines" in line for line in first)
    assert not any("sanity:" in line for line in again)
    assert any("resumed from checkpoint" in line for line in again)
    sanity = json.loads((tmp_path / "model" / "metrics.json").read_text())["sanity"]
    assert sanity is not None and sanity["overfit_one_batch"]["passed"] is True

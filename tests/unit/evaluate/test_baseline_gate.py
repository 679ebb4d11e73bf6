"""The default gate: a model that does worse on validation than the stronger of the trivial and
linear baselines is not blessed, and the verdict names the baseline and both scores.

Each case writes a small untrained model with the training record the gate reads (the last
epoch's validation score and the sanity checks' baseline scores), so the numbers under test are
set here, not learned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from html_tree import parse_html
from trainpipe.config import ModelConfig, RunConfig
from trainpipe.data.dataset import Schema, write_dataset
from trainpipe.errors import ConfigError
from trainpipe.evaluate.gate import GateResult
from trainpipe.evaluate.stages import Evaluation, evaluate_model, summary_markdown, write_report
from trainpipe.models import build_model
from trainpipe.train.artifacts import save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

FEATURES = ["a", "b", "c"]


def _model(
    tmp_path: Path,
    task: str,
    history: dict[str, float],
    baselines: dict[str, Any],
    classes: tuple[str, ...] = ("no", "yes"),
) -> str:
    """An untrained MLP whose metrics.json says ``history`` (one epoch) and ``baselines``."""
    model_config = ModelConfig(kind="mlp", hidden=[4], dropout=0.0)
    classes = list(classes) if task == "classification" else []
    output = str(tmp_path / "model")
    save_model(
        output,
        build_model(model_config, len(FEATURES), len(classes) or 1),
        model_config=model_config,
        task=task,
        label="label",
        preprocess=Preprocess(features=FEATURES, mean=[0.0] * 3, std=[1.0] * 3, classes=classes),
        metrics={
            "history": [{"epoch": 1.0, "train_loss": 0.5, **history}],
            "sanity": {"baselines": baselines},
        },
    )
    return output


def _test_split(tmp_path: Path, task: str) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 3)), columns=FEATURES)
    classification = task == "classification"
    frame["label"] = np.where(frame["a"] > 0, "yes", "no") if classification else frame["b"]
    schema = Schema(
        label="label", task=task, features=FEATURES, classes=["no", "yes"] if classification else []
    )
    path = str(tmp_path / "test")
    write_dataset(path, frame, schema)
    return path


def _evaluate(
    tmp_path: Path,
    history: dict[str, float],
    baselines: dict[str, Any],
    *,
    task: str = "classification",
    **evaluate: Any,
) -> Evaluation:
    """``evaluate_model`` under the default gate, with ``evaluate`` settings on top."""
    config = RunConfig.from_dict(
        {
            "task": task,
            "data": {"source": "builtin:digits", "label": "label"},
            "evaluate": {"latency_samples": 2, "champion": {"enabled": False}, **evaluate},
        }
    )
    model = _model(tmp_path, task, history, baselines)
    return evaluate_model(config, model, _test_split(tmp_path, task))


BASELINES = {"majority": {"accuracy": 0.5}, "linear": {"accuracy": 0.86}}


def _gate(evaluation: Evaluation) -> GateResult:
    assert evaluation.gate is not None
    return evaluation.gate


def test_the_default_gate_refuses_a_model_the_linear_baseline_beats(tmp_path: Path) -> None:
    """0.81 beats the majority class (0.5) but not the linear model (0.86): not blessed."""
    evaluation = _evaluate(tmp_path, {"val_loss": 0.4, "val_accuracy": 0.81}, BASELINES)
    gate = _gate(evaluation)
    assert not gate.blessed and not evaluation.blessed
    assert gate.reason == "not blessed: validation accuracy 0.81 < linear baseline 0.86"
    assert evaluation.promotion is None  # an unblessed model is not compared with the champion
    assert evaluation.baseline is not None
    assert evaluation.baseline["baseline"] == "linear" and evaluation.baseline["worse"] is True

    markdown = summary_markdown(evaluation, title="t")
    assert "**Gate:** not blessed: validation accuracy 0.81 < linear baseline 0.86" in markdown
    assert "**Baseline:** **does worse than the linear baseline**: validation accuracy" in markdown
    root = parse_html(write_report(evaluation, title="t", validation=None))
    assert "validation accuracy 0.81 < linear baseline 0.86" in root.find_id("gate").all_text()
    requirement = [td.all_text() for td in root.find_id("gate").iter("td")]
    assert ">= linear baseline 0.8600" in requirement and "0.8100" in requirement
    verdict = root.find_id("baseline-verdict").all_text()
    assert verdict.startswith("does worse than the linear baseline")
    assert "beats the" not in verdict  # beating the majority class is not beating the baseline


def test_a_class_without_test_rows_is_not_blessed(tmp_path: Path) -> None:
    """The test split holds no row of 'maybe' (a split that could not stratify): its recall is
    0 by convention, not measured, so the model is not blessed, however good the rest."""
    config = RunConfig.from_dict(
        {
            "data": {"source": "builtin:digits", "label": "label"},
            "evaluate": {"latency_samples": 2, "champion": {"enabled": False},
                         "require_beat_baseline": False},
        }
    )  # fmt: skip
    history = {"val_loss": 0.2, "val_accuracy": 0.9}
    model = _model(tmp_path, "classification", history, BASELINES, ("maybe", "no", "yes"))
    evaluation = evaluate_model(config, model, _test_split(tmp_path, "classification"))
    gate = _gate(evaluation)
    assert not gate.blessed
    assert gate.reason == "not blessed: test rows of class 'maybe' 0 < 1"
    assert evaluation.metrics["per_class"]["maybe"]["support"] == 0


def test_opting_out_blesses_it_and_still_flags_the_comparison(tmp_path: Path) -> None:
    evaluation = _evaluate(
        tmp_path,
        {"val_loss": 0.4, "val_accuracy": 0.81},
        BASELINES,
        require_beat_baseline=False,
    )
    gate = _gate(evaluation)
    assert gate.blessed and gate.checks == ()
    assert gate.reason == "blessed: no thresholds configured"
    assert evaluation.baseline is not None and evaluation.baseline["worse"] is True
    assert "below the linear baseline's 0.86" in evaluation.baseline["message"]


def test_a_model_that_beats_both_baselines_is_blessed(tmp_path: Path) -> None:
    evaluation = _evaluate(tmp_path, {"val_loss": 0.2, "val_accuracy": 0.9}, BASELINES)
    gate = _gate(evaluation)
    assert gate.blessed
    assert (
        gate.reason
        == "blessed: 1/1 thresholds hold (validation accuracy 0.9 >= linear baseline 0.86)"
    )
    root = parse_html(write_report(evaluation, title="t", validation=None))
    assert root.find_id("baseline-verdict").all_text().startswith("beats the linear baseline")


def test_a_tie_with_the_stronger_baseline_is_blessed(tmp_path: Path) -> None:
    """ "Does worse" refuses; equal validation scores (both perfect on a small split) do not."""
    both = {"majority": {"accuracy": 0.5}, "linear": {"accuracy": 1.0}}
    evaluation = _evaluate(tmp_path, {"val_loss": 0.01, "val_accuracy": 1.0}, both)
    assert _gate(evaluation).blessed
    root = parse_html(write_report(evaluation, title="t", validation=None))
    assert root.find_id("baseline-verdict").all_text().startswith("ties with the linear baseline")


def test_baseline_trivial_compares_with_the_majority_class_only(tmp_path: Path) -> None:
    evaluation = _evaluate(
        tmp_path, {"val_loss": 0.4, "val_accuracy": 0.81}, BASELINES, baseline="trivial"
    )
    gate = _gate(evaluation)
    assert gate.blessed
    assert "validation accuracy 0.81 >= majority baseline 0.5" in gate.reason
    assert evaluation.baseline is not None
    # the report still says the linear model did better
    assert (
        "the linear baseline scores 0.86, better than the model" in (evaluation.baseline["message"])
    )


def test_regression_compares_the_standardized_mse_lower_is_better(tmp_path: Path) -> None:
    baselines = {"mean": {"mse": 1.0, "r2": 0.0}, "linear": {"mse": 0.5, "r2": 0.5}}
    worse = _evaluate(tmp_path / "worse", {"val_loss": 0.7}, baselines, task="regression")
    assert _gate(worse).reason == (
        "not blessed: validation mse (standardized) 0.7 > linear baseline 0.5"
    )
    better = _evaluate(tmp_path / "better", {"val_loss": 0.3}, baselines, task="regression")
    assert _gate(better).blessed


def test_no_baseline_scores_refuse_with_what_to_do(tmp_path: Path) -> None:
    """A model whose training record has no baselines (e.g. trained by an older trainpipe)."""
    evaluation = _evaluate(tmp_path, {"val_loss": 0.2, "val_accuracy": 0.9}, {})
    gate = _gate(evaluation)
    assert not gate.blessed
    assert gate.reason.startswith(
        "not blessed: validation accuracy cannot be compared with the stronger baseline"
    )
    assert "train.sanity_checks: true" in gate.reason
    assert "evaluate.require_beat_baseline: false" in gate.reason


def test_the_default_needs_the_sanity_checks_that_score_the_baselines() -> None:
    base: dict[str, Any] = {"data": {"source": "builtin:iris"}, "train": {"sanity_checks": False}}
    with pytest.raises(ConfigError) as excinfo:
        RunConfig.from_dict(base)
    message = str(excinfo.value)
    assert "evaluate.require_beat_baseline is true (the default)" in message
    assert "train.sanity_checks is false" in message
    assert "evaluate.require_beat_baseline: false" in message  # what to do
    opted_out = RunConfig.from_dict({**base, "evaluate": {"require_beat_baseline": False}})
    assert opted_out.evaluate.baseline == "stronger"
    with pytest.raises(ConfigError, match=r"evaluate\.baseline"):
        RunConfig.from_dict({"data": {"source": "builtin:iris"}, "evaluate": {"baseline": "best"}})

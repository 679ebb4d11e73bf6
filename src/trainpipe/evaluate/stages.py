"""The validate and evaluate stages: metrics, a fit diagnosis, the gate and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.evaluate.champion import compare_classifiers, compare_regressors, recall_floors
from trainpipe.evaluate.gate import GateResult, evaluate_gate
from trainpipe.evaluate.latency import measure_latency
from trainpipe.evaluate.metrics import classification_metrics, regression_metrics
from trainpipe.evaluate.report import render_report
from trainpipe.storage import open_store
from trainpipe.train.artifacts import METRICS_KEY, LoadedModel, load_model

EVALUATION_KEY = "evaluation.json"


@dataclass(kw_only=True)
class Diagnosis:
    """How the learning curves look: ``good fit``, ``overfitting`` or ``underfitting``."""

    verdict: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"verdict": self.verdict, "reasons": self.reasons}


@dataclass(kw_only=True)
class Evaluation:
    """Metrics of one model on one split, and (for the test split) the gate's verdict."""

    split: str
    metrics: dict[str, Any]
    gate: GateResult | None = None
    diagnosis: Diagnosis | None = None
    promotion: dict[str, Any] | None = None
    """The champion comparison: ``promote`` (bool), ``reason`` and its numbers."""
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def blessed(self) -> bool:
        """Whether the gate blessed the model (False when no gate ran)."""
        return self.gate is not None and self.gate.blessed

    def scalars(self) -> dict[str, float]:
        """Every scalar metric, for KFP's Metrics artifact."""
        return {
            k: float(v)
            for k, v in self.metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "split": self.split,
            "metrics": self.metrics,
            "gate": self.gate.to_dict() if self.gate else None,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
            "promotion": self.promotion,
        }


def model_metrics(model: LoadedModel, frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """Classification or regression metrics of ``model`` on a labelled table."""
    if model.task == "classification":
        index = {c: i for i, c in enumerate(model.classes)}
        y_true = frame[schema.label].astype(str).map(index).to_numpy()
        return classification_metrics(
            y_true, model.predict(frame), model.classes, y_proba=model.predict_proba(frame)
        )
    y_true = frame[schema.label].to_numpy(dtype=np.float64)
    return regression_metrics(y_true, model.predict(frame))


def diagnose(history: list[dict[str, float]], task: str) -> Diagnosis:
    """Read the learning curves for over- or underfitting.

    Overfitting: validation loss ended well above its best while training loss kept falling, or
    training accuracy is far above validation accuracy. Underfitting: training accuracy stays low,
    or the loss was still falling fast at the end (train longer).
    """
    if not history:
        return Diagnosis(verdict="unknown", reasons=["no training history"])
    reasons: list[str] = []
    last = history[-1]
    val = [row["val_loss"] for row in history]
    best = int(np.argmin(val))
    rose = len(history) >= 3 and best < len(history) - 1 and val[-1] > 1.2 * val[best] + 1e-3
    if rose and history[-1]["train_loss"] < history[best]["train_loss"]:
        reasons.append(
            f"validation loss rose from {val[best]:.4g} (epoch {best + 1}) to {val[-1]:.4g} "
            "while training loss kept falling"
        )
    if task == "classification":
        gap = last.get("train_accuracy", 0.0) - last.get("val_accuracy", 0.0)
        if gap > 0.1:
            reasons.append(f"training accuracy exceeds validation accuracy by {gap:.2f}")
    if reasons:
        return Diagnosis(
            verdict="overfitting",
            reasons=[*reasons, "try more dropout or weight decay, fewer epochs, or more data"],
        )
    if task == "classification" and last.get("train_accuracy", 1.0) < 0.7:
        reasons.append(f"training accuracy is only {last['train_accuracy']:.2f}")
    if len(history) >= 3:
        earlier = history[-3]["train_loss"]
        if earlier > 0 and (earlier - last["train_loss"]) / earlier > 0.25:
            reasons.append("training loss was still falling fast in the last epochs")
    if reasons:
        return Diagnosis(
            verdict="underfitting",
            reasons=[*reasons, "try more epochs, a higher learning rate or a larger model"],
        )
    return Diagnosis(verdict="good fit", reasons=["curves converged without a widening gap"])


def validate_model(model_location: str, validation_data: str) -> Evaluation:
    """Validation-set metrics and the learning-curve diagnosis of a trained model."""
    model = load_model(model_location)
    frame, schema = read_dataset(validation_data)
    history = open_store(model_location).read_json(METRICS_KEY)["history"]
    return Evaluation(
        split="validation",
        metrics=model_metrics(model, frame, schema),
        diagnosis=diagnose(history, model.task),
        history=history,
    )


def evaluate_model(config: RunConfig, model_location: str, test_data: str) -> Evaluation:
    """Test-set metrics, single-sample latency, and the gate that decides the blessing."""
    model = load_model(model_location)
    frame, schema = read_dataset(test_data)
    metrics = model_metrics(model, frame, schema)
    features = model.preprocess.transform_features(frame)
    count = min(config.evaluate.latency_samples, len(features))
    samples = [features[i : i + 1] for i in range(count)]
    metrics |= measure_latency(model.predict_tensor, samples)
    column = config.evaluate.sensitive_column
    if column and model.task == "classification":
        from trainpipe.data.quality import bias_report

        index = {c: i for i, c in enumerate(model.classes)}
        y_true = frame[schema.label].astype(str).map(index).to_numpy()
        metrics["bias"] = bias_report(
            frame, y_true, model.predict(frame), column=column, labels=model.classes
        )
    history = open_store(model_location).read_json(METRICS_KEY)["history"]
    gate = evaluate_gate(metrics, config.evaluate.thresholds)
    if config.evaluate.recall_floors and "per_class" in metrics:
        floors = recall_floors(metrics["per_class"], config.evaluate.recall_floors)
        checks = (*gate.checks, *floors)
        gate = GateResult(blessed=all(c.passed for c in checks), checks=checks)
    promotion = compare_with_champion(config, model, frame, schema) if gate.blessed else None
    return Evaluation(
        split="test", metrics=metrics, gate=gate, promotion=promotion, history=history
    )


def compare_with_champion(
    config: RunConfig, model: LoadedModel, frame: pd.DataFrame, schema: Schema
) -> dict[str, Any]:
    """Should ``model`` replace the registry's champion? Compared on the same test rows.

    With no champion yet the model is promoted; a champion that cannot score these rows (other
    features or classes) is kept, with the reason, for a person to decide.
    """
    from trainpipe.errors import TrainpipeError
    from trainpipe.registry import ModelRef, ModelRegistry

    settings = config.evaluate.champion
    if not settings.enabled:
        return {"promote": False, "reason": "champion comparison disabled"}
    registry = ModelRegistry.open(config.registry.uri)
    name = config.registry.model_name
    try:
        aliases = registry.aliases(name)
    except TrainpipeError as exc:
        return {"promote": False, "reason": f"cannot read the registry: {exc}"}
    if settings.alias not in aliases:
        return {"promote": True, "reason": f"no {name}@{settings.alias} yet"}
    version = aliases[settings.alias]
    try:
        champion = registry.load(ModelRef(name=name, version=version))
        if champion.classes != model.classes or champion.task != model.task:
            raise TrainpipeError("it predicts other classes")
        champion_pred = champion.predict(frame)
    except TrainpipeError as exc:
        return {
            "promote": False,
            "champion_version": version,
            "reason": f"{name}:{version} cannot be compared on this test set ({exc}); promote "
            "by hand with trainpipe registry promote",
        }
    challenger_pred = model.predict(frame)
    if model.task == "classification":
        index = {c: i for i, c in enumerate(model.classes)}
        y_true = frame[schema.label].astype(str).map(index).to_numpy()
        result = compare_classifiers(
            y_true, challenger_pred, champion_pred, method=settings.method,
            metric=settings.metric, alpha=settings.alpha,
            min_improvement=settings.min_improvement, seed=config.seed,
        )  # fmt: skip
    else:
        metric = "rmse" if settings.metric == "accuracy" else settings.metric
        y_true = frame[schema.label].to_numpy(dtype=np.float64)
        result = compare_regressors(
            y_true, challenger_pred, champion_pred, metric=metric, alpha=settings.alpha,
            min_improvement=settings.min_improvement, seed=config.seed,
        )  # fmt: skip
    return {**result.to_dict(), "champion_version": version}


def write_report(evaluation: Evaluation, *, title: str, validation: Evaluation | None) -> str:
    """The HTML report of a run: loss curves, confusion matrix, metrics table, gate."""
    extra: list[tuple[str, str]] = []
    if validation is not None and validation.diagnosis is not None:
        items = "".join(f"<li>{_escape(r)}</li>" for r in validation.diagnosis.reasons)
        extra.append(
            (
                "Learning-curve diagnosis",
                f'<p id="diagnosis"><strong>{_escape(validation.diagnosis.verdict)}</strong></p>'
                f"<ul>{items}</ul>",
            )
        )
    return render_report(
        title=title,
        metrics=evaluation.metrics,
        history=evaluation.history,
        confusion=evaluation.metrics.get("confusion_matrix"),
        labels=evaluation.metrics.get("labels"),
        gate=evaluation.gate,
        extra_sections=extra,
    )


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)

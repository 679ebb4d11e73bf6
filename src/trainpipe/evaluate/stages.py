"""The validate and evaluate stages: metrics, a fit diagnosis, the gate and the report."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.table_input import read_input_dataset
from trainpipe.evaluate.champion import compare_classifiers, compare_regressors, recall_floors
from trainpipe.evaluate.curves import binary_curves, class_balance, misclassified_samples
from trainpipe.evaluate.gate import Check, GateResult, evaluate_gate
from trainpipe.evaluate.latency import summarize_latency, time_predictions
from trainpipe.evaluate.metrics import classification_metrics, regression_metrics
from trainpipe.evaluate.report import ReportDetails, baseline_verdict, render_report
from trainpipe.storage.factory import open_store
from trainpipe.train.artifacts import LoadedModel, load_model
from trainpipe.train.input_report import UnseenCategoryWarning
from trainpipe.train.model_files import METRICS_KEY
from trainpipe.train.sanity import compare_with_baseline
from trainpipe.train.stream_mode import read_schema, scoring_decision

if TYPE_CHECKING:
    from trainpipe.evaluate.streamed import StreamedScores

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
    baseline: dict[str, Any] | None = None
    """The model vs the configured baseline on validation (``beats``, ``message``, numbers)."""
    details: dict[str, Any] = field(default_factory=dict)
    """What only the report shows: curves, misclassified rows, latencies, resources, sanity."""

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
            "baseline": self.baseline,
            "sanity": self.details.get("sanity"),
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
    or the loss was still falling fast at the end (train longer): by more than a quarter over
    the last two epochs, and by more than 5% of the first epoch's loss (a loss already near zero
    halves from noise alone: 0.004 to 0.002 is no reason to train longer).
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
        earlier, first = history[-3]["train_loss"], history[0]["train_loss"]
        fall = earlier - last["train_loss"]
        if earlier > 0 and fall / earlier > 0.25 and fall > 0.05 * abs(first):
            reasons.append("training loss was still falling fast in the last epochs")
    if reasons:
        return Diagnosis(
            verdict="underfitting",
            reasons=[*reasons, "try more epochs, a higher learning rate or a larger model"],
        )
    return Diagnosis(verdict="good fit", reasons=["curves converged without a widening gap"])


def read_model_data(
    model: LoadedModel, location: str, config: RunConfig | None
) -> tuple[pd.DataFrame, Schema]:
    """The dataset at ``location`` for scoring ``model``: a trainpipe dataset as written or, with
    the run ``config``, a plain table converted by the column plan the model was trained with
    (:func:`~trainpipe.data.table_input.read_input_dataset`)."""
    if config is None:
        return read_dataset(location)
    preprocess = model.preprocess
    reference = Schema(
        label=model.label,
        task=model.task,
        features=list(preprocess.features),
        classes=list(preprocess.classes),
        categorical=list(preprocess.categories),
        text=[preprocess.text] if preprocess.text else [],
        column_roles=dict(preprocess.column_roles),
    )
    return read_input_dataset(location, config, reference=reference)


def validate_model(
    model_location: str,
    validation_data: str,
    config: RunConfig | None = None,
    *,
    log: Callable[[str], None] = print_line,
) -> Evaluation:
    """Validation-set metrics and the learning-curve diagnosis of a trained model; with the run
    ``config``, the validation data may be a plain table (:func:`read_model_data`), and a large
    trainpipe dataset is scored as a stream (:func:`scoring_decision`, ``log`` says so)."""
    model = load_model(model_location)
    history = open_store(model_location).read_json(METRICS_KEY)["history"]
    streamed = _score_streamed(model, validation_data, config, "validation", log=log)
    if streamed is not None:
        metrics = {**streamed.metrics(), "streamed": streamed.summary()}
    else:
        frame, schema = read_model_data(model, validation_data, config)
        metrics = model_metrics(model, frame, schema)
    return Evaluation(
        split="validation",
        metrics=metrics,
        diagnosis=diagnose(history, model.task),
        history=history,
    )


def _score_streamed(
    model: LoadedModel,
    location: str,
    config: RunConfig | None,
    split: str,
    *,
    log: Callable[[str], None],
    sample_rows: int = 0,
    latency_rows: int = 0,
) -> StreamedScores | None:
    """The split scored one row group at a time, or None where it is read into memory."""
    if config is None:
        return None
    decision = scoring_decision(config, location, split)
    if not decision.stream:
        return None
    from trainpipe.evaluate.streamed import score_streamed

    log(f"[trainpipe] {decision.reason}")
    column = config.evaluate.sensitive_column
    image = len(model.description.get("model", {}).get("image_shape") or []) == 3
    scored = score_streamed(
        model,
        location,
        read_schema(location),
        seed=config.seed,
        num_workers=config.train.stream.num_workers,
        prefetch_factor=config.train.stream.prefetch_factor,
        sample_rows=sample_rows,
        latency_rows=latency_rows,
        extra_columns=[column] if column and sample_rows else [],
        misclassified_image=image and split == "test",
    )
    if scored.report.unseen:
        warnings.warn(
            UnseenCategoryWarning(scored.report.unseen_message(), scored.report.unseen),
            stacklevel=2,
        )
    if sample_rows and len(scored.sample) < scored.rows:
        log(
            f"[trainpipe] {scored.rows:,} {split} rows scored in {scored.blocks} blocks; the "
            f"champion comparison, bias report and regression scatter use a seeded sample of "
            f"{len(scored.sample):,} of them (evaluate.stream_sample_rows)"
        )
    return scored


def evaluate_model(
    config: RunConfig,
    model_location: str,
    test_data: str,
    *,
    log: Callable[[str], None] = print_line,
) -> Evaluation:
    """Test-set metrics, single-sample latency, the baseline check, and the blessing gate.

    The gate holds the configured thresholds and recall floors and, unless
    ``evaluate.require_beat_baseline`` is off, the check that the model does not do worse on
    validation than ``evaluate.baseline`` (by default the stronger of the trivial and linear
    baselines).

    ``details`` carries what the report draws: ROC/PR curves (binary tasks), misclassified rows
    (image data), per-sample latencies, the training job's resource samples, its sanity checks
    and the split report.

    A large trainpipe dataset is scored as a stream (:func:`scoring_decision`, ``log`` says so):
    the metrics, curves and class balance cover every row; the champion comparison, the bias
    report and the regression scatter a seeded sample of ``evaluate.stream_sample_rows``.
    """
    model = load_model(model_location)
    streamed = _score_streamed(
        model,
        test_data,
        config,
        "test",
        log=log,
        sample_rows=config.evaluate.stream_sample_rows,
        latency_rows=config.evaluate.latency_samples,
    )
    if streamed is not None:
        # What needs rows gets the seeded sample; the metrics and curves cover every row.
        frame, schema = streamed.sample, read_schema(test_data)
        metrics = {**streamed.metrics(), "streamed": streamed.summary()}
        features = streamed.latency_inputs
    else:
        frame, schema = read_model_data(model, test_data, config)
        metrics = model_metrics(model, frame, schema)
        features = model.preprocess.transform_features(frame)
    count = min(config.evaluate.latency_samples, len(features))
    samples = [features[i : i + 1] for i in range(count)]
    latencies = time_predictions(model.predict_tensor, samples)
    metrics |= summarize_latency(latencies)
    column = config.evaluate.sensitive_column
    if column and model.task == "classification":
        from trainpipe.data.quality import bias_report

        index = {c: i for i, c in enumerate(model.classes)}
        y_true = frame[schema.label].astype(str).map(index).to_numpy()
        metrics["bias"] = bias_report(
            frame, y_true, model.predict(frame), column=column, labels=model.classes
        )
        if streamed is not None:
            metrics["bias"]["sample_rows"] = len(frame)
    trained = open_store(model_location).read_json(METRICS_KEY)
    history = trained["history"]
    sanity = trained.get("sanity")
    baseline = compare_with_baseline(
        sanity, history, task=model.task, baseline=config.evaluate.baseline
    )
    gate = evaluate_gate(metrics, config.evaluate.thresholds)
    if config.evaluate.recall_floors and "per_class" in metrics:
        floors = recall_floors(metrics["per_class"], config.evaluate.recall_floors)
        checks = (*gate.checks, *floors)
        gate = GateResult(blessed=all(c.passed for c in checks), checks=checks)
    if config.evaluate.require_beat_baseline:
        checks = (*gate.checks, _baseline_check(baseline, model.task, config.evaluate.baseline))
        gate = GateResult(blessed=all(c.passed for c in checks), checks=checks)
    untested = untested_classes(metrics)
    if untested:
        checks = (*gate.checks, *untested)
        gate = GateResult(blessed=False, checks=checks)
    promotion = compare_with_champion(config, model, frame, schema) if gate.blessed else None
    if promotion is not None and streamed is not None:
        promotion["sample_rows"] = len(frame)
    details = (
        _details(model, frame, schema, trained)
        if streamed is None
        else _streamed_details(model, streamed, trained)
    )
    details["latencies_ms"] = [float(v) for v in latencies]
    return Evaluation(
        split="test",
        metrics=metrics,
        gate=gate,
        promotion=promotion,
        history=history,
        baseline=baseline,
        details=details,
    )


def untested_classes(metrics: Mapping[str, Any]) -> tuple[Check, ...]:
    """A failed gate check for each class the test rows do not hold (support 0): the metrics
    say nothing of how the model does on it (its recall there is 0 by convention, not by
    measurement), so such a model is not blessed."""
    per_class = metrics.get("per_class")
    if not isinstance(per_class, Mapping):
        return ()
    return tuple(
        Check(
            metric=f"test rows of class {name!r}", op=">=", threshold=1.0, value=0.0, passed=False
        )
        for name, scores in per_class.items()
        if isinstance(scores, Mapping) and scores.get("support") == 0
    )


def _baseline_check(baseline: dict[str, Any] | None, task: str, kind: str) -> Check:
    """The gate check for ``evaluate.require_beat_baseline``: the model's validation score must
    not be worse than the baseline's (a tie passes); failed when there is nothing to compare."""
    classification = task == "classification"
    metric = "validation accuracy" if classification else "validation mse (standardized)"
    op = ">=" if classification else "<="
    if baseline is None:
        what = "stronger baseline" if kind == "stronger" else f"{kind} baseline"
        return Check(
            metric=metric, op=op, threshold=0.0, value=None, passed=False,
            against=f"{what}: the model's metrics.json has no baseline scores or no validation "
            "history (train with train.sanity_checks: true, or set "
            "evaluate.require_beat_baseline: false)",
        )  # fmt: skip
    return Check(
        metric=metric,
        op=op,
        threshold=float(baseline["baseline_value"]),
        value=float(baseline["model"]),
        passed=not baseline["worse"],
        against=f"{baseline['baseline']} baseline",
    )


def _common_details(model: LoadedModel, trained: dict[str, Any]) -> dict[str, Any]:
    sanity = trained.get("sanity") or None
    image_shape = list(model.description.get("model", {}).get("image_shape") or [])
    details: dict[str, Any] = {
        "task": model.task,
        "n_classes": len(model.classes),
        "image_shape": image_shape,
        "resources": list(trained.get("resources") or []),
        "sanity": sanity,
    }
    return details


def _streamed_details(
    model: LoadedModel, streamed: StreamedScores, trained: dict[str, Any]
) -> dict[str, Any]:
    """:func:`_details` of a streamed test split: balance and curves from the totals, the
    regression scatter from the sample, the first misclassified images from the pass."""
    from trainpipe.evaluate.incremental import ClassificationTotals

    details = _common_details(model, trained)
    splits = dict((details["sanity"] or {}).get("splits") or {})
    test_entry: dict[str, Any] = {"rows": streamed.rows}
    totals = streamed.totals
    if isinstance(totals, ClassificationTotals):
        support = totals.confusion.sum(axis=1)
        test_entry["class_balance"] = {
            name: int(count) for name, count in zip(totals.labels, support, strict=True)
        }
        curves = totals.binary_curves()
        if curves is not None:
            details["curves"] = curves
        if streamed.misclassified:
            details["misclassified"] = streamed.misclassified
    else:
        sample = streamed.sample
        actual = sample[model.label].to_numpy(dtype=np.float64)
        predicted = model.predict(sample).tolist() if len(sample) else []
        details["predictions"] = list(zip(actual.tolist(), predicted, strict=True))
    splits["test"] = test_entry
    details["splits"] = splits
    return details


def _details(
    model: LoadedModel, frame: pd.DataFrame, schema: Schema, trained: dict[str, Any]
) -> dict[str, Any]:
    details = _common_details(model, trained)
    image_shape = details["image_shape"]
    splits = dict((details["sanity"] or {}).get("splits") or {})
    test_entry: dict[str, Any] = {"rows": len(frame)}
    if model.task == "classification":
        test_entry["class_balance"] = class_balance(
            frame[schema.label].astype(str).tolist(), model.classes
        )
    splits["test"] = test_entry
    details["splits"] = splits
    if model.task != "classification":
        actual = frame[schema.label].to_numpy(dtype=np.float64)
        predicted = model.predict(frame).tolist()
        details["predictions"] = list(zip(actual.tolist(), predicted, strict=True))
        return details
    if len(frame) == 0:
        return details
    index = {c: i for i, c in enumerate(model.classes)}
    y_true = frame[schema.label].astype(str).map(index).to_numpy()
    y_pred = model.predict(frame)
    if len(model.classes) == 2 and len(np.unique(y_true)) == 2:
        details["curves"] = binary_curves(y_true, model.predict_proba(frame)[:, 1])
    if len(image_shape) == 3:
        pixels = frame[schema.features].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        details["misclassified"] = misclassified_samples(pixels, y_true, y_pred, model.classes)
    return details


def compare_with_champion(
    config: RunConfig, model: LoadedModel, frame: pd.DataFrame, schema: Schema
) -> dict[str, Any]:
    """Should ``model`` replace the registry's champion? Compared on the same test rows.

    With no champion yet the model is promoted; a champion that cannot score these rows (other
    features or classes) is kept, with the reason, for a person to decide.
    """
    from trainpipe.errors import TrainpipeError
    from trainpipe.registry.registry import ModelRef, ModelRegistry

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
        return {"promote": True, "reason": f"there was no {name}@{settings.alias} yet"}
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
    """The HTML report of a run: curves, confusion matrix, per-class scores, latency, resources,
    sanity checks and baseline, the split report, the gate and the learning-curve diagnosis."""
    extra: list[tuple[str, str]] = []
    if validation is not None and validation.diagnosis is not None:
        extra.append(("Learning-curve diagnosis", _diagnosis_html(validation.diagnosis)))
    info = evaluation.details
    curves = info.get("curves") or {}
    details = ReportDetails(
        task=str(info.get("task", "classification")),
        n_classes=int(info.get("n_classes", len(evaluation.metrics.get("labels", [])))),
        roc=curves.get("roc"),
        pr=curves.get("pr"),
        misclassified=info.get("misclassified") or [],
        image_shape=info.get("image_shape") or [],
        latencies_ms=info.get("latencies_ms") or [],
        resources=info.get("resources") or [],
        sanity=info.get("sanity"),
        baseline=evaluation.baseline,
        splits=info.get("splits"),
        predictions=info.get("predictions") or [],
    )
    return render_report(
        title=title,
        metrics=evaluation.metrics,
        history=evaluation.history,
        confusion=evaluation.metrics.get("confusion_matrix"),
        labels=evaluation.metrics.get("labels"),
        gate=evaluation.gate,
        extra_sections=extra,
        details=details,
    )


def validation_report(validation: Evaluation, *, title: str) -> str:
    """The validate stage's HTML: learning curves, validation confusion matrix, diagnosis."""
    extra = []
    if validation.diagnosis is not None:
        extra.append(("Learning-curve diagnosis", _diagnosis_html(validation.diagnosis)))
    return render_report(
        title=title,
        metrics=validation.metrics,
        history=validation.history,
        confusion=validation.metrics.get("confusion_matrix"),
        labels=validation.metrics.get("labels"),
        gate=None,
        extra_sections=extra,
    )


def summary_markdown(evaluation: Evaluation, *, title: str) -> str:
    """A short Markdown summary of an evaluation for the KFP dashboard."""
    lines = [f"# {title}", ""]
    if evaluation.gate is not None:
        lines += [f"**Gate:** {evaluation.gate.reason}", ""]
    if evaluation.baseline is not None:
        holds, verdict = baseline_verdict(evaluation.baseline)
        verdict = verdict if holds else f"**{verdict}**"
        lines += [f"**Baseline:** {verdict}: {evaluation.baseline['message']}", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in evaluation.scalars().items()]
    per_class = evaluation.metrics.get("per_class")
    if isinstance(per_class, dict) and per_class:
        lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
        lines += [
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
            f"{s['support']} |"
            for name, s in per_class.items()
        ]
    return "\n".join(lines) + "\n"


def _diagnosis_html(diagnosis: Diagnosis) -> str:
    items = "".join(f"<li>{_escape(r)}</li>" for r in diagnosis.reasons)
    return f'<p id="diagnosis"><strong>{_escape(diagnosis.verdict)}</strong></p><ul>{items}</ul>'


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)

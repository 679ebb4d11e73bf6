"""Evaluate component: test-set metrics, latency, the blessing gate and the HTML report.

What the Kubeflow dashboard shows for the step: every scalar metric and per-class precision,
recall and F1 (``metrics``), the confusion matrix and, for binary tasks, the ROC curve
(``confusion``), the full HTML report (``report``: curves, confusion matrix, misclassified
samples, latency histogram, resource usage, sanity checks, splits) and a Markdown summary.
"""

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_op(
    config_json: str,
    model: Input[Model],
    validation: Input[Dataset],
    test: Input[Dataset],
    metrics: Output[Metrics],
    confusion: Output[ClassificationMetrics],
    report: Output[HTML],
    evaluation: Output[Artifact],
    summary: Output[Markdown],
) -> bool:
    """Evaluate on the test set; return whether every threshold holds (the blessing).

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        model: The trained model (the train step's output).
        validation: The validation data, for the baseline check and the report: a trainpipe
            dataset (the split step's output) or a plain CSV/Parquet table file, or a folder
            of them, read with the config's data settings and the model's column plan.
        test: The test data, in either form.

    Returns:
        metrics: Test-set metrics, per-class precision, recall and F1, and latency.
        confusion: The test confusion matrix and, for binary tasks, the ROC curve.
        report: The full HTML report.
        evaluation: The evaluation as JSON (metrics, gate, baseline): the register step's
            input.
        summary: A Markdown summary of the evaluation.
        Output: The blessing: true when every ``evaluate`` threshold holds; register only then.
    """
    import json
    import re

    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "evaluate") as stage,
        tracked_stage(config, "evaluate", model=model.path, outputs=stage.outputs) as tracking,
    ):
        from trainpipe.evaluate.stages import (
            evaluate_model,
            summary_markdown,
            validate_model,
            write_report,
        )
        from trainpipe.tracking.stages import log_evaluation

        with stage.core():
            result = evaluate_model(config, model.path, test.path)
            validated = validate_model(model.path, validation.path, config)
        for key, value in result.scalars().items():
            metrics.log_metric(key, value)
        for label, scores in result.metrics.get("per_class", {}).items():
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(label))
            for score in ("precision", "recall", "f1"):
                metrics.log_metric(f"{score}_{name}", float(scores[score]))
        if "confusion_matrix" in result.metrics:
            confusion.log_confusion_matrix(
                result.metrics["labels"], result.metrics["confusion_matrix"]
            )
        roc = result.details.get("curves", {}).get("roc")
        if roc:
            confusion.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
        if result.baseline is not None:
            metrics.metadata["baseline"] = result.baseline
        title = f"trainpipe: {config.name}"
        # KFP names an output's file after the output ("report"); a browser opens it as a page
        # only with the suffix, and the launcher uploads and records the URI the component sets.
        if not report.uri.endswith(".html"):
            report.uri += ".html"
        html = write_report(result, title=title, validation=validated)
        with open(report.path, "w", encoding="utf-8") as handle:
            handle.write(html)
        log_evaluation(tracking, result, report_html=html)
        with open(summary.path, "w", encoding="utf-8") as handle:
            handle.write(summary_markdown(result, title=title))
        with open(evaluation.path, "w", encoding="utf-8") as handle:
            json.dump(result.to_dict(), handle, indent=2)
        assert result.gate is not None
        stage.outputs.update(
            evaluation=evaluation.uri, report=report.uri, blessed=bool(result.blessed)
        )
    print(f"[trainpipe] gate: {result.gate.reason}")
    if result.baseline is not None and not result.baseline["beats"]:
        print(f"[trainpipe] baseline: {result.baseline['message']}")
    return result.blessed

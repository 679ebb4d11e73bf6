"""Validate component: validation-set metrics, a learning-curve diagnosis and its charts.

The Kubeflow dashboard shows the metrics (``metrics``), the validation confusion matrix
(``confusion``) and an HTML page with the loss and metric curves per epoch, train vs validation
(``curves``).
"""

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_op(
    config_json: str,
    model: Input[Model],
    validation: Input[Dataset],
    metrics: Output[Metrics],
    confusion: Output[ClassificationMetrics],
    curves: Output[HTML],
) -> str:
    """Return the diagnosis (``good fit``, ``overfitting``, ``underfitting``) with its metrics.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        model: The trained model (the train step's output).
        validation: The validation data: a trainpipe dataset (the split step's output) or a
            plain CSV/Parquet table file, or a folder of them, read with the config's data
            settings and the model's column plan.

    Returns:
        metrics: Validation-set metrics.
        confusion: The validation confusion matrix (classification).
        curves: An HTML page with the loss and metric curves per epoch.
        Output: The diagnosis verdict: ``good fit``, ``overfitting`` or ``underfitting``.
    """
    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "validate") as stage,
        tracked_stage(config, "validate", model=model.path, outputs=stage.outputs) as tracking,
    ):
        from trainpipe.evaluate.stages import validate_model, validation_report
        from trainpipe.tracking.stages import log_validation

        with stage.core():
            evaluation = validate_model(model.path, validation.path, config)
        diagnosis = evaluation.diagnosis
        assert diagnosis is not None
        scalars = evaluation.scalars()
        for key, value in scalars.items():
            metrics.log_metric(key, value)
        metrics.metadata["diagnosis"] = diagnosis.to_dict()
        if "confusion_matrix" in evaluation.metrics:
            confusion.log_confusion_matrix(
                evaluation.metrics["labels"], evaluation.metrics["confusion_matrix"]
            )
        title = f"trainpipe: {config.name} (validation)"
        if not curves.uri.endswith(".html"):
            curves.uri += ".html"  # as the evaluate step's report: a page a browser opens
        html = validation_report(evaluation, title=title)
        with open(curves.path, "w", encoding="utf-8") as handle:
            handle.write(html)
        log_validation(tracking, evaluation, report_html=html)
        stage.outputs.update(metrics=scalars, diagnosis=diagnosis.to_dict(), curves=curves.uri)
    print(f"[trainpipe] diagnosis: {diagnosis.verdict}: {diagnosis.reasons}")
    return diagnosis.verdict

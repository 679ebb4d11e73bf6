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
    """Return the diagnosis (``good fit``, ``overfitting``, ``underfitting``) with its metrics."""
    from trainpipe.config import RunConfig
    from trainpipe.evaluate.stages import validate_model, validation_report

    config = RunConfig.from_json(config_json)
    evaluation = validate_model(model.path, validation.path)
    for key, value in evaluation.scalars().items():
        metrics.log_metric(key, value)
    assert evaluation.diagnosis is not None
    metrics.metadata["diagnosis"] = evaluation.diagnosis.to_dict()
    if "confusion_matrix" in evaluation.metrics:
        confusion.log_confusion_matrix(
            evaluation.metrics["labels"], evaluation.metrics["confusion_matrix"]
        )
    with open(curves.path, "w", encoding="utf-8") as handle:
        handle.write(validation_report(evaluation, title=f"trainpipe: {config.name} (validation)"))
    print(f"[trainpipe] diagnosis: {evaluation.diagnosis.verdict}: {evaluation.diagnosis.reasons}")
    return evaluation.diagnosis.verdict

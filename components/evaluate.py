"""Evaluate component: test-set metrics, latency, the blessing gate and the HTML report."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output
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
) -> bool:
    """Evaluate on the test set; return whether every threshold holds (the blessing)."""
    import json

    from trainpipe.config import RunConfig
    from trainpipe.evaluate.stages import evaluate_model, validate_model, write_report

    config = RunConfig.from_json(config_json)
    result = evaluate_model(config, model.path, test.path)
    for key, value in result.scalars().items():
        metrics.log_metric(key, value)
    if "confusion_matrix" in result.metrics:
        confusion.log_confusion_matrix(result.metrics["labels"], result.metrics["confusion_matrix"])
    html = write_report(
        result,
        title=f"trainpipe: {config.name}",
        validation=validate_model(model.path, validation.path),
    )
    with open(report.path, "w", encoding="utf-8") as handle:
        handle.write(html)
    with open(evaluation.path, "w", encoding="utf-8") as handle:
        json.dump(result.to_dict(), handle, indent=2)
    assert result.gate is not None
    print(f"[trainpipe] gate: {result.gate.reason}")
    return result.blessed

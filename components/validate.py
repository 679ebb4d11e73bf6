"""Validate component: validation-set metrics and a learning-curve diagnosis."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_op(
    config_json: str, model: Input[Model], validation: Input[Dataset], metrics: Output[Metrics]
) -> str:
    """Return the diagnosis (``good fit``, ``overfitting``, ``underfitting``) with its metrics."""
    from trainpipe.evaluate.stages import validate_model

    evaluation = validate_model(model.path, validation.path)
    for key, value in evaluation.scalars().items():
        metrics.log_metric(key, value)
    assert evaluation.diagnosis is not None
    metrics.metadata["diagnosis"] = evaluation.diagnosis.to_dict()
    print(f"[trainpipe] diagnosis: {evaluation.diagnosis.verdict}: {evaluation.diagnosis.reasons}")
    return evaluation.diagnosis.verdict

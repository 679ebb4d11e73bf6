"""The training pipeline: ingest -> split -> tune (fan-out, fan-in) -> train -> validate -> evaluate
-> register (only when blessed).

Compile with ``trainpipe compile`` (or ``make compile``); the compiled YAML is kept in
``pipelines/compiled/`` and uploads as-is to the Kubeflow dashboard.
"""

from pathlib import Path

from kfp import dsl
from trainpipe_components import (
    evaluate_op,
    ingest_op,
    register_op,
    split_op,
    train_op,
    tune_select_op,
    tune_setup_op,
    tune_worker_op,
    validate_op,
)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits.yaml"
COMPILED = Path(__file__).resolve().parent / "compiled" / "training_pipeline.yaml"


def _default_config_json() -> str:
    from trainpipe.config import load_config

    return load_config(DEFAULT_CONFIG).to_json()


@dsl.pipeline(
    name="trainpipe-training",
    description="Ingest, split, tune, train (DDP), validate, evaluate and register a model.",
)
def training_pipeline(
    config_json: str = _default_config_json(),
    tune_workers: list = [0, 1],  # noqa: B006 - KFP takes pipeline defaults from the signature
) -> None:
    """The whole training pipeline.

    Args:
        config_json: The run configuration as one JSON document (see pipelines/configs/).
        tune_workers: One item per parallel tuning worker (tune.parallel_trials of them).
    """
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    ingest = ingest_op(config_json=config_json).set_display_name("ingest")
    split = split_op(config_json=config_json, dataset=ingest.outputs["dataset"])
    split.set_display_name("split")
    setup = tune_setup_op(config_json=config_json, run_id=run_id).set_display_name("tune-setup")
    with dsl.ParallelFor(tune_workers, name="tune-workers") as worker:
        tune_worker = tune_worker_op(
            config_json=config_json,
            worker=worker,
            run_id=run_id,
            train=split.outputs["train"],
            validation=split.outputs["validation"],
        ).set_display_name("tune-worker")
        tune_worker.after(setup)
    select = tune_select_op(config_json=config_json, run_id=run_id).after(tune_worker)
    select.set_display_name("tune-select")
    train = train_op(
        config_json=config_json,
        best_params=select.outputs["Output"],
        run_id=run_id,
        train=split.outputs["train"],
        validation=split.outputs["validation"],
    ).set_display_name("train")
    validate = validate_op(
        config_json=config_json,
        model=train.outputs["model"],
        validation=split.outputs["validation"],
    ).set_display_name("validate")
    evaluate = evaluate_op(
        config_json=config_json,
        model=train.outputs["model"],
        validation=split.outputs["validation"],
        test=split.outputs["test"],
    ).set_display_name("evaluate")
    evaluate.after(validate)
    with dsl.If(evaluate.outputs["Output"] == True, name="blessed"):  # noqa: E712 - a KFP condition
        register_op(
            config_json=config_json,
            best_params=select.outputs["Output"],
            run_id=run_id,
            dataset=ingest.outputs["dataset"],
            model=train.outputs["model"],
            evaluation=evaluate.outputs["evaluation"],
        ).set_display_name("register")


def compile_pipeline(path: str | Path = COMPILED) -> Path:
    """Compile the pipeline to YAML at ``path``."""
    from kfp import compiler

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(training_pipeline, str(path))
    return path

"""Train component: launch the training job (torchrun locally, a PyTorchJob on a cluster)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_op(
    config_json: str,
    best_params: str,
    run_id: str,
    train: Input[Dataset],
    validation: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Train with the tuned parameters; the job receives artifact URIs, never local paths.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        best_params: The tuned parameters as a JSON object of dotted config keys (the
            tune-select step's output); ``{}`` or ``""`` trains with the config as it is.
        run_id: The pipeline run's id: it names the training job and its checkpoints.
        train: The training data: a trainpipe dataset (the split step's output) or a
            plain CSV/Parquet table file, or a folder of them, read with the config's data
            settings.
        validation: The validation data, in either form; a plain table is read with the
            training data's column plan and classes.

    Returns:
        model: The trained model: ``model.safetensors`` (the weights), ``model.json`` (its
            preprocessing and settings) and ``metrics.json`` (the learning curves).
        metrics: The final epoch's training and validation metrics.
    """
    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "train") as stage,
        tracked_stage(config, "train", run_id=run_id, outputs=stage.outputs) as tracking,
    ):
        from trainpipe.launch.train_job import apply_params, train_model
        from trainpipe.tracking.stages import log_config, log_training

        config = apply_params(config, best_params)
        log_config(tracking, config, best_params=best_params)
        stage.outputs["model"] = model.uri
        with stage.core():
            result = train_model(
                config,
                train_data=train.uri,
                validation_data=validation.uri,
                output=model.uri,
                run_id=run_id,
                log=lambda line: print(line, flush=True),
                tracking_run=tracking.mlflow_run_id,
            )
        log_training(tracking, result)
        model.metadata.update({"framework": "pytorch", "world_size": result.world_size})
        for key, value in result.final.items():
            metrics.log_metric(key, value)
        stage.outputs.update(world_size=result.world_size, final=result.final)

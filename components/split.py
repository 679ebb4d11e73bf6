"""Split component: a deterministic stratified train/validation/test split."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def split_op(
    config_json: str,
    dataset: Input[Dataset],
    train: Output[Dataset],
    validation: Output[Dataset],
    test: Output[Dataset],
) -> None:
    """Split the ingested dataset with the run seed.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        dataset: The table to split: a trainpipe dataset (the ingest step's output) or a plain
            CSV/Parquet table file, or a folder of them, whose columns the config's data
            settings decide (``data.label``, ``data.features``, ``data.drop``, ``data.roles``).

    Returns:
        train: The training split (``split.validation_fraction`` and ``split.test_fraction``
            set the others' sizes).
        validation: The validation split, for early stopping, tuning and the fit diagnosis.
        test: The test split, for the evaluate step only.
    """
    from trainpipe.runs.stages import record_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with record_stage(config.stage_records, "split") as stage:
        from trainpipe.data.split import split_dataset

        with stage.core():
            result = split_dataset(config, dataset.path, train.path, validation.path, test.path)
        train.metadata["rows"] = result.train_rows
        validation.metadata["rows"] = result.validation_rows
        test.metadata["rows"] = result.test_rows
        stage.outputs.update(
            train=train.uri,
            validation=validation.uri,
            test=test.uri,
            rows={
                "train": result.train_rows,
                "validation": result.validation_rows,
                "test": result.test_rows,
            },
            notices=[f"split: {f['message']}" for f in result.findings if f["severity"] != "fail"],
        )

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
    """Split the ingested dataset with the run seed."""
    from trainpipe.config import RunConfig
    from trainpipe.runs.stages import record_stage

    config = RunConfig.from_json(config_json)
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

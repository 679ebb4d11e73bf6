"""The core path through an S3 server: datasets, the model and the registry live in a bucket."""

import pytest

from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.storage.factory import open_store

pytestmark = pytest.mark.integration


def test_train_evaluate_register_on_s3(s3_env: dict[str, str]) -> None:
    config = RunConfig.from_dict(
        {
            "name": "iris-s3",
            "data": {"source": "builtin:iris"},
            "model": {"kind": "mlp", "hidden": [16], "dropout": 0.0},
            "train": {
                "epochs": 25,
                "batch_size": 16,
                "learning_rate": 0.01,
                "backend": "inprocess",
            },
            "evaluate": {"thresholds": {"accuracy_min": 0.8}},
            "registry": {"uri": "minio://registry/models-root", "model_name": "iris-mlp"},
        }
    )
    root = "s3://pipeline/run-1"
    data = {name: f"{root}/{name}" for name in ("dataset", "train", "val", "test")}
    ingested = ingest(config, data["dataset"])
    split_dataset(config, data["dataset"], data["train"], data["val"], data["test"])
    result = train_model(
        config,
        train_data=data["train"],
        validation_data=data["val"],
        output=f"{root}/model",
        log=lambda line: None,
    )
    assert open_store(f"{root}/model").exists("model.safetensors")
    assert result.final["val_accuracy"] > 0.8
    evaluation = evaluate_model(config, f"{root}/model", data["test"])
    assert evaluation.blessed, evaluation.gate
    registry = ModelRegistry.open(config.registry.uri)
    lineage = build_lineage(
        config=config.to_dict(), data_hash=ingested.schema.data_hash, metrics=evaluation.metrics
    )
    version = registry.register("iris-mlp", f"{root}/model", lineage=lineage)
    assert version.version == 1
    assert version.uri.startswith("s3://registry/models-root/")
    assert registry.lineage("iris-mlp", 1)["data_hash"] == ingested.schema.data_hash

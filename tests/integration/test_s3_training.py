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


def test_a_split_in_a_bucket_streams_with_ranged_reads(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed training on a bucket's split: the split stage writes it as a stream, and
    training reads its row groups with ranged requests, never the whole object."""
    from trainpipe.storage.s3 import S3Store

    config = RunConfig.from_dict(
        {
            "data": {"source": "builtin:digits", "stream_threshold_mb": 0},
            "model": {"hidden": [32], "dropout": 0.0},
            "train": {"epochs": 6, "batch_size": 64, "learning_rate": 0.01,
                      "backend": "inprocess", "stream": {"num_workers": 0, "window": 2}},
        }
    )  # fmt: skip
    root = "s3://pipeline/streamed"
    data = {name: f"{root}/{name}" for name in ("dataset", "train", "val", "test")}
    ingest(config, data["dataset"])
    result = split_dataset(config, data["dataset"], data["train"], data["val"], data["test"])
    assert result.findings[0]["check"] == "streamed_split"
    whole: list[str] = []
    original = S3Store.read_bytes

    def counted(self: S3Store, key: str) -> bytes:
        whole.append(key)
        return original(self, key)

    monkeypatch.setattr(S3Store, "read_bytes", counted)
    trained = train_model(
        config, train_data=data["train"], validation_data=data["val"],
        output=f"{root}/model", log=lambda line: None,
    )  # fmt: skip
    assert trained.final["val_accuracy"] > 0.7
    assert not [key for key in whole if key.endswith("data.parquet")]

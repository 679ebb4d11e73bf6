"""Categorical features: one-hot encoded with the training split's categories, end to end."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.errors import DataError
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.train.artifacts import load_model

pytestmark = pytest.mark.unit


def write_data(path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    color = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    label = np.where((color == "red") | (size > 1.0), "yes", "no")  # depends on the category
    frame = pd.DataFrame({"color": color, "size": size, "label": label})
    frame.loc[::50, "color"] = None
    frame.to_csv(path, index=False)


def config(tmp_path: Path, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "colors",
            "data": {"source": str(tmp_path / "d.csv"), "label": "label",
                     "categorical": ["color"], "missing": "mode", **data},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"epochs": 15, "batch_size": 32, "learning_rate": 0.01,
                      "backend": "inprocess", "num_threads": 1},
            "registry": {"uri": str(tmp_path / "registry"), "model_name": "colors"},
        }
    )  # fmt: skip


def test_a_categorical_feature_trains_evaluates_and_registers(tmp_path: Path) -> None:
    write_data(tmp_path / "d.csv")
    cfg = config(tmp_path)
    paths = {k: str(tmp_path / k) for k in ("dataset", "train", "validation", "test")}
    result = ingest(cfg, paths["dataset"])
    assert result.schema.categorical == ["color"]
    assert set(result.stats["categories"]["color"]) == {"red", "green", "blue"}
    split_dataset(cfg, paths["dataset"], paths["train"], paths["validation"], paths["test"])
    train_model(cfg, train_data=paths["train"], validation_data=paths["validation"],
                output=str(tmp_path / "model"), log=lambda line: None)  # fmt: skip
    model = load_model(str(tmp_path / "model"))
    assert model.preprocess.categories == {"color": ["blue", "green", "red"]}
    assert model.preprocess.width == 1 + 3
    evaluation = evaluate_model(cfg, str(tmp_path / "model"), paths["test"])
    assert evaluation.metrics["accuracy"] > 0.9
    test, _ = read_dataset(paths["test"])
    unseen = model.preprocess.transform_features(test.head(1).assign(color="purple"))
    assert unseen[0, 1:].tolist() == [0.0, 0.0, 0.0]
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    version = registry.register(
        "colors",
        str(tmp_path / "model"),
        lineage=build_lineage(config={}, data_hash="", metrics={}),
    )
    assert registry.verify(version.ref) == []


def test_categorical_must_name_a_feature(tmp_path: Path) -> None:
    write_data(tmp_path / "d.csv")
    with pytest.raises(DataError, match=r"data\.categorical names \['colour'\]"):
        ingest(config(tmp_path, categorical=["colour"]), str(tmp_path / "out"))

"""SMOTE in the training loop refuses a dataset whose one-hot columns only the dataset knows.

The config check refuses ``train.imbalance: smote`` beside ``data.categorical``; a training run
given a dataset ingested with categorical columns under another config is caught where SMOTE
is applied, from the fitted preprocessing.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.errors import ConfigError
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit


def run_config(tmp_path: Path, imbalance: str, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "colors",
            "data": {"source": str(tmp_path / "d.csv"), "label": "label", **data},
            "model": {"hidden": [8], "dropout": 0.0},
            "train": {"epochs": 1, "batch_size": 32, "backend": "inprocess", "num_threads": 1,
                      "imbalance": imbalance},
        }
    )  # fmt: skip


def test_smote_on_a_dataset_with_one_hot_columns_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "color": rng.choice(["red", "green"], n),
            "size": rng.normal(size=n),
            "label": np.where(np.arange(n) % 10 == 0, "rare", "common"),
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    paths = {k: str(tmp_path / k) for k in ("dataset", "train", "validation", "test")}
    ingested = run_config(tmp_path, "none", categorical=["color"])
    ingest(ingested, paths["dataset"])
    split_dataset(ingested, paths["dataset"], paths["train"], paths["validation"], paths["test"])

    training = run_config(tmp_path, "smote")  # no data.categorical: the config check passes
    assert training.train.imbalance == "smote" and not training.data.categorical
    with pytest.raises(ConfigError) as info:
        train_model(
            training,
            train_data=paths["train"],
            validation_data=paths["validation"],
            output=str(tmp_path / "model"),
            log=lambda line: None,
        )
    message = str(info.value)
    assert "train.imbalance: smote" in message
    assert "['color'] (data.categorical)" in message
    assert "class_weights or oversample" in message
    assert not (tmp_path / "model" / "model.json").exists()

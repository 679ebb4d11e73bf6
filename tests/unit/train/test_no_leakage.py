"""Everything fitted on data is fitted on the training split only, never on validation or test
rows: checked on purpose by planting rows that would shift the statistics if they leaked."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.errors import DataError
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit


def planted(tmp_path: Path, **train: object) -> tuple[RunConfig, dict[str, str]]:
    """Two classes 1:9 where validation/test rows carry a huge marker value in feature ``m``."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"a": rng.normal(size=n), "m": rng.normal(size=n)})
    frame["label"] = np.where(np.arange(n) % 10 == 0, "rare", "common")
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    config = RunConfig.from_dict(
        {
            "name": "planted",
            "data": {"source": str(source), "label": "label"},
            "model": {"hidden": [8], "dropout": 0.0},
            "train": {"epochs": 2, "batch_size": 32, "backend": "inprocess", "num_threads": 1,
                      **train},
        }
    )  # fmt: skip
    paths = {k: str(tmp_path / k) for k in ("dataset", "train", "validation", "test")}
    ingest(config, paths["dataset"])
    split_dataset(config, paths["dataset"], paths["train"], paths["validation"], paths["test"])
    for name in ("validation", "test"):  # the marker: far outside anything in train
        held_out, schema = read_dataset(paths[name])
        held_out["m"] = 1e6
        from trainpipe.data.dataset import write_dataset

        write_dataset(paths[name], held_out, schema)
    return config, paths


@pytest.mark.parametrize("imbalance", ["none", "smote", "oversample", "class_weights"])
def test_scaling_is_fitted_on_the_training_split_only(tmp_path: Path, imbalance: str) -> None:
    config, paths = planted(tmp_path, imbalance=imbalance)
    train_model(
        config, train_data=paths["train"], validation_data=paths["validation"],
        output=str(tmp_path / "model"), log=lambda line: None,
    )  # fmt: skip
    description = json.loads((tmp_path / "model" / "model.json").read_text())
    preprocess = description["preprocess"]
    column = preprocess["features"].index("m")
    train_frame, _ = read_dataset(paths["train"])
    assert preprocess["mean"][column] == pytest.approx(train_frame["m"].mean())
    assert abs(preprocess["mean"][column]) < 1.0, "validation/test rows leaked into the scaler"


def test_planting_test_rows_in_train_is_caught(tmp_path: Path) -> None:
    config, paths = planted(tmp_path)
    train_frame, schema = read_dataset(paths["train"])
    test_frame, _ = read_dataset(paths["test"])
    leaky = pd.concat([train_frame, test_frame.head(5)], ignore_index=True)
    from trainpipe.data.dataset import write_dataset
    from trainpipe.data.split import review_split

    write_dataset(paths["train"], leaky, schema)
    validation, _ = read_dataset(paths["validation"])
    with pytest.raises(DataError, match=r"5 of \d+ test rows"):
        review_split(leaky, validation, test_frame, schema, config)

"""Small model directories for registry tests, written by save_model without any training."""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from trainpipe.config import ModelConfig
from trainpipe.config.data import CsvConfig
from trainpipe.data.dataset import Schema
from trainpipe.models import build_model
from trainpipe.train.artifacts import save_model
from trainpipe.train.data import Preprocess


def write_model(location: str | Path, *, seed: int = 0, classes: int = 3) -> str:
    """A complete MLP model directory (2 features) at ``location``; returns it as a string."""
    torch.manual_seed(seed)
    config = ModelConfig(kind="mlp", hidden=[4], dropout=0.0)
    names = [f"c{i}" for i in range(classes)]
    save_model(
        str(location),
        build_model(config, 2, classes),
        model_config=config,
        task="classification",
        label="target",
        preprocess=Preprocess(features=["a", "b"], mean=[0.0, 0.0], std=[1.0, 1.0], classes=names),
        metrics={"history": [], "final": {"val_accuracy": 0.5}},
    )
    return str(location)


TABULAR_FEATURES = ["size", "weight", "color"]


def tabular_training_split() -> pd.DataFrame:
    """120 rows of two numeric features, one categorical (red, green, blue) and a label y."""
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "size": rng.normal(5, 2, 120),
            "weight": rng.exponential(10, 120).round(1),  # repeated values: a clear mode
            "color": rng.choice(["red", "green", "green", "blue"], 120),
            "y": rng.choice(["no", "yes"], 120),
        }
    )


def write_tabular_model(
    location: str | Path,
    *,
    missing: str,
    task: str = "classification",
    csv: CsvConfig | None = None,
    data_format: str = "auto",
) -> str:
    """An untrained MLP model directory whose preprocessing is fitted on
    :func:`tabular_training_split` under the ``data.missing`` policy ``missing`` (``fill_value``
    -4 for ``constant``); classes ``no``, ``yes``, or a regression target ``2 * size``; ``csv``
    and ``data_format``: the ``data.csv`` and ``data.format`` its training data was read with
    (None, auto: not recorded)."""
    frame = tabular_training_split()
    if task == "regression":
        frame["y"] = frame["size"] * 2.0
    classes = ["no", "yes"] if task == "classification" else []
    schema = Schema(
        label="y", task=task, features=TABULAR_FEATURES, classes=classes, categorical=["color"]
    )
    preprocess = Preprocess.fit(frame, schema, missing=missing, fill_value=-4.0)
    torch.manual_seed(0)
    config = ModelConfig(kind="mlp", hidden=[8], dropout=0.0)
    save_model(
        str(location),
        build_model(config, preprocess.width, len(classes) or 1),
        model_config=config,
        task=task,
        label="y",
        preprocess=preprocess,
        metrics={"history": [], "final": {}},
        csv=csv,
        data_format=data_format,
    )
    return str(location)

"""Small model directories for registry tests, written by save_model without any training."""

from pathlib import Path

import torch

from trainpipe.config import ModelConfig
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

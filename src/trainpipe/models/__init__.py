"""The model zoo: every architecture is built from a :class:`~trainpipe.config.ModelConfig`."""

from __future__ import annotations

from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.models.cnn import CNN
from trainpipe.models.mlp import MLP

__all__ = ["CNN", "MLP", "build_model"]


def build_model(config: ModelConfig, n_features: int, n_outputs: int) -> nn.Module:
    """Build the architecture named by ``config.kind`` for the given input and output sizes."""
    if config.kind == "cnn":
        return CNN(
            n_features,
            n_outputs,
            image_shape=config.image_shape,
            channels=config.channels,
            hidden=config.hidden,
            dropout=config.dropout,
        )
    return MLP(n_features, n_outputs, hidden=config.hidden, dropout=config.dropout)

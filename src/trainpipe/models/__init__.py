"""The model zoo: every architecture is built from a :class:`~trainpipe.config.ModelConfig`.

Every model maps float feature rows ``[batch, n_features]`` to ``[batch, n_outputs]`` and checks
its input at the boundary (:mod:`trainpipe.models.contracts`).
"""

from __future__ import annotations

from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.models.cnn import CNN
from trainpipe.models.contracts import ModelInputError, expect_features, expect_shape
from trainpipe.models.mlp import MLP
from trainpipe.models.transformer import SequenceTransformer

__all__ = [
    "CNN",
    "MLP",
    "ModelInputError",
    "SequenceTransformer",
    "build_model",
    "expect_features",
    "expect_shape",
]


def build_model(
    config: ModelConfig, n_features: int, n_outputs: int, *, vocab_size: int = 0
) -> nn.Module:
    """Build the architecture named by ``config.kind`` for the given input and output sizes.

    ``vocab_size`` > 0 builds the transformer over token ids (a text column's vocabulary, id 0
    for padding) instead of signals; the other architectures ignore it.
    """
    if config.kind == "cnn":
        return CNN(
            n_features,
            n_outputs,
            image_shape=config.image_shape,
            channels=config.channels,
            hidden=config.hidden,
            dropout=config.dropout,
        )
    if config.kind == "transformer":
        return SequenceTransformer(
            n_features,
            n_outputs,
            channels=config.sequence_channels,
            patch=config.patch_size,
            vocab_size=vocab_size,
            d_model=config.d_model,
            heads=config.heads,
            layers=config.layers,
            dropout=config.dropout,
            causal=config.causal,
        )
    return MLP(n_features, n_outputs, hidden=config.hidden, dropout=config.dropout)

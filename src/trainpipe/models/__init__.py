"""The model zoo: every architecture is built from a :class:`~trainpipe.config.ModelConfig`.

Every model maps float feature rows ``[batch, n_features]`` to ``[batch, n_outputs]`` and checks
its input at the boundary (:mod:`trainpipe.models.contracts`); ``model.kind: custom`` calls the
user's factory with a :class:`ModelInputs` (:mod:`trainpipe.models.custom`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.models.cnn import CNN
from trainpipe.models.cnn1d import CNN1D
from trainpipe.models.contracts import ModelInputError, expect_features, expect_shape
from trainpipe.models.inputs import ModelInputs
from trainpipe.models.mlp import MLP
from trainpipe.models.resnet import ResNet
from trainpipe.models.transformer import SequenceTransformer

__all__ = [
    "CNN",
    "CNN1D",
    "MLP",
    "ModelInputError",
    "ModelInputs",
    "ResNet",
    "SequenceTransformer",
    "build_model",
    "expect_features",
    "expect_shape",
]


def build_model(
    config: ModelConfig,
    n_features: int,
    n_outputs: int,
    *,
    vocab_size: int = 0,
    task: str = "classification",
    feature_names: Sequence[str] = (),
    classes: Sequence[str] = (),
) -> nn.Module:
    """Build the architecture named by ``config.kind`` for the given input and output sizes.

    ``vocab_size`` > 0 builds the transformer over token ids (a text column's vocabulary, id 0
    for padding) instead of signals; the other architectures ignore it. ``custom`` calls the
    user's ``model.factory`` with all of it as a :class:`ModelInputs`.
    """
    if config.kind == "custom":
        from trainpipe.models.custom import build_custom_model

        inputs = ModelInputs(
            task=task,
            n_features=n_features,
            n_outputs=n_outputs,
            feature_names=tuple(feature_names),
            classes=tuple(classes),
            image_shape=tuple(config.image_shape) if config.has_image_shape else (),
            vocab_size=vocab_size,
        )
        return build_custom_model(config, inputs)
    if config.kind == "cnn":
        return CNN(
            n_features,
            n_outputs,
            image_shape=config.image_shape,
            channels=config.channels,
            hidden=config.hidden,
            dropout=config.dropout,
        )
    if config.kind == "resnet":
        return ResNet(
            n_features,
            n_outputs,
            image_shape=config.image_shape,
            channels=config.channels,
            dropout=config.dropout,
        )
    if config.kind == "cnn1d":
        shape = config.image_shape
        return CNN1D(
            n_features,
            n_outputs,
            in_channels=shape[0] * shape[1] if config.has_image_shape else config.sequence_channels,
            channels=config.channels,
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

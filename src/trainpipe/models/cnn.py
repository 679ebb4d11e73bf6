"""A small convolutional network for images stored as flat feature rows (e.g. 8x8 digits)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainpipe.models.contracts import expect_features, image_dims
from trainpipe.models.mlp import MLP


class CNN(nn.Module):
    """3x3 conv blocks (conv, ReLU, 2x2 max-pool while the image is large enough), an MLP head.

    Each input row of ``C*H*W`` features is reshaped to ``image_shape = (C, H, W)``.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        image_shape: Sequence[int],
        channels: Sequence[int],
        hidden: Sequence[int],
        dropout: float,
    ):
        super().__init__()
        c, h, w = image_dims(image_shape, n_features)
        self.n_features = n_features
        self.image_shape = (c, h, w)
        blocks: list[nn.Module] = []
        for out in channels:
            blocks += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.ReLU()]
            if h >= 2 and w >= 2:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), MLP(c * h * w, n_outputs, hidden, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, C*H*W]`` to ``[batch, n_outputs]``."""
        expect_features(x, self.n_features, model="CNN")
        return self.head(self.features(x.reshape(x.shape[0], *self.image_shape)))

"""A small residual network for images of real size (e.g. 64x64 RGB photos), stored as flat rows.

A 3x3 stem, then one residual block per ``channels`` entry; every block after the first halves
the resolution (stride 2, with a 1x1 projection on the shortcut). Group normalization instead of
batch normalization keeps a rank's result independent of its batch, so DDP needs no synchronized
statistics and 1 and N processes train alike. Global average pooling and a linear head follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainpipe.models.contracts import expect_features, image_dims
from trainpipe.models.layers import group_norm


class ResidualBlock(nn.Module):
    """conv-norm-ReLU-conv-norm, added onto the (projected) input, then ReLU."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
            group_norm(outputs),
            nn.ReLU(),
            nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
            group_norm(outputs),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), group_norm(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """Residual stages over ``image_shape = (C, H, W)`` rows, pooled, then a linear head."""

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        image_shape: Sequence[int],
        channels: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        c, h, w = image_dims(image_shape, n_features)
        self.n_features = n_features
        self.image_shape = (c, h, w)
        width = channels[0]
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, padding=1, bias=False), group_norm(width),
                                  nn.ReLU())  # fmt: skip
        blocks = []
        for i, out in enumerate(channels):
            blocks.append(ResidualBlock(width, out, stride=1 if i == 0 else 2))
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, n_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, C*H*W]`` to ``[batch, n_outputs]``."""
        expect_features(x, self.n_features, model="ResNet")
        return self.head(self.blocks(self.stem(x.reshape(x.shape[0], *self.image_shape))))

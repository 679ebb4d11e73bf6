"""A small residual network for images that arrive as flat feature rows."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with group norm, added back onto the input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(4, width),
            nn.ReLU(),
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(4, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ResNet(nn.Module):
    """A stem convolution, ``blocks`` residual blocks, average pooling to a 4x4 grid (digits are
    told apart by where their strokes are, which global pooling would lose), a linear head."""

    def __init__(
        self, image_shape: tuple[int, ...], classes: int, width: int, blocks: int, dropout: float
    ) -> None:
        super().__init__()
        channels, _, _ = image_shape
        self.image_shape = tuple(image_shape)
        self.stem = nn.Sequential(nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * 16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(x.shape[0], *self.image_shape)
        return self.head(self.pool(self.blocks(self.stem(images))))


def build(inputs: Any, width: int = 16, blocks: int = 2, dropout: float = 0.1) -> nn.Module:
    """trainpipe's ``model.factory``: the network for the data ``inputs`` describes."""
    if len(inputs.image_shape) != 3:
        raise ValueError("set model.image_shape to [channels, height, width] for the ResNet")
    if width % 4:
        raise ValueError(f"width must be a multiple of 4 (group norm in groups of 4), got {width}")
    return ResNet(inputs.image_shape, inputs.n_outputs, width, blocks, dropout)

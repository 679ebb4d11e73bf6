"""trainpipe's digits CNN, rewritten as a user would write it: plain torch, no trainpipe import.

Layers are created in the built-in model's order, so the same seed gives the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """3x3 conv blocks with 2x2 max-pooling, then a fully connected head."""

    def __init__(
        self,
        image_shape: Sequence[int],
        n_outputs: int,
        channels: Sequence[int],
        hidden: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (c, h, w)
        blocks: list[nn.Module] = []
        for out in channels:
            blocks += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.ReLU()]
            if h >= 2 and w >= 2:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Flatten()]
        width = c * h * w
        for size in hidden:
            head += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        head.append(nn.Linear(width, n_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(x.shape[0], *self.image_shape)))


def build(
    inputs: Any,
    channels: Sequence[int] = (16, 32),
    hidden: Sequence[int] = (64,),
    dropout: float = 0.1,
) -> nn.Module:
    """The model factory: ``model.factory: digits_net.cnn:build``."""
    return DigitsCNN(inputs.image_shape, inputs.n_outputs, channels, hidden, dropout)

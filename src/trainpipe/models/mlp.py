"""A multilayer perceptron for tabular features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainpipe.models.contracts import expect_features


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout blocks followed by a linear output layer."""

    def __init__(self, n_features: int, n_outputs: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.n_features = n_features
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, n_features]`` to ``[batch, n_outputs]``."""
        expect_features(x, self.n_features, model="MLP")
        return self.net(x)

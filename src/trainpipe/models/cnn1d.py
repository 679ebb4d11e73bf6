"""A 1-D convolutional network over time, for audio features and multichannel signals.

Each row is read as ``[channels, length]``: a log-mel spectrogram row of an audio folder
(``model.image_shape: [1, n_mels, frames]``) as ``n_mels`` channels over ``frames`` steps, a
waveform or any signal as ``model.sequence_channels`` channels (channel-major). Each ``channels``
entry adds a block of a width-5 convolution, group normalization, ReLU and, while the sequence
is long enough, a 2x max-pool; average and max pooling over time feed a linear head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainpipe.errors import ConfigError
from trainpipe.models.contracts import expect_features
from trainpipe.models.layers import group_norm


class CNN1D(nn.Module):
    """Temporal convolutions over ``[in_channels, length]`` rows, pooled, then a linear head."""

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        in_channels: int,
        channels: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        if in_channels < 1 or n_features % in_channels:
            raise ConfigError(
                f"model.kind=cnn1d reads each row of {n_features} values as {in_channels} "
                "channels over time, which does not divide it; set model.image_shape to "
                "[1, bands, frames] for spectrograms or model.sequence_channels for signals"
            )
        self.n_features = n_features
        self.in_channels = in_channels
        length = n_features // in_channels
        blocks: list[nn.Module] = []
        width = in_channels
        for out in channels:
            blocks += [nn.Conv1d(width, out, 5, padding=2, bias=False), group_norm(out), nn.ReLU()]
            if length >= 4:
                blocks.append(nn.MaxPool1d(2))
                length //= 2
            width = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, in_channels * length]`` to ``[batch, n_outputs]``."""
        expect_features(x, self.n_features, model="CNN1D")
        h = self.features(x.reshape(x.shape[0], self.in_channels, -1))
        return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))

"""User code with the mistakes trainpipe must catch before any job starts, one per function."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def raises(inputs: Any) -> nn.Module:
    """A factory with a bug."""
    widths = {"small": 8}
    return nn.Linear(inputs.n_features, widths["large"])


def returns_weights(inputs: Any) -> Any:
    """A factory that returns a state dict instead of the model."""
    return nn.Linear(inputs.n_features, inputs.n_outputs).state_dict()


def one_output_too_many(inputs: Any) -> nn.Module:
    """A factory whose head has the wrong width for the task."""
    return nn.Linear(inputs.n_features, inputs.n_outputs + 1)


def wrong_input_width(inputs: Any) -> nn.Module:
    """A factory that hard-codes the feature count of another dataset."""
    return nn.Linear(13, inputs.n_outputs)


def linear(inputs: Any, bias: bool = True) -> nn.Module:
    """A correct factory, to pair with the broken losses."""
    return nn.Linear(inputs.n_features, inputs.n_outputs, bias=bias)


def per_row_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A loss that forgot to reduce."""
    return nn.functional.cross_entropy(outputs, targets, reduction="none")


def log_of_zero_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A loss that takes the log of a probability that can be zero."""
    return -torch.log(torch.zeros(())) + 0.0 * outputs.sum()


def focal_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A correct loss: focal loss with gamma 2."""
    logp = torch.log_softmax(outputs, dim=1).gather(1, targets[:, None]).squeeze(1)
    return (-((1 - logp.exp()) ** 2) * logp).mean()


class DigammaHead(nn.Module):
    """Trains fine, but ONNX (opset 17) has no digamma: the export fails."""

    def __init__(self, n_features: int, n_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x)
        return logits + 0.1 * torch.digamma(logits.abs() + 1)


def not_exportable(inputs: Any) -> nn.Module:
    """A correct factory whose model has no ONNX export."""
    return DigammaHead(inputs.n_features, inputs.n_outputs)


def mlp(inputs: Any, hidden: int = 16, dropout: float = 0.1) -> nn.Module:
    """A correct factory with dropout, so resume must restore the random stream too."""
    return nn.Sequential(
        nn.Linear(inputs.n_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, inputs.n_outputs),
    )

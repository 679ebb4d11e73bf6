"""Focal loss (Lin et al., 2017): cross-entropy that down-weights the examples already learned."""

from __future__ import annotations

import torch


def focal(outputs: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """The batch's mean focal loss for logits ``[batch, classes]`` and class ids ``[batch]``."""
    log_p = torch.log_softmax(outputs, dim=1).gather(1, targets[:, None]).squeeze(1)
    return (-((1.0 - log_p.exp()) ** gamma) * log_p).mean()

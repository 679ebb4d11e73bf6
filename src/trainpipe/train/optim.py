"""The optimizer, its learning-rate schedule and gradient clipping."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainpipe.config import RunConfig


def make_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer named by ``train.optimizer``."""
    train = config.train
    params = model.parameters()
    if train.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=train.learning_rate, momentum=0.9, weight_decay=train.weight_decay
        )
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    return torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)


def set_per_parameter(optimizer: torch.optim.Optimizer, per_parameter: bool) -> None:
    """Make ``optimizer`` update one parameter at a time (``foreach=False``: no temporaries the
    size of every parameter at once, its lowest-memory update), or let torch choose again."""
    for group in optimizer.param_groups:
        group["foreach"] = False if per_parameter else None


def learning_rate_at(config: RunConfig, step: int, total_steps: int, per_epoch: int) -> float:
    """Linear warmup over ``train.warmup_epochs``, then cosine decay to 10% of the peak."""
    peak = config.train.learning_rate
    warmup = config.train.warmup_epochs * per_epoch
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def clip_gradients(model: nn.Module, max_norm: float) -> float:
    """Clip the gradients to ``max_norm`` (0: no clipping); return their norm before clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    norms = torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])
    return float(torch.linalg.vector_norm(norms))

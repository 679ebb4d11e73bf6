"""The loss the loop minimizes and the validation pass after each epoch."""

from __future__ import annotations

import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.train.data import Tensors
from trainpipe.train.distributed import DistContext


def loss_sum(
    task: str, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-shard loss summed over samples (cross-entropy, optionally class-weighted, or squared
    error), in float32."""
    out = out.float()
    if task == "classification":
        return nn.functional.cross_entropy(out, y, weight=weight, reduction="sum")
    return nn.functional.mse_loss(out, y, reduction="sum")


@torch.no_grad()
def evaluate_epoch(
    model: nn.Module, data: Tensors, *, config: RunConfig, ctx: DistContext
) -> dict[str, float]:
    """Validation loss and accuracy, sharded over ranks."""
    model.eval()
    index = torch.arange(ctx.rank, len(data), ctx.world_size)
    total_loss, correct = 0.0, 0.0
    for chunk in index.split(1024):
        x, y = data.x[chunk].to(ctx.device), data.y[chunk].to(ctx.device)
        out = model(x)
        total_loss += float(loss_sum(config.task, out, y))
        if config.task == "classification":
            correct += float((out.argmax(dim=1) == y).sum())
    total_loss, correct, seen = ctx.all_reduce_sum([total_loss, correct, float(len(index))])
    row = {"val_loss": total_loss / seen}
    if config.task == "classification":
        row["val_accuracy"] = correct / seen
    return row

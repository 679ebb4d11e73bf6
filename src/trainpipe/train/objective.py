"""The loss the loop minimizes and the validation pass after each epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.errors import UserCodeError
from trainpipe.train.distributed import DistContext
from trainpipe.usercode.references import last_frame, load_reference

UserLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``train.loss``: ``(outputs, targets)`` of one batch to the batch's mean loss, a scalar."""


def load_user_loss(config: RunConfig) -> UserLoss | None:
    """The function ``train.loss`` names, or None for the built-in loss."""
    if not config.train.loss:
        return None
    loss = load_reference(config.train.loss, setting="train.loss", code=config.code)
    if not callable(loss):
        raise UserCodeError(
            f"train.loss {config.train.loss!r} is a {type(loss).__name__}, not a function of "
            "(outputs, targets)"
        )
    return loss


def check_user_loss(loss: UserLoss, out: torch.Tensor, y: torch.Tensor, *, ref: str) -> float:
    """The user's loss on one batch: it must return a finite scalar tensor; returns its value.

    Raises:
        UserCodeError: it raised, or returned a non-tensor, a tensor with dimensions, or NaN/inf.
    """
    try:
        value = loss(out.float(), y)
    except Exception as exc:
        raise UserCodeError(
            f"train.loss {ref!r} raised {type(exc).__name__}: {exc} at {last_frame(exc)} on the "
            f"first batch (outputs {list(out.shape)}, targets {list(y.shape)} {y.dtype})"
        ) from exc
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise UserCodeError(
            f"train.loss {ref!r} returned {got} on the first batch; return the batch's mean "
            "loss as a scalar tensor (e.g. losses.mean())"
        )
    if not math.isfinite(float(value.detach())):
        raise UserCodeError(
            f"train.loss {ref!r} returned {float(value.detach())} on the first batch of "
            f"{len(y)} rows, before any training; check it for log(0) or division by zero"
        )
    return float(value.detach())


def loss_sum(
    task: str,
    out: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None = None,
    user: UserLoss | None = None,
) -> torch.Tensor:
    """Per-shard loss summed over samples (cross-entropy, optionally class-weighted, or squared
    error; or the user's ``train.loss``), in float32."""
    out = out.float()
    if user is not None:
        # A batch mean weighted by the batch size: shards and micro-batches then add up to the
        # global batch's mean, as the built-in summed losses do.
        return user(out, y) * len(y)
    if task == "classification":
        return nn.functional.cross_entropy(out, y, weight=weight, reduction="sum")
    return nn.functional.mse_loss(out, y, reduction="sum")


@torch.no_grad()
def evaluate_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    config: RunConfig,
    ctx: DistContext,
    user_loss: UserLoss | None = None,
) -> dict[str, float]:
    """Validation loss (the loss training minimizes) and accuracy over this rank's validation
    ``batches`` (:meth:`TrainingData.validation_batches`), summed over ranks; without autograd
    (no graph is recorded for a pass nothing differentiates)."""
    model.eval()
    total_loss, correct, rows = 0.0, 0.0, 0
    with torch.no_grad():
        for x_cpu, y_cpu in batches:
            x, y = x_cpu.to(ctx.device), y_cpu.to(ctx.device)
            out = model(x)
            total_loss += float(loss_sum(config.task, out, y, user=user_loss))
            if config.task == "classification":
                correct += float((out.argmax(dim=1) == y).sum())
            rows += len(y)
    total_loss, correct, seen = ctx.all_reduce_sum([total_loss, correct, float(rows)])
    row = {"val_loss": total_loss / seen}
    if config.task == "classification":
        row["val_accuracy"] = correct / seen
    return row

"""The optimizer, its learning-rate schedule and gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.distributed.tensor import DTensor

from trainpipe.config import RunConfig


def make_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer named by ``train.optimizer``, fused where torch has a fused kernel for the
    parameters (:func:`can_fuse`): one kernel updates every parameter, where the default update
    runs a few per parameter (on the digits CNN on one CPU thread, 43 us a step against 160)."""
    train = config.train
    params = list(model.parameters())
    fused = True if can_fuse(params) else None  # None: torch's default implementation
    lr, decay = train.learning_rate, train.weight_decay
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay, fused=fused)
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay, fused=fused)
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay, fused=fused)


def can_fuse(params: list[nn.Parameter]) -> bool:
    """Whether torch's fused optimizer kernels take ``params``: whole (not sharded)
    floating-point tensors, all on the CPU or all on CUDA devices."""
    if not params or any(isinstance(p, DTensor) for p in params):
        return False
    kinds = {p.device.type for p in params}
    return (kinds == {"cpu"} or kinds == {"cuda"}) and all(p.is_floating_point() for p in params)


def set_per_parameter(optimizer: torch.optim.Optimizer, per_parameter: bool) -> None:
    """Make ``optimizer`` update one parameter at a time (neither fused nor ``foreach``: no
    temporaries the size of every parameter at once, its lowest-memory update); ``False``
    leaves the optimizer as it was built."""
    if not per_parameter:
        return
    for group in optimizer.param_groups:
        group["foreach"] = False
        if "fused" in group:
            group["fused"] = False


def learning_rate_at(config: RunConfig, step: int, total_steps: int, per_epoch: int) -> float:
    """Linear warmup over ``train.warmup_epochs``, then cosine decay to 10% of the peak."""
    peak = config.train.learning_rate
    warmup = config.train.warmup_epochs * per_epoch
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def clip_gradients(params: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip the gradients of ``params`` to a total norm of ``max_norm`` (0: no clipping);
    return their norm before clipping, a 0-dim tensor on their device (reading it is the
    caller's choice: on a GPU, that waits for the step).

    The arithmetic of ``torch.nn.utils.clip_grad_norm_``, bit for bit, in one fused norm and one
    fused scaling where the gradients share a dtype and device (the common case): its grouping
    and checks cost more than the clipping of a small model's step (41 us against 25 here).
    Sharded gradients (``train.strategy: fsdp``) go through ``clip_grad_norm_``, whose norm of
    the shards is reduced over the ranks into the whole gradient's norm.
    """
    owners = [p for p in params if p.grad is not None]
    grads = [p.grad for p in owners if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if any(isinstance(g, DTensor) for g in grads):
        total = nn.utils.clip_grad_norm_(owners, max_norm or math.inf)
        return total.full_tensor() if isinstance(total, DTensor) else total
    if len({(g.dtype, g.device) for g in grads}) > 1:
        return nn.utils.clip_grad_norm_(owners, max_norm or math.inf)
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_norm > 0 and not (total.device.type == "cpu" and _below(float(total), max_norm)):
        torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def _below(norm: float, max_norm: float) -> bool:
    """Whether a gradient norm is far enough under ``max_norm`` that clipping's factor
    ``clamp(max_norm / (norm + 1e-6), max=1)`` is exactly 1 in float32, so that scaling by it
    would leave every gradient as it is. Only where reading the norm is free (on the CPU): most
    steps of a healthy run are not clipped, and skipping their scaling saves a kernel per
    parameter. The margin covers the float32 rounding of the addition and the division."""
    return (norm + 1e-6) * (1 + 1e-5) < max_norm


def skips_on_device(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` can skip a step on the device (:func:`step_unless`): torch's fused
    Adam and AdamW kernels read a ``found_inf`` flag and leave the weights, the moments and
    the step count as they were when it is set. (The fused SGD kernel leaves a new momentum
    buffer unwritten, and the other implementations take no flag.)"""
    return type(optimizer) in (torch.optim.Adam, torch.optim.AdamW) and all(
        group.get("fused") for group in optimizer.param_groups
    )


def step_unless(optimizer: torch.optim.Optimizer, found_inf: torch.Tensor) -> None:
    """Step ``optimizer`` unless the 0-dim float ``found_inf`` is non-zero, decided on the
    device without a sync (as ``torch.amp.GradScaler`` steps a fused optimizer)."""
    optimizer.grad_scale = None  # type: ignore[attr-defined]
    optimizer.found_inf = found_inf  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.grad_scale  # type: ignore[attr-defined]
        del optimizer.found_inf  # type: ignore[attr-defined]

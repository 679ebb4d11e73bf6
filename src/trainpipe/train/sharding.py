"""``train.strategy: fsdp``: the model's parameters, gradients and optimizer state sharded over
the ranks with torch's ``fully_shard`` (FSDP2), where DDP keeps a whole copy on every rank.

Each rank holds 1/world_size of every sharded parameter. A forward all-gathers a block's
parameters just before it runs and frees them after; a backward reduce-scatters its gradients,
so each rank's optimizer updates its own shard. The arithmetic is DDP's (gradients averaged over
the ranks), so a run trains to DDP's weights within float rounding; what changes is that the
forward and backward themselves are collectives. That has two consequences the loop honours:

- every rank must run the same number of forwards, in evaluation as in training
  (:func:`lockstep`);
- an out-of-memory error inside a forward or backward on one rank leaves the others inside a
  collective, so it cannot be agreed on and backed off as under DDP: it fails the step, and the
  job's restart policy resumes from the newest checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor

from trainpipe.train.distributed import DistContext

Batch = tuple[torch.Tensor, torch.Tensor]


def shard_model(module: nn.Module) -> nn.Module:
    """Shard ``module`` in place with ``fully_shard``: every block of an ``nn.ModuleList`` (a
    transformer's layers: one all-gather each, freed after the block ran), then the rest of the
    model as one unit. Returns ``module``, now an ``FSDPModule``."""
    for child in module.modules():
        if isinstance(child, nn.ModuleList):
            for block in child:
                if any(p.requires_grad for p in block.parameters()):
                    fully_shard(block)
    fully_shard(module)
    return module


def is_sharded(module: nn.Module) -> bool:
    """Whether ``module`` was sharded by :func:`shard_model`."""
    return isinstance(module, FSDPModule)


def has_sharded_parameters(params: list[nn.Parameter]) -> bool:
    """Whether any of ``params`` is a shard (a ``DTensor``) rather than a whole tensor."""
    return any(isinstance(p, DTensor) for p in params)


def set_gradient_sync(module: nn.Module, sync: bool) -> None:
    """FSDP's ``no_sync``: with ``sync`` False, a backward keeps its gradients on this rank
    (accumulating micro-batches); the next backward with ``sync`` True reduces them all."""
    if isinstance(module, FSDPModule):
        module.set_requires_gradient_sync(sync)


def whole_model(module: nn.Module, build: Any, ctx: DistContext) -> nn.Module:
    """All ranks: on rank 0, an unsharded copy of a sharded ``module`` (built by ``build()``,
    loaded with the gathered weights, on the CPU), the model the artifact is written from;
    the other ranks get ``module`` back. An unsharded ``module`` is returned as it is."""
    if not is_sharded(module):
        return module
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(module, options=options)  # a collective
    if not ctx.is_main:
        return module
    whole: nn.Module = build()
    whole.load_state_dict(weights)
    return whole


def lockstep(batches: Iterator[Batch], ctx: DistContext, *, empty: Batch) -> Iterator[Batch]:
    """``batches`` padded so that every rank yields as many: while any rank still has a
    batch, a rank that has run out yields ``empty`` (zero rows, which add nothing to a sum).
    A sharded model's forward is a collective, so a rank that stopped early would leave the
    others waiting. One small all-reduce per batch decides."""
    iterator = iter(batches)
    while True:
        batch = next(iterator, None)
        if ctx.all_reduce_sum([float(batch is not None)])[0] == 0:
            return
        yield batch if batch is not None else empty

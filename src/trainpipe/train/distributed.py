"""Process-group setup from the environment that torchrun or a PyTorchJob pod provides.

Topology comes from the environment only (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``): the same code runs as one process or as a DDP worker.

A job's collectives carry two kinds of tensor: the model's gradients, on the training device,
and host values (the epoch's sums, the flags the ranks agree on, gathered objects), on the CPU.
NCCL takes CUDA tensors only, so a CUDA job's group has a backend for each device
(:func:`process_group_backend`: ``cpu:gloo,cuda:nccl``); a CPU job's is gloo alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

BUCKET_BYTES = 25 * 2**20
"""Gradient bytes reduced in one all-reduce (DDP's default bucket size)."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 does the side effects: checkpoints, model files, logs of record."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one process (DDP)."""
        return self.world_size > 1

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum ``values`` across every rank (a no-op for one process)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [float(v) for v in tensor.tolist()]

    def average_gradients(self, module: nn.Module) -> None:
        """Average every parameter's gradient over the ranks as DDP's backward does (each
        rank's gradient divided by the world size, then summed), in buckets of
        :data:`BUCKET_BYTES`; a parameter without a gradient counts as a zero one, so every rank
        sends the same buckets. A no-op for one process."""
        if not self.distributed:
            return
        grads = []
        for param in module.parameters():
            if param.requires_grad:
                if param.grad is None:
                    param.grad = torch.zeros_like(param)
                grads.append(param.grad)
        for bucket in _buckets(grads):
            flat = _flatten_dense_tensors(bucket)
            flat.div_(self.world_size)
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            for grad, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
                grad.copy_(synced)

    def gather_lists(self, items: list[Any]) -> list[Any]:
        """Every rank's ``items``, concatenated in rank order (a collective: every rank must
        call it; a copy of ``items`` for one process)."""
        if not self.distributed:
            return list(items)
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, items)
        return [item for part in gathered for item in part]

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.distributed:
            dist.barrier()


def _buckets(tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive tensors of one dtype and device, about :data:`BUCKET_BYTES` at a time."""
    buckets: list[list[torch.Tensor]] = []
    size = 0
    for tensor in tensors:
        bytes_ = tensor.numel() * tensor.element_size()
        last = buckets[-1][-1] if buckets else None
        same = last is not None and (last.dtype, last.device) == (tensor.dtype, tensor.device)
        if not same or size + bytes_ > BUCKET_BYTES:
            buckets.append([])
            size = 0
        buckets[-1].append(tensor)
        size += bytes_
    return buckets


def process_group_backend(device: str) -> str:
    """The process group backend of a job training on ``device``: gloo for a CPU job; for a
    CUDA job NCCL for CUDA tensors and gloo for the host values (NCCL refuses a CPU tensor)."""
    return "cpu:gloo,cuda:nccl" if device.startswith("cuda") else "gloo"


def backend_devices(backend: str) -> dict[str, str]:
    """The backend that serves each device type in a backend string (``"gloo"``,
    ``"cpu:gloo,cuda:nccl"``), as ``init_process_group`` reads it."""
    served: dict[str, str] = {}
    for part in backend.lower().split(","):
        device, _, name = part.strip().rpartition(":")
        for kind in [device] if device else dist.Backend.backend_capability.get(name, []):
            served[kind] = name
    return served


def context_from_env(*, timeout_seconds: int = 600) -> DistContext:
    """Read the topology from the environment and join the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    use_cuda = torch.cuda.is_available() and os.environ.get("TRAINPIPE_DEVICE", "auto") != "cpu"
    device = f"cuda:{local_rank}" if use_cuda else "cpu"
    if world > 1 and not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        timeout = timedelta(seconds=timeout_seconds)
        backend = process_group_backend(device)
        store = _restart_store(timeout)
        if store is None:
            dist.init_process_group(backend=backend, timeout=timeout)
        else:
            dist.init_process_group(
                backend=backend, store=store, rank=rank, world_size=world, timeout=timeout
            )
    return DistContext(
        rank=rank,
        local_rank=local_rank,
        world_size=world,
        local_world_size=local_world,
        device=device,
    )


def _restart_store(timeout: timedelta) -> dist.Store | None:
    """Under torchrun, the agent's store namespaced by the restart count; None outside torchrun
    or where the agent serves no store.

    After torchrun restarts its workers, a process group built on the agent's store as it is can
    dial a dead rank's address that the previous attempt left there. A prefix per restart
    (``TORCHELASTIC_RESTART_COUNT``) gives every attempt a clean namespace on the same store.
    """
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if restart is None or "MASTER_ADDR" not in os.environ:
        return None
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "True") != "True":
        # An elastic job's rendezvous shares no store (see trainpipe.launch.elastic): each
        # worker group gets a fresh one, served by its rank 0, and the restart counts of its
        # agents differ (a node that came back counts from 0), so no prefix either.
        return None
    base = dist.TCPStore(
        host_name=os.environ["MASTER_ADDR"],
        port=int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=timeout,
    )
    return dist.PrefixStore(f"trainpipe/restart{restart}", base)


def teardown() -> None:
    """Destroy the process group if one was created."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

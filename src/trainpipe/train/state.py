"""Where a training run stands (:class:`TrainState`, checkpointed) and what it produced
(:class:`FitResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from trainpipe.data.dataset import Schema
from trainpipe.train.data import Preprocess

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called on every rank after each epoch with ``(epoch, row)``; may raise to stop training."""
FailureCallback = Callable[[BaseException, list[dict[str, Any]], list[dict[str, float]]], None]
"""Called on every rank when training raises, with ``(error, events, history)``: the anomaly
events this rank holds (every rank's up to the last checkpoint on rank 0, and its own since) and
the epochs finished."""


@dataclass(kw_only=True)
class TrainState:
    """Where the loop stands; saved in every checkpoint as plain data."""

    epoch: int = 0
    step: int = 0
    """Optimizer steps already taken in ``epoch``."""
    global_step: int = 0
    lr_scale: float = 1.0
    rollbacks: int = 0
    micro_batches: int = 1
    """Slices each rank's shard is cut into (gradient accumulation); doubled on OOM."""
    optimizer_per_parameter: bool = False
    """The optimizer updates one parameter at a time (``foreach=False``, its lowest-memory
    update): set after its step ran out of memory."""
    parent: str = ""
    """The registered model the run warm-started from, kept across resumes."""
    partial: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Loss sum, correct count and samples of the current epoch so far (all ranks)."""
    history: list[dict[str, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sanity: dict[str, Any] | None = None
    """The sanity checks' result (rank 0, before the first step), kept across resumes."""


@dataclass
class FitResult:
    """What training produced."""

    model: nn.Module
    preprocess: Preprocess
    schema: Schema
    history: list[dict[str, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    resumed_from_step: int | None = None
    parent: str | None = None
    """The registered model this run warm-started from (``NAME:VERSION``)."""
    seconds: float = 0.0
    resources: list[dict[str, Any]] = field(default_factory=list)
    """Resource samples of every rank over time (see :mod:`trainpipe.monitor.resources`)."""
    sanity: dict[str, Any] | None = None
    """The sanity checks' result (:mod:`trainpipe.train.sanity`), None when they were off."""

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row of the history."""
        return self.history[-1] if self.history else {}

"""Training: the loop (one process or DDP), checkpoints, the model artifact, the entrypoint.

``python -m trainpipe.train --spec SPEC`` is the one entrypoint every backend runs.
"""

from __future__ import annotations

from trainpipe.train.artifacts import LoadedModel, load_model, save_model
from trainpipe.train.distributed import DistContext, context_from_env, teardown
from trainpipe.train.loop import FitResult, fit, run_training
from trainpipe.train.spec import TrainSpec

__all__ = [
    "DistContext",
    "FitResult",
    "LoadedModel",
    "TrainSpec",
    "context_from_env",
    "fit",
    "load_model",
    "run_training",
    "save_model",
    "teardown",
]

"""Hyperparameter tuning: an Optuna study shared by Katib-style parallel workers."""

from __future__ import annotations

from trainpipe.tune.study import load_study, make_pruner, make_sampler, open_storage
from trainpipe.tune.worker import TuneSummary, WorkerResult, best_params_json, run_worker, summarize

__all__ = [
    "TuneSummary",
    "WorkerResult",
    "best_params_json",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "run_worker",
    "summarize",
]

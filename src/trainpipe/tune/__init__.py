"""Hyperparameter tuning: an Optuna study shared by Katib-style parallel workers."""

from __future__ import annotations

from trainpipe.tune.study import (
    load_study,
    make_pruner,
    make_sampler,
    open_storage,
    setup_study,
    trial_budget,
)
from trainpipe.tune.worker import (
    TuneSummary,
    WorkerResult,
    best_params_json,
    recover_stale_trials,
    run_worker,
    study_location,
    summarize,
)

__all__ = [
    "TuneSummary",
    "WorkerResult",
    "best_params_json",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "recover_stale_trials",
    "run_worker",
    "setup_study",
    "study_location",
    "summarize",
    "trial_budget",
]

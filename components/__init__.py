"""The trainpipe KFP component suite: one thin component per pipeline stage.

Each component only marshals KFP inputs and outputs and calls the core library; ``trainpipe`` is
imported inside the function bodies, so these modules import nothing heavier than ``kfp``.
"""

from trainpipe_components.evaluate import evaluate_op
from trainpipe_components.ingest import ingest_op
from trainpipe_components.register import register_op
from trainpipe_components.split import split_op
from trainpipe_components.train import train_op
from trainpipe_components.tune import tune_select_op, tune_setup_op, tune_worker_op
from trainpipe_components.validate import validate_op

__all__ = [
    "evaluate_op",
    "ingest_op",
    "register_op",
    "split_op",
    "train_op",
    "tune_select_op",
    "tune_setup_op",
    "tune_worker_op",
    "validate_op",
]

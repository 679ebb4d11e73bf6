"""Before any job starts: the user's model, loss and loop work on the first batch of training data.

A custom model is built exactly as each rank will build it and run on the first batch; a user
loss is evaluated on that batch's outputs; a user's ``train.entrypoint`` runs one epoch of one
batch in this process (:func:`~trainpipe.train.user_loop.dry_run_entrypoint`). Whatever is wrong
(an import, a factory that raises or returns the wrong thing, outputs of the wrong shape, a loss
that is not a finite scalar, a loop that raises or never saves its model) stops the train stage
here, with the user's own line in the message, before a pod is scheduled or a model file is
written.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainpipe.models.custom import check_outputs
from trainpipe.models.inputs import ModelInputs
from trainpipe.train.objective import check_user_loss, load_user_loss
from trainpipe.train.spec import TrainSpec
from trainpipe.train.training_data import build_run_model, load_training_data
from trainpipe.train.user_loop import dry_run_entrypoint

__all__ = ["check_user_code", "uses_user_code"]


def uses_user_code(spec: TrainSpec) -> bool:
    """Whether the run trains a user's model or minimizes a user's loss."""
    config = spec.config
    return config.model.kind == "custom" or bool(config.train.loss or config.train.entrypoint)


def check_user_code(spec: TrainSpec, *, metrics: Sequence[str] = ()) -> str:
    """Build the model and take the loss on the first training batch, dry-run the user's loop;
    return what was checked. ``metrics``: names the loop must report (tuning's objectives).

    Raises:
        UserCodeError: naming the setting, the user's module and the line that failed.
    """
    config = spec.config
    data = load_training_data(spec, device="cpu")  # read once, for the checks and the dry run
    train, _ = data.check_tensors()
    preprocess, n_outputs = data.preprocess, data.n_outputs
    module = build_run_model(config, data)
    rows = min(config.train.batch_size, len(train))
    x, y = train.x[:rows], train.y[:rows]
    checked = []
    if config.model.kind == "custom":
        inputs = ModelInputs(task=config.task, n_features=preprocess.width, n_outputs=n_outputs)
        check_outputs(module, inputs, x, ref=config.model.factory)
        count = sum(p.numel() for p in module.parameters())
        checked.append(
            f"model.factory {config.model.factory} built a {type(module).__name__} "
            f"({count:,} parameters) that maps {list(x.shape)} to [{rows}, {n_outputs}]"
        )
    loss = load_user_loss(config)
    if loss is not None:
        module.eval()
        with torch.no_grad():
            value = check_user_loss(loss, module(x), y, ref=config.train.loss)
        checked.append(f"train.loss {config.train.loss} = {value:.4g} on the first batch")
    if config.train.entrypoint:
        checked.append(dry_run_entrypoint(spec, metrics=metrics, data=data))
    return "; ".join(checked)

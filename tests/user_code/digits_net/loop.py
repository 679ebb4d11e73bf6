"""Training functions as a user writes them for ``train.entrypoint``: plain torch and the context.

``train`` is the loop a team would write: Adam with a step decay, a mid-epoch checkpoint when the
context says one is due, and the context's loaders, so that a killed job resumes bit-identically.
The others are the mistakes trainpipe must catch before any job starts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def train(ctx: Any) -> None:
    """Adam on the run's loss, the learning rate decayed by a tenth every 3 epochs."""
    model = ctx.build_model()
    ddp = ctx.prepare(model)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=ctx.config.train.learning_rate)
    state = ctx.load_checkpoint()
    seen = torch.zeros(2, dtype=torch.float64)  # this epoch's loss sum and rows
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        seen = state["seen"]

    def snapshot() -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "seen": seen}

    for epoch in ctx.epochs():
        for group in optimizer.param_groups:
            group["lr"] = ctx.config.train.learning_rate * 0.9 ** (epoch // 3)
        ddp.train()
        for x, y in ctx.train_loader(epoch):
            loss = ctx.loss(ddp(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += torch.tensor([loss.item() * len(y), len(y)], dtype=torch.float64)
            if ctx.checkpoint_due:
                ctx.save_checkpoint(snapshot())
        train_loss = float(seen[0] / seen[1])
        seen = torch.zeros(2, dtype=torch.float64)
        ctx.report(epoch, train_loss=train_loss, checkpoint=snapshot(), **ctx.evaluate(ddp))
    ctx.save_model(model)


CRASH_AT = [-1]
"""The global step :func:`crashes_mid_epoch` crashes at, once (a test sets it)."""


def crashes_mid_epoch(ctx: Any) -> None:
    """:func:`train`, crashing when the loader hands out the batch of global step ``CRASH_AT``
    (before that step is taken) the first time it gets there: a kill between checkpoints."""
    loader = ctx.train_loader

    def crashing(epoch: int) -> Any:
        for batch in loader(epoch):
            if ctx.position.global_step == CRASH_AT[0]:
                CRASH_AT[0] = -1
                raise RuntimeError(f"crash drill at global step {ctx.position.global_step}")
            yield batch

    ctx.train_loader = crashing
    train(ctx)


def forgets_to_save(ctx: Any) -> None:
    """Trains, reports, and returns without ``ctx.save_model``."""
    model = ctx.build_model()
    for epoch in ctx.epochs():
        ctx.report(epoch, **ctx.evaluate(model))


def raises(ctx: Any) -> None:
    """A loop with a bug in its first step."""
    model = ctx.build_model()
    for x, _ in ctx.train_loader(0):
        model(x.reshape(len(x), 8, 8))


def saves_another_model(ctx: Any) -> None:
    """Saves a module that is not the architecture the config builds."""
    ctx.save_model(nn.Linear(64, 10))


def checkpoints_the_model_object(ctx: Any) -> None:
    """Puts the module itself, not its state dict, into a checkpoint."""
    model = ctx.build_model()
    ctx.save_checkpoint({"model": model})
    ctx.save_model(model)


def reports_nothing(ctx: Any) -> None:
    """Trains without reporting any metric (so it cannot be tuned)."""
    model = ctx.build_model()
    ctx.save_model(model)


def swallows_errors(ctx: Any) -> None:
    """Reports inside a broad ``except Exception`` (as loops with retry logic do)."""
    model = ctx.build_model()
    for epoch in ctx.epochs():
        try:
            ctx.report(epoch, **ctx.evaluate(model))
        except Exception as exc:  # logs and carries on
            print(f"report failed: {exc}")
    ctx.save_model(model)


not_a_function = 3

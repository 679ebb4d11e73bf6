"""The team's own training loop: AdamW with a cosine schedule on the run's loss (the focal loss).

trainpipe runs it on every rank (``train.entrypoint: digits_resnet.loop:train``) and hands it a
context: the loaders give every rank its shard of each global batch in a (seed, epoch) order and
resume mid-epoch, ``report`` feeds monitoring, tuning and the preemption check, and
``save_checkpoint``/``load_checkpoint`` make a killed job resume where it was.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def train(ctx: Any) -> None:
    """Train the model ``model.factory`` builds for ``train.epochs`` epochs and save it."""
    net = ctx.build_model()  # the factory's module: what is checkpointed and saved
    model = ctx.prepare(net)  # on the device, in DistributedDataParallel with several ranks
    peak, epochs = ctx.config.train.learning_rate, ctx.config.train.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=1e-4)
    running = [0.0, 0.0]  # this epoch's loss sum and rows, so a mid-epoch resume is exact
    state = ctx.load_checkpoint()
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        running = list(state["running"])

    def snapshot() -> dict[str, Any]:
        return {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "running": running}

    for epoch in ctx.epochs():
        for group in optimizer.param_groups:  # cosine from the peak down to a tenth of it
            group["lr"] = peak * (0.55 + 0.45 * math.cos(math.pi * epoch / max(1, epochs - 1)))
        model.train()
        for x, y in ctx.train_loader(epoch):
            loss = ctx.loss(model(x), y)  # train.loss: digits_resnet.losses:focal
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running = [running[0] + loss.item() * len(y), running[1] + len(y)]
            if ctx.checkpoint_due:
                ctx.save_checkpoint(snapshot())
        train_loss = running[0] / max(running[1], 1)
        running = [0.0, 0.0]
        ctx.report(epoch, train_loss=train_loss, checkpoint=snapshot(), **ctx.evaluate(model))
    ctx.save_model(net)

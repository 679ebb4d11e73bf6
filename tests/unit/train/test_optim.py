"""Unit tests for the optimizer choice and gradient clipping (the schedule: test_training_loop)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.train.optim import clip_gradients, make_optimizer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
def test_the_optimizer_named_by_the_config(name: str, kind: type) -> None:
    config = RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "train": {"optimizer": name, "learning_rate": 0.05, "weight_decay": 0.01},
        }
    )
    optimizer = make_optimizer(config, nn.Linear(2, 1))
    assert type(optimizer) is kind
    (group,) = optimizer.param_groups
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)


def with_gradient(values: list[float]) -> nn.Module:
    model = nn.Linear(len(values), 1, bias=False)
    model.weight.grad = torch.tensor([values])
    return model


def test_clipping_scales_the_gradient_down_to_the_limit() -> None:
    model = with_gradient([3.0, 4.0])
    assert clip_gradients(model, 1.0) == pytest.approx(5.0)
    assert model.weight.grad is not None
    assert float(model.weight.grad.norm()) == pytest.approx(1.0, rel=1e-5)


def test_no_clipping_reports_the_norm_and_keeps_the_gradient() -> None:
    model = with_gradient([3.0, 4.0])
    assert clip_gradients(model, 0.0) == pytest.approx(5.0)
    assert model.weight.grad is not None
    assert model.weight.grad.tolist() == [[3.0, 4.0]]


def test_no_gradients_have_norm_zero() -> None:
    assert clip_gradients(nn.Linear(2, 1), 1.0) == 0.0

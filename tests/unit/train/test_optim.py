"""Unit tests for the optimizer choice and gradient clipping (the schedule: test_training_loop)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.train.optim import (
    can_fuse,
    clip_gradients,
    make_optimizer,
    set_per_parameter,
    skips_on_device,
    step_unless,
)

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
    assert group["fused"], "one fused kernel updates the CPU parameters"
    set_per_parameter(optimizer, True)
    assert group["fused"] is False and group["foreach"] is False


def with_gradient(values: list[float]) -> nn.Module:
    model = nn.Linear(len(values), 1, bias=False)
    model.weight.grad = torch.tensor([values])
    return model


def test_clipping_scales_the_gradient_down_to_the_limit() -> None:
    model = with_gradient([3.0, 4.0])
    assert float(clip_gradients(model.parameters(), 1.0)) == pytest.approx(5.0)
    assert model.weight.grad is not None
    assert float(model.weight.grad.norm()) == pytest.approx(1.0, rel=1e-5)


def test_no_clipping_reports_the_norm_and_keeps_the_gradient() -> None:
    model = with_gradient([3.0, 4.0])
    assert float(clip_gradients(model.parameters(), 0.0)) == pytest.approx(5.0)
    assert model.weight.grad is not None
    assert model.weight.grad.tolist() == [[3.0, 4.0]]


def test_no_gradients_have_norm_zero() -> None:
    assert float(clip_gradients(nn.Linear(2, 1).parameters(), 1.0)) == 0.0


# Limits as multiples of the gradients' norm (about 8, or 8e-4 scaled): near 1 the float32
# rounding of the factor and its 1e-6 decide whether the gradients are scaled.
@pytest.mark.parametrize("scale", [1.0, 1e-4])
@pytest.mark.parametrize(
    "limit", [0.0, 0.06, 1e9, 0.999, 1.0, 1 + 1e-7, 1 + 1e-6, 1 + 1e-5, 1 + 1e-3, 1.01]
)
def test_clipping_is_torchs_arithmetic_bit_for_bit(limit: float, scale: float) -> None:
    torch.manual_seed(0)
    ours, theirs = (nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3)) for _ in range(2))
    theirs.load_state_dict(ours.state_dict())
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        a.grad = torch.randn_like(a) * scale
        b.grad = a.grad.clone()
    max_norm = limit * float(nn.utils.get_total_norm([p.grad for p in ours.parameters()]))
    norm = clip_gradients(ours.parameters(), max_norm)
    expected = nn.utils.clip_grad_norm_(theirs.parameters(), max_norm or float("inf"))
    assert torch.equal(norm, expected)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)


def test_gradients_of_two_dtypes_are_clipped_together() -> None:
    model = nn.Linear(2, 2)
    model.weight.grad = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    model.bias.data = model.bias.data.double()
    model.bias.grad = torch.tensor([4.0, 0.0], dtype=torch.float64)
    assert float(clip_gradients(model.parameters(), 1.0)) == pytest.approx(5.0)
    assert float(model.weight.grad[0, 0]) == pytest.approx(0.6, rel=1e-5)
    assert float(model.bias.grad[0]) == pytest.approx(0.8, rel=1e-5)


def test_only_floating_point_parameters_of_one_device_type_are_fused() -> None:
    assert can_fuse(list(nn.Linear(2, 1).parameters()))
    assert not can_fuse([])
    assert not can_fuse([nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)])
    assert not can_fuse([nn.Parameter(torch.zeros(2, device="meta"))])


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.AdamW])
def test_a_fused_adam_step_is_skipped_on_the_device_when_found_inf_is_set(
    kind: type[torch.optim.Optimizer],
) -> None:
    torch.manual_seed(0)
    skipped, plain = nn.Linear(3, 2), nn.Linear(3, 2)
    plain.load_state_dict(skipped.state_dict())
    opt_skipped = kind(skipped.parameters(), lr=0.1, weight_decay=0.1, fused=True)
    opt_plain = kind(plain.parameters(), lr=0.1, weight_decay=0.1, fused=True)
    assert skips_on_device(opt_skipped)
    for p in skipped.parameters():
        p.grad = torch.full_like(p, float("nan"))
    step_unless(opt_skipped, torch.ones(()))
    assert all(torch.isfinite(p).all() for p in skipped.parameters()), "nothing reached them"
    for model, optimizer in ((skipped, opt_skipped), (plain, opt_plain)):
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        step_unless(optimizer, torch.zeros(()))
    for a, b in zip(skipped.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b), "the skipped step left no trace: not even Adam's step count"
    assert not hasattr(opt_skipped, "found_inf")


def test_sgd_and_unfused_optimizers_do_not_skip_on_the_device() -> None:
    params = list(nn.Linear(2, 1).parameters())
    assert not skips_on_device(torch.optim.SGD(params, lr=0.1, momentum=0.9, fused=True))
    assert not skips_on_device(torch.optim.AdamW(params, lr=0.1))
    fused = torch.optim.AdamW(params, lr=0.1, fused=True)
    set_per_parameter(fused, True)
    assert not skips_on_device(fused)

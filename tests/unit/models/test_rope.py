"""RoPE: the relative-position property, norm preservation, identity at position 0.

The checks live in ``layer_checks``; the meta-tests at the end run them on RoPE layers broken on
purpose and expect them to fail, so a green run here means something.
"""

from __future__ import annotations

import pytest
import torch
from layer_checks import check_rope, rope_relative_violation

from trainpipe.models import rope as rope_module
from trainpipe.models.rope import RotaryEmbedding, rotate_half

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("dim", [2, 8, 16, 64])
def test_rope_scores_depend_only_on_the_distance(dim: int) -> None:
    check_rope(RotaryEmbedding(dim).double(), dim)


def test_rope_rotates_every_head_and_batch_alike() -> None:
    rope = RotaryEmbedding(8)
    x = torch.randn(3, 4, 10, 8)  # [batch, heads, length, dim]
    out = rope(x)
    assert out.shape == x.shape
    # the same vector at the same position rotates the same way in every batch row and head
    same = x[:1, :1].expand_as(x)
    rotated = rope(same)
    torch.testing.assert_close(rotated, rotated[:1, :1].expand_as(x))
    # and positions 0..L-1 by default
    torch.testing.assert_close(out, rope(x, torch.arange(10)))


def test_rope_is_a_rotation_of_channel_pairs() -> None:
    # dim 2: a plain 2-D rotation by the position (frequency base**0 = 1)
    rope = RotaryEmbedding(2).double()
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    out = rope(x, torch.tensor([torch.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0]], dtype=torch.float64))


def test_rotate_half() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(rotate_half(x), torch.tensor([-3.0, -4.0, 1.0, 2.0]))


def test_rope_keeps_the_dtype_and_has_no_state() -> None:
    rope = RotaryEmbedding(16)
    assert rope(torch.randn(2, 5, 16, dtype=torch.bfloat16)).dtype == torch.bfloat16
    assert rope.state_dict() == {}, "the frequencies are derived, not saved in checkpoints"


@pytest.mark.parametrize("dim", [0, 1, 7])
def test_rope_needs_an_even_dimension(dim: int) -> None:
    with pytest.raises(ValueError, match=f"even dim >= 2, got dim={dim}"):
        RotaryEmbedding(dim)


# --- the checks fail on broken layers ----------------------------------------------------------


class RopeVariant(torch.nn.Module):
    """A correct RoPE that subclasses break on purpose by overriding :meth:`encode`."""

    def __init__(self, dim: int):
        super().__init__()
        self.rope = RotaryEmbedding(dim).double()

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        if positions is None:
            positions = torch.arange(x.shape[-2])
        return self.encode(x, positions)

    def encode(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.rope(x, positions)


class AbsoluteAdditive(RopeVariant):
    """A sinusoidal absolute position encoding added to q and k: not relative."""

    def encode(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        cos, sin = self.rope.angles(positions)
        return x + torch.cat((cos[..., ::2], sin[..., ::2]), dim=-1).to(x.dtype)


class OffByOne(RopeVariant):
    """Rotates position m by m + 1: relative, but position 0 is no identity."""

    def encode(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.rope(x, positions + 1)


class Scaled(RopeVariant):
    """A correct rotation followed by a 1 % gain: relative scores scale, norms grow."""

    def encode(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return 1.01 * self.rope(x, positions)


def test_the_unbroken_variant_passes_the_checks() -> None:
    check_rope(RopeVariant(16), 16)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (AbsoluteAdditive, "changes under a shift"),
        (OffByOne, "position 0 is not the identity"),
        (Scaled, "changes vector norms"),
    ],
    ids=["absolute-additive", "off-by-one", "scaled"],
)
def test_the_rope_checks_catch_a_broken_layer(broken: type[torch.nn.Module], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_rope(broken(16), 16)


def test_the_rope_check_catches_a_wrong_rotate_half(monkeypatch: pytest.MonkeyPatch) -> None:
    rope = RotaryEmbedding(16).double()
    check_rope(rope, 16)  # healthy before the break
    # rotating each half onto itself instead of onto the other half breaks the rotation
    monkeypatch.setattr(rope_module, "rotate_half", lambda x: torch.flip(x, dims=(-1,)))
    with pytest.raises(AssertionError):
        check_rope(rope, 16)


def test_the_relative_violation_is_large_for_an_absolute_encoding() -> None:
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    real = rope_relative_violation(RotaryEmbedding(16).double(), q, k, 3.0, 10.0, 100.0)
    broken = rope_relative_violation(AbsoluteAdditive(16), q, k, 3.0, 10.0, 100.0)
    assert real < 1e-9
    assert broken > 1e-2

"""Property checks for the sequence model's layers, shared by the layer tests and their meta-tests.

Each ``*_violation`` function measures how far a layer is from a property (0 when it holds), and
each ``check_*`` function asserts the properties with those measures. The layer tests run the
``check_*`` functions on the real layers; the meta-tests run the very same functions on layers
broken on purpose and expect an AssertionError, which proves the checks can fail.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trainpipe.models.attention import allowed_keys

ATOL = 1e-4

Rope = Callable[..., torch.Tensor]
"""``rope(x [..., length, dim], positions [length] | None) -> rotated x``."""


def _at(rope: Rope, x: torch.Tensor, position: float) -> torch.Tensor:
    """``x`` ``[dim]`` rotated as if it sat at ``position``."""
    return rope(x[None], torch.tensor([position], dtype=torch.float64))[0]


def rope_relative_violation(
    rope: Rope, q: torch.Tensor, k: torch.Tensor, m: float, n: float, shift: float
) -> float:
    """``|<R_m q, R_n k> - <R_{m+s} q, R_{n+s} k>|``: 0 when scores depend only on ``m - n``."""
    base = torch.dot(_at(rope, q, m), _at(rope, k, n))
    shifted = torch.dot(_at(rope, q, m + shift), _at(rope, k, n + shift))
    return float((base - shifted).abs())


def rope_distance_violation(
    rope: Rope, q: torch.Tensor, k: torch.Tensor, m: float, n: float
) -> float:
    """``|<R_m q, R_n k> - <R_{m-n} q, R_0 k>|``: the score is a function of the distance alone."""
    return float(
        (
            torch.dot(_at(rope, q, m), _at(rope, k, n))
            - torch.dot(_at(rope, q, m - n), _at(rope, k, 0))
        ).abs()
    )


def rope_norm_violation(rope: Rope, x: torch.Tensor) -> float:
    """Largest ``| |R_m x| - |x| |`` over the rows of ``x`` ``[length, dim]`` (positions 0..)."""
    return float((rope(x, None).norm(dim=-1) - x.norm(dim=-1)).abs().max())


def rope_identity_violation(rope: Rope, x: torch.Tensor) -> float:
    """Largest ``|R_0 x - x|``: position 0 must not rotate."""
    return float((_at(rope, x, 0.0) - x).abs().max())


def check_rope(rope: Rope, dim: int, *, seed: int = 0, trials: int = 20) -> None:
    """Assert RoPE's properties on random vectors, positions and shifts (float64)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(trials):
        q = torch.randn(dim, generator=g, dtype=torch.float64)
        k = torch.randn(dim, generator=g, dtype=torch.float64)
        m, n = (float(v) for v in torch.randint(0, 512, (2,), generator=g))
        shift = float(torch.randint(-256, 256, (1,), generator=g))
        relative = rope_relative_violation(rope, q, k, m, n, shift)
        assert relative < ATOL, (
            f"<R_m q, R_n k> changes under a shift of both positions by {shift}: {relative:.3g}"
        )
        distance = rope_distance_violation(rope, q, k, m, n)
        assert distance < ATOL, f"<R_m q, R_n k> is not a function of m - n: off by {distance:.3g}"
    x = torch.randn(64, dim, generator=g, dtype=torch.float64)
    norm = rope_norm_violation(rope, x)
    assert norm < ATOL, f"RoPE changes vector norms by up to {norm:.3g}"
    identity = rope_identity_violation(rope, x[0])
    assert identity < ATOL, f"RoPE at position 0 is not the identity: off by {identity:.3g}"


def row_sum_violation(weights: torch.Tensor, allowed: torch.Tensor | None) -> float:
    """Largest ``|sum_j w_ij - 1|`` over rows with an allowed key (``|sum|`` for rows with none)."""
    if allowed is None:
        allowed = torch.ones_like(weights, dtype=torch.bool)
    allowed = allowed.expand_as(weights)
    expected = allowed.any(dim=-1).to(weights.dtype)
    return float((weights.sum(dim=-1) - expected).abs().max())


def masked_weight(weights: torch.Tensor, allowed: torch.Tensor | None) -> float:
    """Largest ``|w_ij|`` where key ``j`` is masked for query ``i`` (must be exactly 0)."""
    if allowed is None:
        return 0.0
    return float(weights.masked_fill(allowed.expand_as(weights), 0.0).abs().max())


def check_attention_maps(weights: torch.Tensor, allowed: torch.Tensor | None) -> None:
    """Assert maps are finite, non-negative, row-stochastic and exactly 0 where masked."""
    assert torch.isfinite(weights).all(), "attention maps hold NaN or inf"
    assert (weights >= 0).all(), "attention maps hold negative weights"
    masked = masked_weight(weights, allowed)
    assert masked == 0.0, f"masked keys get attention weight up to {masked:.3g}"
    rows = row_sum_violation(weights, allowed)
    assert rows < ATOL, f"attention rows do not sum to 1 over allowed keys: off by {rows:.3g}"


def padding_mask(lengths: list[int], length: int) -> torch.Tensor:
    """bool ``[batch, length]``, True at the first ``lengths[b]`` positions (0: all padding)."""
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


def check_attention_layer(make: Callable[[bool], nn.Module], *, d_model: int = 16) -> None:
    """Assert ``make(causal)``'s maps over causal/non-causal and padded/unpadded batches.

    The batch holds a full sequence, partly padded ones, and an all-padding one; under the causal
    mask a left-padded row also leaves its first queries with no key at all.
    """
    torch.manual_seed(0)
    length = 7
    x = torch.randn(5, length, d_model)
    right = padding_mask([7, 4, 1, 0, 7], length)
    left = right.clone()
    left[4, :3] = False  # left padding: queries 0..2 see no real key under a causal mask
    for causal in (False, True):
        layer = make(causal).eval()
        for key_padding in (None, right, left):
            with torch.no_grad():
                out, weights = layer(x, key_padding)
            assert weights.shape == (5, layer.heads, length, length)
            assert torch.isfinite(out).all(), "attention output holds NaN or inf"
            check_attention_maps(
                weights, allowed_keys(length, causal=causal, key_padding=key_padding)
            )

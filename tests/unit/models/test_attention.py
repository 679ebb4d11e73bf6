"""Attention maps: row-stochastic, exactly 0 where the causal or padding mask hides a key, no NaN.

The checks live in ``layer_checks``; the meta-tests at the end break the layer on purpose (softmax
over the wrong dimension, the mask ignored, -inf masking without the zero fill) and expect the
same checks to fail.
"""

from __future__ import annotations

import pytest
import torch
from layer_checks import (
    check_attention_layer,
    check_attention_maps,
    masked_weight,
    padding_mask,
    row_sum_violation,
)

from trainpipe.models import attention as attention_module
from trainpipe.models.attention import MultiHeadSelfAttention, allowed_keys, masked_softmax

pytestmark = pytest.mark.unit


def make_layer(causal: bool) -> MultiHeadSelfAttention:
    return MultiHeadSelfAttention(16, 4, dropout=0.0, causal=causal)


def test_attention_maps_are_row_stochastic_and_respect_the_masks() -> None:
    check_attention_layer(make_layer)


def test_allowed_keys() -> None:
    assert allowed_keys(3, causal=False) is None
    causal = allowed_keys(3, causal=True)
    assert causal is not None
    assert causal[0, 0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    padded = allowed_keys(3, causal=True, key_padding=padding_mask([2, 0], 3))
    assert padded is not None
    assert padded.shape == (2, 1, 3, 3)
    assert padded[0, 0].tolist() == [[True, False, False], [True, True, False], [True, True, False]]
    assert not padded[1].any()


def test_masked_softmax_of_a_fully_masked_row_is_zero() -> None:
    scores = torch.randn(2, 4)
    allowed = torch.tensor([[True, False, True, False], [False, False, False, False]])
    weights = masked_softmax(scores, allowed)
    assert weights[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    torch.testing.assert_close(weights[0, [0, 2]], torch.softmax(scores[0, [0, 2]], dim=-1))


def test_causal_outputs_ignore_the_future() -> None:
    torch.manual_seed(0)
    layer = make_layer(True).eval()
    x = torch.randn(2, 6, 16)
    future = x.clone()
    future[:, 3:] = torch.randn(2, 3, 16)
    with torch.no_grad():
        out, _ = layer(x)
        changed, _ = layer(future)
    torch.testing.assert_close(out[:, :3], changed[:, :3])
    assert not torch.allclose(out[:, 3:], changed[:, 3:])


def test_padding_keys_do_not_change_real_positions() -> None:
    torch.manual_seed(0)
    layer = make_layer(False).eval()
    x = torch.randn(1, 6, 16)
    noise = x.clone()
    noise[:, 4:] = torch.randn(1, 2, 16)
    mask = padding_mask([4], 6)
    with torch.no_grad():
        out, _ = layer(x, mask)
        changed, _ = layer(noise, mask)
    torch.testing.assert_close(out[:, :4], changed[:, :4])


def test_attention_is_a_weighted_mean_of_values() -> None:
    # with every query and key zero, attention is uniform over the allowed keys
    layer = make_layer(True).eval()
    with torch.no_grad():
        layer.qkv.weight.zero_()
        layer.qkv.bias.zero_()
        _, weights = layer(torch.randn(1, 4, 16))
    expected = torch.tensor([[1, 0, 0, 0], [1 / 2, 1 / 2, 0, 0], [1 / 3] * 3 + [0], [1 / 4] * 4])
    torch.testing.assert_close(weights[0, 0], expected)


def test_attention_needs_whole_heads() -> None:
    with pytest.raises(ValueError, match="d_model=10 is not a multiple of heads=4"):
        MultiHeadSelfAttention(10, 4)


# --- the checks fail on broken layers ----------------------------------------------------------


def softmax_over_queries(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Broken: normalizes each key's column instead of each query's row."""
    fill = torch.finfo(scores.dtype).min
    masked = scores if allowed is None else scores.masked_fill(~allowed, fill)
    weights = torch.softmax(masked, dim=-2)
    return weights if allowed is None else weights.masked_fill(~allowed, 0.0)


def mask_ignored(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Broken: attends to the future and to padding."""
    return torch.softmax(scores, dim=-1)


def minus_infinity(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Broken: -inf masking alone turns a query with no allowed key into NaNs."""
    if allowed is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (softmax_over_queries, "do not sum to 1"),
        (mask_ignored, "masked keys get attention"),
        (minus_infinity, "NaN or inf"),
    ],
    ids=["softmax-wrong-dim", "mask-ignored", "nan-on-empty-rows"],
)
def test_the_attention_checks_catch_a_broken_layer(
    monkeypatch: pytest.MonkeyPatch, broken: object, message: str
) -> None:
    monkeypatch.setattr(attention_module, "masked_softmax", broken)
    with pytest.raises(AssertionError, match=message):
        check_attention_layer(make_layer)


def test_the_map_measures_see_each_break() -> None:
    scores = torch.randn(1, 1, 5, 5)
    allowed = allowed_keys(5, causal=True)
    good = masked_softmax(scores, allowed)
    check_attention_maps(good, allowed)
    assert row_sum_violation(softmax_over_queries(scores, allowed), allowed) > 0.1
    assert masked_weight(mask_ignored(scores, allowed), allowed) > 0.0
    with pytest.raises(AssertionError, match="masked keys"):
        check_attention_maps(mask_ignored(scores, allowed), allowed)

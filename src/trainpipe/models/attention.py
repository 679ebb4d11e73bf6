"""Multi-head self-attention with RoPE and an explicit softmax, so attention maps can be inspected;
torch's fused attention kernel where the maps are not asked for (training, prediction).

The scores are ``softmax(Q K^T / sqrt(d_head))`` over the keys, with masked keys (future
positions under a causal mask, padding tokens) set to exactly 0. A query that may see no key at
all (a padding position under a causal mask) gets an all-zero row instead of NaNs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainpipe.models.rope import RotaryEmbedding

__all__ = ["MultiHeadSelfAttention", "allowed_keys", "masked_softmax"]


def allowed_keys(
    length: int,
    *,
    causal: bool,
    key_padding: torch.Tensor | None = None,
    device: torch.device | None = None,
) -> torch.Tensor | None:
    """Which keys each query may attend to: bool ``[batch or 1, 1, length, length]``, or None.

    Args:
        length: the sequence length.
        causal: query ``i`` sees keys ``j <= i`` only.
        key_padding: bool ``[batch, length]``, True where a position holds a real token; padding
            keys are hidden from every query.
        device: where to build the causal mask when there is no ``key_padding``.

    Returns:
        True where attention is allowed; None when everything is (no mask needed).
    """
    mask: torch.Tensor | None = None
    if causal:
        mask = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]
    if key_padding is not None:
        keys = key_padding[:, None, None, :]
        mask = keys if mask is None else mask & keys
    return mask


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dimension where ``allowed``; disallowed entries are exactly 0.

    A row with no allowed entry is all zeros (not NaN).
    """
    if allowed is None:
        return torch.softmax(scores, dim=-1)
    # A finite fill keeps fully masked rows finite; the second fill zeroes them (and rounds
    # every masked entry to an exact 0 whatever exp() underflows to).
    fill = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~allowed, fill), dim=-1)
    return weights.masked_fill(~allowed, 0.0)


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over ``[batch, length, d_model]`` with RoPE on queries and keys per head.

    Args:
        d_model: the model width; a multiple of ``heads`` with an even width per head.
        heads: the number of attention heads.
        dropout: dropout on the attention weights (training only).
        causal: each position attends to itself and earlier positions only.
    """

    def __init__(self, d_model: int, heads: int, *, dropout: float = 0.0, causal: bool = False):
        super().__init__()
        if heads < 1 or d_model % heads:
            raise ValueError(f"d_model={d_model} is not a multiple of heads={heads}")
        self.heads = heads
        self.d_head = d_model // heads
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rope = RotaryEmbedding(self.d_head)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        *,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend; return the output ``[batch, length, d_model]`` and the attention weights.

        Args:
            x: ``[batch, length, d_model]``.
            key_padding: bool ``[batch, length]``, True at real tokens (None: no padding).
            need_weights: False computes the same attention with torch's fused
                ``scaled_dot_product_attention`` (flash or memory-efficient kernels on a GPU:
                the maps are never materialized) and returns None for the weights.

        Returns:
            ``(output, weights)``; ``weights`` ``[batch, heads, length, length]`` are the
            attention maps before dropout: each row sums to 1 over the allowed keys.
        """
        batch, length, width = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, self.d_head)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # [3, batch, heads, length, d_head]
        q, k = self.rope(qkv[:2]).unbind(0)  # one rotation for both
        v = qkv[2]
        allowed = allowed_keys(length, causal=self.causal, key_padding=key_padding, device=x.device)
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        weights: torch.Tensor | None = None
        if need_weights or exporting:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)
            weights = masked_softmax(scores, allowed)
            attended = self.dropout(weights) @ v
        else:
            attended = _fused_attention(q, k, v, allowed, self.dropout.p if self.training else 0.0)
        mixed = attended.transpose(1, 2).reshape(batch, length, width)
        return self.out(mixed), weights


def _fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None, dropout: float
) -> torch.Tensor:
    """``masked_softmax(q k^T / sqrt(d)) v`` through ``scaled_dot_product_attention``, with
    the same all-zero output for a query that may see no key (where the kernel gives NaN)."""
    if allowed is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    blind = ~allowed.any(dim=-1, keepdim=True)  # [batch or 1, 1, length, 1]
    attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | blind, dropout_p=dropout)
    return attended.masked_fill(blind, 0.0)

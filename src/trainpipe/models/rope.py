"""Rotary position embeddings (RoPE, Su et al. 2021, "RoFormer").

Each pair of channels ``(i, i + dim/2)`` of a query or key at position ``m`` is rotated by the
angle ``m * base**(-2i/dim)`` (the "rotate-half" layout). A rotation by ``m`` followed by the dot
product with a key rotated by ``n`` equals a rotation by ``n - m`` alone, so attention scores
depend on the distance between two positions, never on where the pair sits in the sequence.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RotaryEmbedding", "rotate_half"]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` over the last dimension (split in two halves)."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotate the last dimension of ``[..., length, dim]`` tensors by their positions.

    Args:
        dim: the size of the rotated (last) dimension, even: one attention head's width.
        base: the wavelength base; 10000 as in the paper.
    """

    inv_freq: torch.Tensor

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"RotaryEmbedding needs an even dim >= 2, got dim={dim}")
        self.dim = dim
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        # Not persistent: derived from (dim, base), so checkpoints stay architecture-free.
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def angles(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``cos`` and ``sin`` of the rotation angles, ``[*positions.shape, dim]`` each."""
        freqs = positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Rotate ``x`` ``[..., length, dim]``; ``positions`` ``[length]`` default to 0..length-1.

        Positions may be any real numbers (the relative-position tests shift them).
        """
        if positions is None:
            positions = torch.arange(x.shape[-2], device=x.device)
        cos, sin = self.angles(positions)
        return (x * cos + rotate_half(x) * sin).to(x.dtype)

"""A small transformer encoder for sequences: 1-D/multichannel signals or token ids.

Two input modes, both fed as the zoo's float feature rows ``[batch, n_features]``:

* signals (``vocab_size == 0``): each row holds ``channels x length`` values, channel-major
  (``c0_t0, c0_t1, ..., c1_t0, ...``); it becomes ``[batch, length, channels]`` and a linear
  projection embeds each time step, or each patch of ``patch`` consecutive steps (as in
  PatchTST: a 150-step series with ``patch=10`` is a sequence of 15 tokens, and attention costs
  100x less).
* tokens (``vocab_size > 0``): each row holds ``length`` token ids (exact integers carried as
  float32); id 0 is padding, masked out of the attention keys and of the pooling.

Then ``layers`` pre-norm blocks (RoPE multi-head self-attention and a GELU MLP, each with a
residual), a final LayerNorm, a (masked) mean over time steps and a linear head.
"""

from __future__ import annotations

import torch
from torch import nn

from trainpipe.errors import ConfigError
from trainpipe.models.attention import MultiHeadSelfAttention
from trainpipe.models.contracts import ModelInputError, expect_features

__all__ = ["EncoderBlock", "SequenceTransformer"]


class EncoderBlock(nn.Module):
    """``x + attn(norm(x))`` then ``x + mlp(norm(x))`` (pre-norm), dropout on both branches."""

    def __init__(self, d_model: int, heads: int, *, dropout: float, causal: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadSelfAttention(d_model, heads, dropout=dropout, causal=causal)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, key_padding: torch.Tensor | None = None, *, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[batch, length, d_model]`` -> the same shape, and the attention weights (None
        without ``need_weights``)."""
        attended, weights = self.attention(self.norm1(x), key_padding, need_weights=need_weights)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, weights


class SequenceTransformer(nn.Module):
    """Transformer encoder classifier/regressor over signal or token sequences.

    Args:
        n_features: values per input row (``channels x length`` signals, or ``length`` tokens).
        n_outputs: class logits, or 1 for regression.
        channels: signal channels per time step (signals mode only).
        patch: consecutive time steps per token (signals mode only; 1: one token per step).
        vocab_size: > 0 selects the tokens mode with that many ids (0 = padding).
        d_model: embedding width; a multiple of ``heads`` with an even width per head.
        heads: attention heads.
        layers: encoder blocks.
        dropout: dropout in the blocks.
        causal: each step attends to itself and earlier steps only.

    Raises:
        ConfigError: the sizes do not fit together; the message names the model setting.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        channels: int = 1,
        patch: int = 1,
        vocab_size: int = 0,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
        causal: bool = False,
    ):
        super().__init__()
        if heads < 1 or d_model % heads or (d_model // heads) % 2:
            raise ConfigError(
                f"model.d_model={d_model} must be a multiple of 2 x model.heads "
                f"({2 * heads}) so each attention head has an even width for RoPE"
            )
        if layers < 1:
            raise ConfigError(f"model.layers must be >= 1, got {layers}")
        if vocab_size < 0:
            raise ConfigError(f"vocab_size must be >= 0 (0: signals), got {vocab_size}")
        if vocab_size == 0 and (channels < 1 or n_features % channels):
            raise ConfigError(
                f"model.sequence_channels={channels} does not divide the {n_features} features "
                "of each row (channels x length, channel-major); set model.sequence_channels "
                "to the number of signal channels"
            )
        if vocab_size and patch != 1:
            raise ConfigError(f"model.patch_size must be 1 for token inputs, got {patch}")
        if vocab_size == 0 and (patch < 1 or (n_features // channels) % patch):
            raise ConfigError(
                f"model.patch_size={patch} does not divide the series length "
                f"{n_features // channels} ({n_features} features / {channels} channels); "
                "choose a divisor of the length"
            )
        self.n_features = n_features
        self.vocab_size = vocab_size
        self.channels = channels if vocab_size == 0 else 1
        self.patch = patch
        self.tokens = n_features // (self.channels * patch)
        self.embed: nn.Module = (
            nn.Embedding(vocab_size, d_model, padding_idx=0)
            if vocab_size
            else nn.Linear(self.channels * patch, d_model)
        )
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, heads, dropout=dropout, causal=causal) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_outputs)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids of a float row batch; out-of-range ids fail here with their value."""
        ids = x.long()
        # One min/max reduction per batch: an out-of-range id would otherwise surface as an
        # index error deep in the embedding (or a device-side assert on a GPU).
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not tracing and ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.vocab_size:
                raise ModelInputError(
                    f"SequenceTransformer expected token ids in [0, {self.vocab_size}), got "
                    f"ids in [{low}, {high}]; the vocabulary saved with the model must encode "
                    "the text"
                )
        return ids

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs ``[batch, n_outputs]`` and every block's attention maps.

        The maps are ``[batch, heads, length, length]`` per block, before dropout.
        """
        out, maps = self._encode(x, need_weights=True)
        return out, [m for m in maps if m is not None]

    def _encode(
        self, x: torch.Tensor, *, need_weights: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        expect_features(x, self.n_features, model="SequenceTransformer")
        batch = x.shape[0]
        key_padding: torch.Tensor | None = None
        if self.vocab_size:
            ids = self._tokens(x)
            key_padding = ids != 0
            h = self.embed(ids)
        else:
            # [batch, C*T*P] -> [batch, C, T, P] -> [batch, T, C*P]: one token per patch
            patches = x.reshape(batch, self.channels, self.tokens, self.patch).transpose(1, 2)
            h = self.embed(patches.reshape(batch, self.tokens, self.channels * self.patch))
        maps: list[torch.Tensor | None] = []
        for block in self.blocks:
            h, weights = block(h, key_padding, need_weights=need_weights)
            maps.append(weights)
        h = self.norm(h)
        if key_padding is None:
            pooled = h.mean(dim=1)
        else:
            keep = key_padding.unsqueeze(-1).to(h.dtype)
            pooled = (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled), maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, n_features]`` to ``[batch, n_outputs]`` (fused attention: no maps)."""
        return self._encode(x, need_weights=False)[0]

"""The ``model`` section: which architecture to train, and its sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from trainpipe.config.problems import Problems

__all__ = ["REFERENCE_FORM", "ModelConfig", "ModelKind", "check_reference"]

ModelKind = Literal["mlp", "cnn", "resnet", "cnn1d", "transformer", "custom"]
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
REFERENCE_FORM = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*$")
"""``package.module:attribute``: how a config names an object in the user's code."""


def check_reference(problems: Problems, key: str, value: str) -> None:
    """A set reference has the ``package.module:attribute`` form (nothing is imported here)."""
    problems.need(
        not value or bool(REFERENCE_FORM.match(value)),
        key,
        "'package.module:attribute', e.g. 'mynet.model:build'",
        value,
    )


@dataclass(kw_only=True)
class ModelConfig:
    """Architecture of the model to train."""

    kind: ModelKind = "mlp"
    """``mlp`` (tables), ``cnn`` (small images), ``resnet`` (images of real size: residual
    stages that halve the resolution), ``cnn1d`` (audio features and signals: convolutions over
    time), ``transformer`` (signals or token ids), or ``custom`` (``factory``)."""
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    """Hidden layer widths of the MLP, or of the CNN's classifier head."""
    channels: list[int] = field(default_factory=lambda: [16, 32])
    """Convolution channels: one 3x3 conv block each (``cnn``), one residual stage each
    (``resnet``), one temporal conv block each (``cnn1d``)."""
    image_shape: list[int] = field(default_factory=list)
    """``[channels, height, width]`` that the CNN and ResNet reshape each feature row into;
    for ``cnn1d``, ``[1, bands, frames]`` reads a spectrogram as ``bands`` channels over time."""
    dropout: float = 0.1
    d_model: int = 64
    """Width of the transformer's token embeddings (a multiple of ``heads``)."""
    heads: int = 4
    """Attention heads of the transformer; ``d_model / heads`` must be even for RoPE."""
    layers: int = 2
    """Pre-norm encoder blocks of the transformer."""
    sequence_channels: int = 1
    """Signal channels of the transformer: each feature row holds ``sequence_channels x length``
    values, channel-major (``c0_t0, c0_t1, ..., c1_t0, ...``)."""
    patch_size: int = 1
    """Consecutive time steps the transformer embeds as one token (PatchTST); divides the length."""
    causal: bool = False
    """Transformer attention sees only the current and earlier time steps."""
    factory: str = ""
    """``model.kind: custom``: the user's ``package.module:function`` that takes the input
    description (:class:`trainpipe.models.ModelInputs`) and ``params`` as keyword arguments and
    returns an ``nn.Module``."""
    params: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``factory``; each ``model.params.NAME`` can be tuned."""

    @property
    def has_image_shape(self) -> bool:
        """Whether ``image_shape`` is a usable ``[channels, height, width]``."""
        return len(self.image_shape) == 3 and all(d > 0 for d in self.image_shape)

    def check(self, problems: Problems) -> None:
        """Positive sizes, and what the chosen architecture needs."""
        need = problems.need
        need(all(h > 0 for h in self.hidden), "model.hidden", "positive widths", self.hidden)
        need(all(c > 0 for c in self.channels), "model.channels", "positive", self.channels)
        need(0 <= self.dropout < 1, "model.dropout", "in [0, 1)", self.dropout)
        if self.kind in ("cnn", "resnet"):
            need(
                self.has_image_shape,
                "model.image_shape",
                f"[channels, height, width] for model.kind={self.kind}",
                self.image_shape,
            )
        if self.kind in ("cnn", "resnet", "cnn1d"):
            need(bool(self.channels), "model.channels", f"non-empty for model.kind={self.kind}", [])
        check_reference(problems, "model.factory", self.factory)
        custom = self.kind == "custom"
        need(
            bool(self.factory) or not custom,
            "model.factory",
            "the 'package.module:function' that builds the model, for model.kind=custom",
            self.factory,
        )
        need(
            custom or not (self.factory or self.params),
            "model.kind",
            "custom when model.factory or model.params is set",
            self.kind,
        )
        for key in ("d_model", "heads", "layers", "sequence_channels", "patch_size"):
            need(getattr(self, key) >= 1, f"model.{key}", ">= 1", getattr(self, key))
        if self.kind == "transformer" and self.heads >= 1:
            need(
                self.d_model % self.heads == 0 and (self.d_model // self.heads) % 2 == 0,
                "model.d_model",
                f"a multiple of 2 x model.heads ({2 * self.heads}) so each head has an even "
                "width for RoPE",
                self.d_model,
                also=["model.heads"],
            )

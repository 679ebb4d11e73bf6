"""Shape and dtype assertions at model boundaries, with messages that show expected vs actual.

Every model of the zoo checks its input when called, so a preprocessing that drifted from the
model (a missing feature column, integer features, a 3-D batch) fails at the model's door with
``MLP expected input [batch, 64] float, got [32, 63] torch.int64`` instead of deep inside a matmul.

The checks read only shapes and dtypes (no data, no device sync), so they cost nothing next to a
forward pass. They are skipped while a model is traced (ONNX export, ``torch.jit.trace``): the
trace sees the example input, which the exporter builds with the right shape anyway, and a Python
branch on a traced shape would only add warnings.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainpipe.errors import ConfigError, TrainingError

__all__ = [
    "Dim",
    "ModelInputError",
    "describe",
    "expect_features",
    "expect_shape",
    "image_dims",
]

Dim = int | str
"""One expected dimension: an exact size, or a name (``"batch"``) that matches any size."""


class ModelInputError(TrainingError, ValueError):
    """A tensor at a model boundary has the wrong shape or dtype."""


def _tracing() -> bool:
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())


def describe(tensor: torch.Tensor) -> str:
    """``[32, 63] torch.int64``: a tensor's shape and dtype as the messages show them."""
    return f"{list(tensor.shape)} {tensor.dtype}"


def _expected(shape: Sequence[Dim], kind: str) -> str:
    dims = ", ".join(str(d) for d in shape)
    return f"[{dims}] {kind}".rstrip()


def expect_shape(
    tensor: torch.Tensor,
    shape: Sequence[Dim],
    *,
    what: str,
    floating: bool | None = None,
    hint: str = "",
) -> None:
    """Raise :class:`ModelInputError` unless ``tensor`` has ``shape`` (and the dtype kind).

    Args:
        tensor: the tensor to check.
        shape: one entry per dimension: an ``int`` must match exactly, a ``str`` names a free
            dimension (``"batch"``).
        what: who expects it, e.g. ``"MLP expected input"``; starts the message.
        floating: True: a floating dtype is required; False: an integer or bool dtype is; None:
            any dtype.
        hint: what to do about it, appended to the message.

    Raises:
        ModelInputError: e.g. ``MLP expected input [batch, 64] float, got [32, 63] torch.int64``.
    """
    if _tracing():
        return
    ok = tensor.dim() == len(shape) and all(
        isinstance(want, str) or got == want for got, want in zip(tensor.shape, shape, strict=True)
    )
    kind = ""
    if floating is not None:
        kind = "float" if floating else "integer"
        ok = ok and tensor.is_floating_point() == floating
    if not ok:
        suffix = f"; {hint}" if hint else ""
        raise ModelInputError(f"{what} {_expected(shape, kind)}, got {describe(tensor)}{suffix}")


def expect_features(tensor: torch.Tensor, n_features: int, *, model: str) -> None:
    """The model input contract of the zoo: float features ``[batch, n_features]``.

    Raises:
        ModelInputError: ``{model} expected input [batch, n] float, got [...] dtype``, with a hint.
    """
    expect_shape(
        tensor,
        ("batch", n_features),
        what=f"{model} expected input",
        floating=True,
        hint=(
            f"the model was built for {n_features} standardized features per row; check that "
            "the data went through the preprocessing saved with the model"
        ),
    )


def image_dims(image_shape: Sequence[int], n_features: int) -> tuple[int, int, int]:
    """``model.image_shape`` as ``(C, H, W)``, checked against the data's feature count.

    Raises:
        ConfigError: the shape does not hold ``n_features`` values.
    """
    c, h, w = image_shape
    if c * h * w != n_features:
        raise ConfigError(
            f"model.image_shape {list(image_shape)} holds {c * h * w} values but the data has "
            f"{n_features} features; set model.image_shape to match"
        )
    return c, h, w

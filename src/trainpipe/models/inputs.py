"""What a model is told about the data it will see: the argument of every model factory."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelInputs"]


@dataclass(frozen=True, kw_only=True)
class ModelInputs:
    """The input description a ``model.factory`` receives (with ``model.params`` as keywords).

    Every batch the model sees is a float tensor ``[batch, n_features]`` of standardized
    features (one-hot categories and date parts included, in ``feature_names`` order); it must
    return ``[batch, n_outputs]``: one logit per class for classification, one value for
    regression.
    """

    task: str
    """``classification`` or ``regression``."""
    n_features: int
    n_outputs: int
    feature_names: tuple[str, ...] = ()
    """The model's input columns, in order (after one-hot encoding and date parts)."""
    classes: tuple[str, ...] = ()
    """Class names in output order (empty for regression)."""
    image_shape: tuple[int, ...] = ()
    """``(channels, height, width)`` each row reshapes into, when ``model.image_shape`` is set."""
    vocab_size: int = 0
    """Token vocabulary size of a ``data.text`` column (id 0 pads); 0 without text."""

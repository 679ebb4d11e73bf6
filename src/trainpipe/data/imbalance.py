"""Class-imbalance handling: loss weights, resampled epoch orders, SMOTE and the imbalance ratio.

Every function here is pure: the same inputs (and seed) give the same output, with no global random
state touched.

* :func:`class_weights` gives per-class loss weights (``torch.nn.CrossEntropyLoss(weight=...)``).
* :func:`sample_order` gives an epoch's *global* index order. Under DDP the order is drawn once from
  ``(seed, epoch)`` and only then cut into per-rank shards, so every resampling scheme here works
  unchanged with any number of processes. Mode ``"none"`` is exactly the plain permutation that
  :func:`trainpipe.train.data.global_batches` draws today.
* :func:`smote` synthesizes minority rows with imbalanced-learn's SMOTE (an optional dependency).
* :func:`imbalance_ratio` summarizes how skewed a label column is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from trainpipe.errors import ConfigError, DataError

WeightScheme = Literal["balanced", "sqrt"]
SampleMode = Literal["none", "oversample", "undersample"]

WEIGHT_SCHEMES: tuple[str, ...] = ("balanced", "sqrt")
SAMPLE_MODES: tuple[str, ...] = ("none", "oversample", "undersample")

_SEED_STRIDE = 1_000_003
"""Must match :func:`trainpipe.train.data.global_batches`, so mode ``"none"`` is unchanged."""


def _to_numpy(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """``labels`` as a 1-D NumPy array; a DataError for any other shape."""
    array = (
        labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    )
    if array.ndim != 1:
        raise DataError(f"labels must be a 1-D array of class labels, got shape {array.shape}")
    return array


def _class_counts(labels: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, inverse, counts)`` of the classes present in ``labels``, classes sorted."""
    array = _to_numpy(labels)
    if array.size == 0:
        raise DataError("labels are empty: there are no rows to balance")
    classes, inverse, counts = np.unique(array, return_inverse=True, return_counts=True)
    return classes, inverse.reshape(-1), counts


def _generator(seed: int, epoch: int) -> torch.Generator:
    """The (seed, epoch) generator of :func:`trainpipe.train.data.global_batches`."""
    return torch.Generator().manual_seed(seed * _SEED_STRIDE + epoch)


def class_weights(
    labels: np.ndarray | torch.Tensor,
    n_classes: int,
    *,
    scheme: WeightScheme = "balanced",
    class_names: Sequence[str] | None = None,
) -> torch.Tensor:
    """Per-class loss weights, float32 of shape ``(n_classes,)``, averaging 1 over the samples.

    ``"balanced"`` is scikit-learn's ``n / (n_classes * count_c)``: every class then carries the
    same total weight. ``"sqrt"`` is its square root (a milder correction), rescaled so that the
    mean weight over the samples is again 1 and the loss keeps its usual magnitude.

    ``labels`` are class indices in ``[0, n_classes)`` (the training split's). ``class_names``
    (e.g. ``Schema.classes``), when given, only makes error messages name the class.

    Raises:
        ConfigError: unknown ``scheme`` or ``n_classes`` below 1.
        DataError: labels that are not integer class indices in range, or a class with no training
            rows (its weight would be infinite).
    """
    if scheme not in WEIGHT_SCHEMES:
        raise ConfigError(
            f"unknown class weight scheme {scheme!r}; expected one of {WEIGHT_SCHEMES}"
        )
    if n_classes < 1:
        raise ConfigError(f"n_classes must be at least 1, got {n_classes}")
    array = _to_numpy(labels)
    if array.size == 0:
        raise DataError("labels are empty: class weights need at least one training row")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"labels must be integer class indices, got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise DataError(f"label {bad} is outside the class index range [0, {n_classes})")
    counts = np.bincount(array, minlength=n_classes).astype(np.float64)
    return class_weights_from_counts(counts, scheme=scheme, class_names=class_names)


def class_weights_from_counts(
    counts: np.ndarray,
    *,
    scheme: WeightScheme = "balanced",
    class_names: Sequence[str] | None = None,
) -> torch.Tensor:
    """:func:`class_weights` from the training rows per class (a streamed split counts them
    block by block).

    Raises:
        DataError: a class has no training rows.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_classes = len(counts)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        index = int(empty[0])
        name = f" ({class_names[index]!r})" if class_names and index < len(class_names) else ""
        raise DataError(
            f"class {index}{name} has no training rows ({empty.size} of {n_classes} classes are "
            f"empty: {empty[:10].tolist()}): the split lost it; use a stratified split or collect "
            "more rows of that class"
        )
    n = float(counts.sum())
    weights = n / (n_classes * counts)
    if scheme == "sqrt":
        weights = np.sqrt(weights)
        weights *= n / float((counts * weights).sum())
    return torch.from_numpy(weights.astype(np.float32))


def sample_order(
    labels: np.ndarray | torch.Tensor,
    *,
    mode: SampleMode,
    seed: int,
    epoch: int,
) -> torch.Tensor:
    """The epoch's global index order (int64), deterministic in ``(seed, epoch)``.

    * ``"none"``: a permutation of all ``n`` rows, identical to the one
      :func:`trainpipe.train.data.global_batches` draws (labels only give ``n``).
    * ``"oversample"``: ``n`` draws with replacement, each row weighted by the inverse of its
      class's count, so every class present is equally likely at every draw. It is drawn in two
      stages (a class uniformly with :func:`torch.multinomial`, then a row of that class uniformly),
      which is the same distribution as one weighted draw over rows but has no ``2**24`` row limit.
    * ``"undersample"``: every class cut to the minority class's count (a fresh random subset each
      epoch), then shuffled; the order has ``n_classes_present * minority_count`` entries.

    Raises:
        ConfigError: unknown ``mode``.
        DataError: labels that are not 1-D, or (for the resampling modes) empty.
    """
    if mode not in SAMPLE_MODES:
        raise ConfigError(f"unknown sampling mode {mode!r}; expected one of {SAMPLE_MODES}")
    generator = _generator(seed, epoch)
    if mode == "none":
        return torch.randperm(len(_to_numpy(labels)), generator=generator)

    classes, inverse, counts = _class_counts(labels)
    # Row indices grouped by class: class c's rows are by_class[offsets[c] : offsets[c] + sizes[c]].
    by_class = torch.from_numpy(np.argsort(inverse, kind="stable").astype(np.int64))
    offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
    sizes = torch.from_numpy(counts.astype(np.int64))

    if mode == "oversample":
        n = len(inverse)
        uniform = torch.ones(len(classes), dtype=torch.float64)
        drawn = torch.multinomial(uniform, n, replacement=True, generator=generator)
        within = torch.rand(n, generator=generator, dtype=torch.float64) * sizes[drawn]
        position = torch.minimum(within.long(), sizes[drawn] - 1)
        return by_class[offsets[drawn] + position]

    minority = int(counts.min())
    kept = [
        by_class[offsets[c] + torch.randperm(int(sizes[c]), generator=generator)[:minority]]
        for c in range(len(classes))
    ]
    subset = torch.cat(kept)
    return subset[torch.randperm(len(subset), generator=generator)]


def smote(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    k_neighbors: int = 5,
    categorical: Sequence[str] = (),
    text: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Oversample every non-majority class to the majority's count with SMOTE.

    Returns ``(features, labels)``: the original rows first, unchanged and in their order, then the
    synthetic rows. Each synthetic row lies on a segment between a minority row and one of its
    ``k_neighbors`` nearest same-class neighbours; ``k_neighbors`` is reduced to
    ``smallest class count - 1`` when a class is too small for it. Needs imbalanced-learn.

    ``categorical`` and ``text`` name the data columns behind the features that are one-hot
    categories (``data.categorical``) or token ids (``data.text``), as the fitted preprocessing
    knows them: a point between two such rows is no category and no token, so SMOTE refuses any.

    Raises:
        ConfigError: ``categorical`` or ``text`` names a column (the message names them and says
            to use class weights or oversampling), imbalanced-learn is not installed,
            ``k_neighbors`` below 1 or a negative seed.
        DataError: features that are not a finite 2-D numeric array matching the labels, fewer than
            two classes, or a class with a single row (SMOTE needs a neighbour to interpolate).
    """
    _refuse_discrete(categorical, text)
    if k_neighbors < 1:
        raise ConfigError(f"SMOTE k_neighbors must be at least 1, got {k_neighbors}")
    if seed < 0:
        raise ConfigError(f"SMOTE seed must be non-negative, got {seed}")
    x = np.asarray(features)
    y = _to_numpy(labels)
    if x.ndim != 2:
        raise DataError(f"SMOTE features must be a 2-D (rows, features) array, got shape {x.shape}")
    if len(x) != len(y):
        raise DataError(f"SMOTE got {len(x)} feature rows but {len(y)} labels")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"SMOTE features must be numeric, got dtype {x.dtype}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)  # synthetic rows interpolate, so integer features become floats
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DataError(f"SMOTE features must be finite; row {bad} has NaN or infinite values")
    classes, _, counts = _class_counts(y)
    if len(classes) < 2:
        raise DataError(f"SMOTE needs at least two classes, labels only hold {classes.tolist()}")
    single = classes[counts == 1]
    if single.size:
        raise DataError(
            f"class {single[0].item()!r} has a single row; SMOTE needs at least 2 rows per class "
            "to interpolate (collect more rows, merge the class, or use oversampling instead)"
        )
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError as error:
        raise ConfigError(
            "SMOTE needs the imbalanced-learn package, which is not installed: "
            "pip install imbalanced-learn (or choose class weights or oversampling instead)"
        ) from error
    neighbors = min(k_neighbors, int(counts.min()) - 1)
    sampler = SMOTE(k_neighbors=neighbors, random_state=seed)
    x_resampled, y_resampled = sampler.fit_resample(x, y)
    # imbalanced-learn stacks the originals first; rebuild from our own copies to guarantee it.
    n = len(x)
    synthetic_x = np.asarray(x_resampled)[n:]
    synthetic_y = np.asarray(y_resampled)[n:]
    return (
        np.concatenate([x, synthetic_x.astype(x.dtype, copy=False)]),
        np.concatenate([y, synthetic_y.astype(y.dtype, copy=False)]),
    )


def _refuse_discrete(categorical: Sequence[str], text: Sequence[str]) -> None:
    """ConfigError naming the one-hot and token-id columns SMOTE would interpolate, if any."""
    kinds = []
    if categorical:
        kinds.append(f"one-hot categorical columns {list(categorical)} (data.categorical)")
    if text:
        kinds.append(f"token-id columns {list(text)} (data.text)")
    if kinds:
        raise ConfigError(
            f"train.imbalance: smote cannot oversample data with {' and '.join(kinds)}: SMOTE "
            "interpolates between rows, which makes categories and tokens that do not exist; "
            "set train.imbalance to class_weights or oversample instead"
        )


def imbalance_ratio(labels: np.ndarray | torch.Tensor) -> float:
    """Majority class count divided by minority class count, over the classes present (>= 1.0).

    Raises:
        DataError: labels that are empty or not 1-D.
    """
    _, _, counts = _class_counts(labels)
    return float(counts.max()) / float(counts.min())

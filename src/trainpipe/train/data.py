"""Tensors from dataset artifacts, the preprocessing fitted on the training split, and batching.

:func:`load_tensors` reads both splits of a :class:`~trainpipe.train.spec.TrainSpec` and fits the
preprocessing on the training split only; the loop and the sanity checks share it.

Batches are drawn from a global permutation seeded by ``(seed, epoch)`` and each global batch is cut
into one contiguous shard per rank. With a loss summed per shard and divided by the global batch
size, DDP's gradient average equals the single-process gradient of the same global batch, so 1 and
N processes follow the same loss curve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.text import encode, fit_vocabulary
from trainpipe.errors import DataError
from trainpipe.train.spec import TrainSpec


@dataclass(kw_only=True)
class Preprocess:
    """The feature transform fitted on the training split: outlier clipping and standardization
    of numeric features, one-hot encoding of categorical ones, target scaling for regression;
    or, for a text column, its vocabulary (the features are then ``max_tokens`` token ids)."""

    features: list[str]
    """Numeric feature columns, standardized in this order."""
    mean: list[float]
    std: list[float]
    target_mean: float = 0.0
    target_std: float = 1.0
    classes: list[str] = field(default_factory=list)
    clip_low: list[float] = field(default_factory=list)
    clip_high: list[float] = field(default_factory=list)
    """Per-feature outlier bounds (empty: no clipping), fitted on the training split."""
    categories: dict[str, list[str]] = field(default_factory=dict)
    """Categorical columns and their training-split categories, one-hot encoded after the
    numeric features; an unseen category encodes as all zeros."""
    text: str = ""
    """The text column (the only feature then), encoded as token ids by ``vocabulary``."""
    vocabulary: list[str] = field(default_factory=list)
    max_tokens: int = 0

    @property
    def width(self) -> int:
        """Number of model inputs: numeric features plus one per category, or the token ids."""
        if self.text:
            return self.max_tokens
        return len(self.features) + sum(len(values) for values in self.categories.values())

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        schema: Schema,
        *,
        clip_quantile: float = 0.0,
        vocab_size: int = 5000,
        max_tokens: int = 64,
    ) -> Preprocess:
        """Fit on the training split only: clipping bounds first, then standardization; a text
        column's vocabulary (``vocab_size`` entries at most) from the training texts."""
        numeric = [f for f in schema.features if f not in schema.categorical + schema.text]
        values = frame[numeric].to_numpy(dtype=np.float64)
        low: list[float] = []
        high: list[float] = []
        if clip_quantile > 0:
            low = np.quantile(values, clip_quantile, axis=0).tolist()
            high = np.quantile(values, 1 - clip_quantile, axis=0).tolist()
            values = np.clip(values, low, high)
        std = values.std(axis=0)
        std[std < 1e-12] = 1.0
        target_mean, target_std = 0.0, 1.0
        if schema.task == "regression":
            target = frame[schema.label].to_numpy(dtype=np.float64)
            target_mean = float(target.mean())
            target_std = float(target.std()) or 1.0
        categories = {
            column: sorted(frame[column].dropna().astype(str).unique())
            for column in schema.categorical
        }
        return cls(
            features=numeric,
            categories=categories,
            mean=values.mean(axis=0).tolist(),
            std=std.tolist(),
            target_mean=target_mean,
            target_std=target_std,
            classes=list(schema.classes),
            clip_low=low,
            clip_high=high,
            **cls._fit_text(frame, schema, vocab_size, max_tokens),
        )

    @staticmethod
    def _fit_text(
        frame: pd.DataFrame, schema: Schema, vocab_size: int, max_tokens: int
    ) -> dict[str, Any]:
        if not schema.text:
            return {}
        (column,) = schema.text
        texts = frame[column].fillna("").astype(str)
        return {
            "text": column,
            "vocabulary": fit_vocabulary(texts, vocab_size),
            "max_tokens": max_tokens,
        }

    def to_dict(self) -> dict:
        """Plain data for ``model.json``."""
        return asdict(self)

    def transform_features(self, frame: pd.DataFrame) -> torch.Tensor:
        """Transform the feature columns of ``frame`` into the float32 model input."""
        columns = [*self.features, *self.categories, *([self.text] if self.text else [])]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"input lacks feature columns the model was trained on: {missing[:10]}")
        if self.text:
            texts = frame[self.text].fillna("").astype(str).tolist()
            ids = encode(texts, self.vocabulary, self.max_tokens)
            return torch.from_numpy(ids.astype(np.float32))  # exact: ids < 2**24
        values = frame[self.features].to_numpy(dtype=np.float64)
        if self.clip_low:
            values = np.clip(values, self.clip_low, self.clip_high)
        blocks = [(values - np.asarray(self.mean)) / np.asarray(self.std)]
        for column, known in self.categories.items():
            observed = frame[column].astype(str).to_numpy()
            blocks.append((observed[:, None] == np.asarray(known)[None, :]).astype(np.float64))
        return torch.from_numpy(np.concatenate(blocks, axis=1).astype(np.float32))

    def transform_target(self, frame: pd.DataFrame, schema: Schema) -> torch.Tensor:
        """Class indices (classification) or the scaled target (regression)."""
        column = frame[schema.label]
        if schema.task == "classification":
            index = {c: i for i, c in enumerate(self.classes)}
            labels = column.astype(str)
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise DataError(
                    f"label column {schema.label!r} has values {unknown[:5]} unseen in training"
                )
            return torch.tensor(labels.map(index).to_numpy(dtype=np.int64))
        target = (column.to_numpy(dtype=np.float64) - self.target_mean) / self.target_std
        return torch.from_numpy(target.astype(np.float32)).unsqueeze(1)


@dataclass
class Tensors:
    """One split as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


def load_tensors(spec: TrainSpec) -> tuple[Tensors, Tensors, Preprocess, Schema]:
    """Read both splits and fit the preprocessing on the training split only."""
    train_frame, schema = read_dataset(spec.train_data)
    val_frame, _ = read_dataset(spec.validation_data)
    data = spec.config.data
    preprocess = Preprocess.fit(
        train_frame,
        schema,
        clip_quantile=data.clip_quantile,
        vocab_size=data.vocab_size,
        max_tokens=data.max_tokens,
    )
    train = Tensors(
        preprocess.transform_features(train_frame),
        preprocess.transform_target(train_frame, schema),
    )
    val = Tensors(
        preprocess.transform_features(val_frame), preprocess.transform_target(val_frame, schema)
    )
    return train, val, preprocess, schema


@dataclass(frozen=True)
class Shard:
    """One rank's part of a global batch."""

    indices: torch.Tensor
    global_size: int


def global_batches(
    n: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int,
    world_size: int,
    order: torch.Tensor | None = None,
) -> Iterator[Shard]:
    """Yield this rank's shard of every global batch of an epoch, in a (seed, epoch) order.

    ``order`` replaces the default permutation (an over- or undersampled epoch); it must be the
    same on every rank, which a (seed, epoch)-seeded draw is.
    """
    if order is None:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=generator)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        yield Shard(indices=batch.tensor_split(world_size)[rank], global_size=len(batch))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of optimizer steps in one epoch (the last batch may be smaller)."""
    return (n + batch_size - 1) // batch_size

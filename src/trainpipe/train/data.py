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

from trainpipe.data.columns import prepare_rows
from trainpipe.data.dataset import Schema
from trainpipe.data.table_input import read_input_dataset
from trainpipe.data.text import encode, fit_vocabulary
from trainpipe.errors import DataError
from trainpipe.train.input_report import EXAMPLES, InputReport
from trainpipe.train.missing import fills, fit_fill_values, refuse_missing, row_label
from trainpipe.train.spec import TrainSpec


@dataclass(kw_only=True)
class Preprocess:
    """The feature transform fitted on the training split: outlier clipping and standardization
    of numeric features, one-hot encoding of categorical ones, target scaling for regression;
    or, for a text column, its vocabulary (the features are then ``max_tokens`` token ids).

    A missing value in a row to transform is filled, or the row refused, by the training run's
    ``data.missing`` policy (:mod:`trainpipe.train.missing`); a missing text is the empty text.
    """

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
    column_roles: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    """How the training rows were decoded from files (the dataset schema's ``files``), so new
    files are decoded the same way for scoring; empty for a table."""
    """Ingest's column decisions (the dataset schema's), to convert raw rows as ingest did:
    dates into their parts, the words read as missing in a numeric column into missing values
    (:func:`~trainpipe.data.columns.prepare_rows`); empty for older models."""
    missing: str = ""
    """The training run's ``data.missing``: ``mean``, ``median``, ``mode`` and ``constant`` fill
    a missing value with ``fill_numeric`` or ``fill_categories``; ``drop``, ``fail`` and ``""``
    (a model saved before the policy was recorded) refuse a row with a missing value."""
    fill_numeric: list[float] = field(default_factory=list)
    """Per numeric feature (``features`` order), what a missing value becomes before clipping,
    fitted on the training split; empty when the policy refuses."""
    fill_categories: dict[str, str] = field(default_factory=dict)
    """Per categorical column, the category a missing value becomes; empty when the policy
    refuses."""

    @property
    def width(self) -> int:
        """Number of model inputs: numeric features plus one per category, or the token ids."""
        if self.text:
            return self.max_tokens
        return len(self.features) + sum(len(values) for values in self.categories.values())

    @property
    def input_names(self) -> list[str]:
        """The name of each model input, in order: ``income``, ``plan=basic``, ``token_0``."""
        if self.text:
            return [f"{self.text}_token_{i}" for i in range(self.max_tokens)]
        one_hot = [f"{col}={value}" for col, values in self.categories.items() for value in values]
        return [*self.features, *one_hot]

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        schema: Schema,
        *,
        clip_quantile: float = 0.0,
        vocab_size: int = 5000,
        max_tokens: int = 64,
        missing: str = "fail",
        fill_value: float = 0.0,
    ) -> Preprocess:
        """Fit on the training split only: clipping bounds first, then standardization; a text
        column's vocabulary (``vocab_size`` entries at most) from the training texts; the values
        that fill a missing one at inference under the ``missing`` policy (``data.missing``,
        with ``fill_value`` for ``constant``)."""
        numeric = [f for f in schema.features if f not in schema.categorical + schema.text]
        fill_numeric, fill_categories = fit_fill_values(
            frame, numeric, list(schema.categorical), policy=missing, fill_value=fill_value
        )
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
            column_roles=dict(schema.column_roles),
            files=dict(schema.files),
            missing=missing,
            fill_numeric=fill_numeric,
            fill_categories=fill_categories,
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
        return self.transform_with_report(frame)[0]

    def transform_with_report(self, frame: pd.DataFrame) -> tuple[torch.Tensor, InputReport]:
        """The float32 model input for ``frame``, and what was filled or unseen in it.

        Raises:
            DataError: ``frame`` lacks a feature column, a numeric feature holds a value that is
                not a number, or (when the policy refuses) a row has a missing value; the
                message names the column and the first offending row's index.
        """
        if self.column_roles:
            frame = prepare_rows(frame, self.column_roles)
        columns = [*self.features, *self.categories, *([self.text] if self.text else [])]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"input lacks feature columns the model was trained on: {missing[:10]}")
        if self.text:
            return self._transform_text(frame)
        if not fills(self.missing):
            refuse_missing(frame, [*self.features, *self.categories], self.missing)
        elif len(self.fill_numeric) != len(self.features) or set(self.fill_categories) != set(
            self.categories
        ):
            raise DataError(
                f"the preprocessing says data.missing {self.missing!r} but holds fill values for "
                f"{len(self.fill_numeric)} of {len(self.features)} numeric features and "
                f"{sorted(self.fill_categories)} of the categories {sorted(self.categories)}; "
                "its model.json is damaged: retrain the model"
            )
        filled: dict[str, int] = {}
        values = _numeric_values(frame, self.features)
        if not self.categories and not np.isnan(values).any():
            standardized = self.standardize(values)
            return torch.from_numpy(standardized), InputReport(rows=len(frame), policy=self.missing)
        absent = np.isnan(values)
        for i, column in enumerate(self.features):
            count = int(absent[:, i].sum())
            if count:
                values[absent[:, i], i] = self.fill_numeric[i]
                filled[column] = count
        if self.clip_low:
            values = np.clip(values, self.clip_low, self.clip_high)
        blocks = [(values - np.asarray(self.mean)) / np.asarray(self.std)]
        unseen: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        for column, known in self.categories.items():
            series = frame[column]
            isna = series.isna().to_numpy()
            if isna.any():
                filled[column] = int(isna.sum())
                series = series.astype(object).where(~isna, self.fill_categories[column])
            observed = series.astype(str).to_numpy()
            one_hot = observed[:, None] == np.asarray(known)[None, :]
            strange = ~one_hot.any(axis=1) & ~isna
            if strange.any():
                unseen[column] = int(strange.sum())
                examples[column] = list(dict.fromkeys(observed[strange].tolist()))[:EXAMPLES]
            blocks.append(one_hot.astype(np.float64))
        features = torch.from_numpy(np.concatenate(blocks, axis=1).astype(np.float32))
        report = InputReport(
            rows=len(frame),
            policy=self.missing,
            filled=filled,
            unseen=unseen,
            unseen_examples=examples,
        )
        return features, report

    def standardize(self, values: np.ndarray) -> np.ndarray:
        """Numeric features ``[rows, len(features)]`` without missing values, clipped and
        standardized in place (``values`` must be an array of its own), as float32.

        float64 values are standardized in float64, as :meth:`transform_features` does; float32
        values (a float32 column in a streamed split) in float32, which differs from that by
        float32 rounding only and reads and writes half the bytes."""
        kind = np.float32 if values.dtype == np.float32 else np.float64
        if self.clip_low:
            low, high = np.asarray(self.clip_low, kind), np.asarray(self.clip_high, kind)
            np.clip(values, low, high, out=values)
        values -= np.asarray(self.mean, kind)
        values /= np.asarray(self.std, kind)
        return values.astype(np.float32, copy=False)

    def _transform_text(self, frame: pd.DataFrame) -> tuple[torch.Tensor, InputReport]:
        """Token ids of the text column; a missing text is the empty text (as at ingest)."""
        column = frame[self.text]
        count = int(column.isna().sum())
        texts = column.fillna("").astype(str).tolist()
        ids = encode(texts, self.vocabulary, self.max_tokens)
        report = InputReport(
            rows=len(frame), policy=self.missing, filled={self.text: count} if count else {}
        )
        return torch.from_numpy(ids.astype(np.float32)), report  # exact: ids < 2**24

    def transform_target(self, frame: pd.DataFrame, schema: Schema) -> torch.Tensor:
        """Class indices (classification) or the scaled target (regression)."""
        column = frame[schema.label]
        if schema.task == "classification":
            labels = column.astype(str)
            codes = pd.Index(self.classes).get_indexer(labels)
            if (codes < 0).any():
                unknown = sorted(set(labels[codes < 0]))
                raise DataError(
                    f"label column {schema.label!r} has values {unknown[:5]} unseen in training"
                )
            return torch.from_numpy(codes.astype(np.int64))
        target = (column.to_numpy(dtype=np.float64) - self.target_mean) / self.target_std
        return torch.from_numpy(target.astype(np.float32)).unsqueeze(1)


def _numeric_values(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``columns`` of ``frame`` as float64, missing values as NaN.

    Raises:
        DataError: a value is not a number; names the column, the row's index and the value.
    """
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for i, name in enumerate(columns):
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            values[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        converted = pd.to_numeric(column, errors="coerce")
        bad = (converted.isna() & column.notna()).to_numpy()
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column {name!r} holds the value {column.iloc[position]!r} at row "
                f"{row_label(frame, position)!r} ({int(bad.sum())} of {len(frame)} rows are not "
                "numbers): the model was trained on numbers there; fix those values"
            )
        values[:, i] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


@dataclass
class Tensors:
    """One split as tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


def load_tensors(spec: TrainSpec) -> tuple[Tensors, Tensors, Preprocess, Schema]:
    """Read both splits and fit the preprocessing on the training split only."""
    train_frame, schema = read_input_dataset(spec.train_data, spec.config)
    val_frame, _ = read_input_dataset(spec.validation_data, spec.config, reference=schema)
    data = spec.config.data
    preprocess = Preprocess.fit(
        train_frame,
        schema,
        clip_quantile=data.clip_quantile,
        vocab_size=data.vocab_size,
        max_tokens=data.max_tokens,
        missing=data.missing,
        fill_value=data.fill_value,
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
    """The rows' positions: in the split (in memory) or in the epoch's stream (streamed)."""
    global_size: int
    rows: tuple[torch.Tensor, torch.Tensor] | None = None
    """A streamed split's rows themselves, ``(x, y)``; None: index the in-memory split."""

    def __len__(self) -> int:
        return len(self.indices)


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
        shard = batch.tensor_split(world_size)[rank] if world_size > 1 else batch
        yield Shard(indices=shard, global_size=len(batch))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of optimizer steps in one epoch (the last batch may be smaller)."""
    return (n + batch_size - 1) // batch_size

"""Split: a deterministic (stratified) train/validation/test split seeded from the run config."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset, write_dataset
from trainpipe.errors import DataError


@dataclass(kw_only=True)
class SplitResult:
    """Row counts of each split."""

    train_rows: int
    validation_rows: int
    test_rows: int


def split_frame(
    frame: pd.DataFrame, schema: Schema, config: RunConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into train, validation and test; the same seed gives the same split."""
    split = config.split
    stratify = split.stratify and schema.task == "classification"
    holdout = split.validation + split.test
    try:
        train, rest = train_test_split(
            frame,
            test_size=holdout,
            random_state=config.seed,
            stratify=frame[schema.label] if stratify else None,
        )
        validation, test = train_test_split(
            rest,
            test_size=split.test / holdout,
            random_state=config.seed + 1,
            stratify=rest[schema.label] if stratify else None,
        )
    except ValueError as exc:
        counts = frame[schema.label].value_counts()
        raise DataError(
            f"cannot split {len(frame)} rows into validation={split.validation} and "
            f"test={split.test} (smallest class {counts.idxmin()!r} has {counts.min()} rows): "
            f"{exc}. Add data, lower the fractions, or set split.stratify=false"
        ) from exc
    return (
        train.reset_index(drop=True),
        validation.reset_index(drop=True),
        test.reset_index(drop=True),
    )


def split_dataset(
    config: RunConfig, dataset: str, train_out: str, validation_out: str, test_out: str
) -> SplitResult:
    """Read the ingested dataset and write its three splits, each with the same schema."""
    frame, schema = read_dataset(dataset)
    train, validation, test = split_frame(frame, schema, config)
    for location, part in ((train_out, train), (validation_out, validation), (test_out, test)):
        write_dataset(location, part, schema)
    return SplitResult(train_rows=len(train), validation_rows=len(validation), test_rows=len(test))

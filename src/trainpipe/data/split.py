"""Split: a deterministic (stratified) train/validation/test split seeded from the run config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset, write_dataset
from trainpipe.data.quality import check_split
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

QUALITY_KEY = "quality.json"


@dataclass(kw_only=True)
class SplitResult:
    """Row counts of each split and the quality findings about them."""

    train_rows: int
    validation_rows: int
    test_rows: int
    findings: list[dict[str, Any]] = field(default_factory=list)


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
    findings = review_split(train, validation, test, schema, config)
    for location, part in ((train_out, train), (validation_out, validation), (test_out, test)):
        write_dataset(location, part, schema)
    open_store(train_out).write_json(QUALITY_KEY, findings)
    return SplitResult(
        train_rows=len(train),
        validation_rows=len(validation),
        test_rows=len(test),
        findings=findings,
    )


def review_split(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    schema: Schema,
    config: RunConfig,
) -> list[dict[str, Any]]:
    """Leakage and quality checks; a failing one stops the split before anything is written.

    Rows shared between train and validation/test only warn when ``data.drop_duplicates`` is
    off: the user kept duplicates on purpose.
    """
    findings = check_split(train, validation, test, schema)
    kept_duplicates = not config.data.drop_duplicates
    failures = [
        f for f in findings
        if f.severity == "fail" and not (f.check == "shared_rows" and kept_duplicates)
    ]  # fmt: skip
    if failures:
        raise DataError("; ".join(f.message for f in failures))
    return [
        {**f.to_dict(), "severity": "warn" if f.severity == "fail" else f.severity}
        for f in findings
    ]

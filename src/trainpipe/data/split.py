"""Split: a deterministic (stratified) train/validation/test split seeded from the run config.

Rows with identical feature values, and rows sharing a value of the schema's group column, always
land in the same split (:mod:`trainpipe.data.split_groups`), so repeats can neither leak into
validation or test nor block the run. A table of distinct rows is split by scikit-learn's
``train_test_split``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from trainpipe.config import RunConfig
from trainpipe.data.dataset import DATA_KEY, SCHEMA_KEY, Schema, write_dataset
from trainpipe.data.near_duplicates import near_duplicate_finding
from trainpipe.data.quality import Finding, check_split
from trainpipe.data.split_groups import RowGroups, assign_splits, row_groups
from trainpipe.data.split_stream import split_streamed
from trainpipe.data.table_input import read_input_dataset
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
    frame: pd.DataFrame, schema: Schema, config: RunConfig, groups: RowGroups | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into train, validation and test; the same seed gives the same split, and
    the rows of a group (``groups``, default :func:`row_groups`) share a split."""
    split = config.split
    stratify = split.stratify and schema.task == "classification"
    groups = row_groups(frame, schema) if groups is None else groups
    if groups.grouped_rows:
        return _split_groups(frame, schema, config, groups, stratify=stratify)
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


def _split_groups(
    frame: pd.DataFrame, schema: Schema, config: RunConfig, groups: RowGroups, *, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    split = config.split
    classes = pd.factorize(frame[schema.label])[0] if stratify else None
    where = assign_splits(groups, classes, (split.validation, split.test), config.seed)
    parts = tuple(frame.loc[where == i].reset_index(drop=True) for i in range(3))
    for name, part, fraction in zip(
        ("validation", "test"), parts[1:], (split.validation, split.test), strict=True
    ):
        if part.empty:
            raise DataError(
                f"cannot split {len(frame)} rows into validation={split.validation} and "
                f"test={split.test}: rows with identical feature values stay together, and "
                f"{groups.by} join them into {groups.n_groups} groups, too few to give the "
                f"{name} split ({fraction}) a row. Add data or more distinct rows"
                + (", or choose another split.group_by" if schema.group else "")
            )
    train, validation, test = parts
    return train, validation, test


def streams(config: RunConfig, dataset: str) -> bool:
    """Whether ``dataset`` is a trainpipe dataset larger than ``data.stream_threshold_mb``."""
    store = open_store(dataset)
    if not (store.exists(SCHEMA_KEY) and store.exists(DATA_KEY)):
        return False
    return store.size(DATA_KEY) > config.data.stream_threshold_mb * 2**20


def grouping_finding(groups: RowGroups, rows: int) -> Finding | None:
    """An ``info`` finding saying how many rows were kept together, or None when none were."""
    if not groups.grouped_rows:
        return None
    multi = int((groups.sizes > 1).sum())
    return Finding(
        check="grouped_rows",
        severity="info",
        message=(
            f"{groups.grouped_rows} of {rows} rows fall in {multi} groups of {groups.by}; "
            "each group lies in one split, so no repeat spans train and validation or test"
        ),
        rows=groups.grouped_rows,
    )


def split_dataset(
    config: RunConfig, dataset: str, train_out: str, validation_out: str, test_out: str
) -> SplitResult:
    """Read the ingested dataset and write its three splits, each with the same schema.

    A trainpipe dataset whose ``data.parquet`` is larger than ``data.stream_threshold_mb`` is
    split as a stream (:func:`~trainpipe.data.split_stream.split_streamed`), one row group at a
    time; its findings say so.
    """
    if streams(config, dataset):
        (train_rows, validation_rows, test_rows), findings = split_streamed(
            config, dataset, (train_out, validation_out, test_out)
        )
        open_store(train_out).write_json(QUALITY_KEY, findings)
        return SplitResult(
            train_rows=train_rows,
            validation_rows=validation_rows,
            test_rows=test_rows,
            findings=findings,
        )
    frame, schema = read_input_dataset(dataset, config)
    groups = row_groups(frame, schema)
    train, validation, test = split_frame(frame, schema, config, groups)
    findings = review_split(
        train, validation, test, schema, config, image_shape=schema.files.get("image_shape", [])
    )
    grouped = grouping_finding(groups, len(frame))
    if grouped is not None:
        findings.insert(0, grouped.to_dict())
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
    *,
    image_shape: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Leakage and quality checks; a failing one stops the split before anything is written,
    unless ``split.leak_check`` is ``warn``, which records it as a warning. ``image_shape``: the
    rows are images (an ingested image folder), compared for near-duplicates as thumbnails."""
    findings = check_split(train, validation, test, schema)
    mode = config.split.near_duplicates
    if mode != "off":
        near = near_duplicate_finding(
            train,
            {"validation": validation, "test": test},
            schema,
            threshold=config.split.near_duplicate_distance,
            severity=mode,
            image_shape=image_shape or (),
        )
        if near is not None and near.severity == "fail":
            raise DataError(near.message)
        if near is not None:
            findings.append(near)
    failures = [f for f in findings if f.severity == "fail"]
    if failures and config.split.leak_check == "fail":
        raise DataError(
            "; ".join(f.message for f in failures)
            + " (set split.leak_check: warn to record this as a warning instead)"
        )
    return [
        {**f.to_dict(), "severity": "warn" if f.severity == "fail" else f.severity}
        for f in findings
    ]

"""Split: a deterministic (stratified) train/validation/test split seeded from the run config.

Rows with identical feature values, and rows sharing a value of the schema's group column, always
land in the same split (:mod:`trainpipe.data.split_groups`), so repeats can neither leak into
validation or test nor block the run. A table of distinct rows is split by scikit-learn's
``train_test_split``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from trainpipe.config import RunConfig
from trainpipe.data.dataset import DATA_KEY, SCHEMA_KEY, Schema, write_dataset
from trainpipe.data.near_duplicates import near_duplicate_finding
from trainpipe.data.quality import Finding, check_split, missing_classes, shared_rows
from trainpipe.data.split_groups import RowGroups, assign_splits, row_groups
from trainpipe.data.split_stream import split_streamed
from trainpipe.data.split_time import TimeSpan, repeat_finding, time_cuts, time_split_finding
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


Parts = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
MIN_CLASS_ROWS = 3
"""Rows a class needs for a stratified split to put one in each of train, validation and test."""


def split_frame(
    frame: pd.DataFrame, schema: Schema, config: RunConfig, groups: RowGroups | None = None
) -> Parts:
    """Split ``frame`` into train, validation and test; the same seed gives the same split, and
    the rows of a group (``groups``, default :func:`row_groups`) share a split."""
    return split_with_findings(frame, schema, config, groups)[0]


def split_with_findings(
    frame: pd.DataFrame, schema: Schema, config: RunConfig, groups: RowGroups | None = None
) -> tuple[Parts, list[Finding]]:
    """:func:`split_frame`, and what the split decided on its own or could not do: a stratified
    split by class counts where scikit-learn's has too few rows of a class (each class with at
    least :data:`MIN_CLASS_ROWS` rows gets one in validation and test), and the classes that
    validation or test lack, whose scores no metric then measures.

    Raises:
        DataError: a stratified split with a class of fewer than :data:`MIN_CLASS_ROWS` rows, or
            too few rows or groups for the fractions.
    """
    split = config.split
    if schema.order:
        return _split_by_time(frame, schema, config)
    stratify = split.stratify and schema.task == "classification"
    groups = row_groups(frame, schema) if groups is None else groups
    findings: list[Finding] = []
    if groups.grouped_rows:
        parts = _split_groups(frame, schema, config, groups, stratify=stratify)
    else:
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
            if not stratify:
                raise DataError(
                    f"cannot split {len(frame)} rows into validation={split.validation} and "
                    f"test={split.test}: {exc}. Add data or change the fractions"
                ) from exc
            parts, decided = _stratified_by_counts(frame, schema.label, config, reason=str(exc))
            findings.append(decided)
        else:
            parts = (
                train.reset_index(drop=True),
                validation.reset_index(drop=True),
                test.reset_index(drop=True),
            )
    if schema.task == "classification":
        findings.extend(_missing_classes(frame, parts, schema.label, stratify_hint=not stratify))
    return parts, findings


def _split_by_time(
    frame: pd.DataFrame, schema: Schema, config: RunConfig
) -> tuple[Parts, list[Finding]]:
    """The time split of ``frame`` by the schema's time column, with its finding and the
    classes a later period lacks."""
    times = frame[schema.order].to_numpy(dtype=np.float64)
    cuts = time_cuts(
        times, validation=config.split.validation, test=config.split.test, column=schema.order
    )
    where = cuts.assign(times)
    spans = [TimeSpan() for _ in range(3)]
    for index, span in enumerate(spans):
        span.add(times[where == index])
    parts = tuple(frame.loc[where == i].reset_index(drop=True) for i in range(3))
    findings = [time_split_finding(spans, schema)]
    if schema.task == "classification":
        findings.extend(_missing_classes(frame, parts, schema.label, stratify_hint=False))
    return (parts[0], parts[1], parts[2]), findings


def _stratified_by_counts(
    frame: pd.DataFrame, label: str, config: RunConfig, *, reason: str
) -> tuple[Parts, Finding]:
    """Split each class by its own counts (seeded): round(n x fraction) rows, at least one, to
    validation and to test, the rest (at least one) to train."""
    split = config.split
    counts = frame[label].value_counts()
    small = counts[counts < MIN_CLASS_ROWS]
    if len(small):
        named = ", ".join(f"{c!r} ({n} row{'s' if n > 1 else ''})" for c, n in small.items())
        raise DataError(
            f"cannot split {len(frame)} rows stratified by {label!r}: class {named} has fewer "
            f"than the {MIN_CLASS_ROWS} rows that put one in each of train, validation and "
            "test. Add rows of it or remove them from the data; or set split.stratify: false, "
            "and the class may be missing from validation or test (the split then says so)"
        )
    rng = np.random.default_rng(config.seed)
    where = np.zeros(len(frame), dtype=np.int64)
    codes, classes = pd.factorize(frame[label], sort=True)
    placed: list[tuple[int, str]] = []
    for code, name in enumerate(classes):
        rows = rng.permutation(np.flatnonzero(codes == code))
        n = len(rows)
        n_val = max(1, round(n * split.validation))
        n_test = max(1, round(n * split.test))
        while n_val + n_test > n - 1:  # keep a training row
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        where[rows[:n_val]] = 1
        where[rows[n_val : n_val + n_test]] = 2
        placed.append((n, f"{name!r} {n} -> {n - n_val - n_test}/{n_val}/{n_test}"))
    parts = tuple(frame.loc[where == i].reset_index(drop=True) for i in range(3))
    decided = Finding(
        check="stratified_by_counts",
        severity="warn",
        message=(
            f"scikit-learn's stratified split needs more rows of the smallest classes ({reason}); "
            "each class was split by its own counts instead, with at least one row in "
            "validation and in test (rows -> train/validation/test, smallest classes first: "
            f"{'; '.join(text for _, text in sorted(placed)[:5])}"
            f"{' ...' if len(placed) > 5 else ''})"
        ),
        rows=len(frame),
    )
    return (parts[0], parts[1], parts[2]), decided


def _missing_classes(
    frame: pd.DataFrame, parts: Parts, label: str, *, stratify_hint: bool
) -> list[Finding]:
    """A warning for each of validation and test that lacks a class of ``frame``; with
    ``stratify_hint`` (an unstratified random split) the fix names ``split.stratify``."""
    return missing_classes(
        frame[label].value_counts().to_dict(),
        [part[label].value_counts().to_dict() for part in parts],
        fix="add rows of it" + (" or set split.stratify: true" if stratify_hint else ""),
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
    groups = None if schema.order else row_groups(frame, schema)  # a time split groups none
    (train, validation, test), decided = split_with_findings(frame, schema, config, groups)
    findings = review_split(
        train, validation, test, schema, config, image_shape=schema.files.get("image_shape", [])
    )
    findings[:0] = [f.to_dict() for f in decided]
    grouped = None if groups is None else grouping_finding(groups, len(frame))
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
    findings = check_split(train, validation, test, schema, shared=not schema.order)
    if schema.order:  # a time split's repeats are the future repeating the past: a warning
        repeats = [
            repeat_finding(name, found.rows, len(part), schema.features)
            for name, part in (("validation", validation), ("test", test))
            if (found := shared_rows(train, part, schema.features, name=name)) is not None
        ]
        findings[:0] = repeats
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

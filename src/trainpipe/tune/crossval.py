"""Cross-validation folds of the training split, written as dataset artifacts for ``fit``.

Folds are cut from the training split only (the validation and test splits stay untouched), with
the run seed: k-fold, stratified k-fold, or leave-one-out. As in the split, rows with identical
features or the same group value stay in one fold (scikit-learn's group-aware splitters), so a
repeat never sits on both sides of a fold. Under a time split (``split.order_by``) the folds
follow time instead: each trains on earlier rows than it validates on. Anything fitted on data
(scaling, resampling) is fitted inside each fold's training part by the training loop itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    LeaveOneOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, write_dataset
from trainpipe.data.split_groups import row_groups
from trainpipe.data.split_time import time_folds
from trainpipe.data.table_input import read_input_dataset
from trainpipe.errors import DataError, TuningError

MAX_LOO_ROWS = 500


def cross_validation_folds(
    config: RunConfig, train_data: str, workdir: Path
) -> Iterator[tuple[str, str]]:
    """Yield ``(fold_train, fold_validation)`` dataset locations, one pair per fold."""
    cv = config.tune.cv
    frame, schema = read_input_dataset(train_data, config)
    if schema.order:
        yield from _write_folds(frame, schema, _time_folds(frame, schema, config), workdir)
        return
    n = len(frame)
    groups = row_groups(frame, schema)
    grouped = groups.grouped_rows > 0
    seed = config.seed
    splitter: BaseCrossValidator | KFold | StratifiedKFold | GroupKFold | StratifiedGroupKFold
    if cv.kind == "loo":
        if n > MAX_LOO_ROWS:
            raise TuningError(
                f"tune.cv.kind=loo on {n} training rows means {n} trainings per trial: use "
                f"kfold or stratified (leave-one-out is for at most {MAX_LOO_ROWS} rows)"
            )
        splitter = LeaveOneGroupOut() if grouped else LeaveOneOut()
    elif cv.kind == "stratified" and schema.task == "classification":
        smallest = int(frame[schema.label].value_counts().min())
        if smallest < cv.folds:
            raise TuningError(
                f"tune.cv.folds={cv.folds} but the smallest class has {smallest} training rows: "
                "lower tune.cv.folds or use kfold"
            )
        splitter = (
            StratifiedGroupKFold(n_splits=cv.folds, shuffle=True, random_state=seed)
            if grouped
            else StratifiedKFold(n_splits=cv.folds, shuffle=True, random_state=seed)
        )
    else:
        splitter = (
            GroupKFold(n_splits=cv.folds, shuffle=True, random_state=seed)
            if grouped
            else KFold(n_splits=cv.folds, shuffle=True, random_state=seed)
        )
    if grouped and groups.n_groups < (cv.folds if cv.kind != "loo" else 2):
        raise TuningError(
            f"tune.cv.folds={cv.folds} but the training split has only {groups.n_groups} groups "
            f"of {groups.by}, which stay in one fold: lower tune.cv.folds"
        )
    labels = frame[schema.label].to_numpy()
    split_groups = groups.codes if grouped else None
    folds = splitter.split(np.zeros(n), labels, split_groups)
    yield from _write_folds(frame, schema, folds, workdir)


def _time_folds(
    frame: pd.DataFrame, schema: Schema, config: RunConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds of a time split's training rows: each validates on a later period than it
    trains on (:func:`~trainpipe.data.split_time.time_folds`)."""
    cv = config.tune.cv
    if cv.kind != "kfold":
        raise TuningError(
            f"tune.cv.kind={cv.kind} shuffles rows across time, but split.order_by "
            f"{schema.order!r} asks for a time split: use tune.cv.kind: kfold, whose folds then "
            "each validate on a period after the one they train on"
        )
    try:
        return time_folds(frame[schema.order].to_numpy(), folds=cv.folds, column=schema.order)
    except DataError as exc:
        raise TuningError(str(exc)) from exc


def _write_folds(
    frame: pd.DataFrame,
    schema: Schema,
    folds: Iterable[tuple[np.ndarray, np.ndarray]],
    workdir: Path,
) -> Iterator[tuple[str, str]]:
    for fold, (train_idx, val_idx) in enumerate(folds):
        train_loc, val_loc = str(workdir / f"fold{fold}-train"), str(workdir / f"fold{fold}-val")
        write_dataset(train_loc, frame.iloc[train_idx].reset_index(drop=True), schema)
        write_dataset(val_loc, frame.iloc[val_idx].reset_index(drop=True), schema)
        yield train_loc, val_loc

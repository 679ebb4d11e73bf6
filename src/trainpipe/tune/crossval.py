"""Cross-validation folds of the training split, written as dataset artifacts for ``fit``.

Folds are cut from the training split only (the validation and test splits stay untouched), with
the run seed: k-fold, stratified k-fold, or leave-one-out. Anything fitted on data (scaling,
resampling) is fitted inside each fold's training part by the training loop itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold, LeaveOneOut, StratifiedKFold

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset, write_dataset
from trainpipe.errors import TuningError

MAX_LOO_ROWS = 500


def cross_validation_folds(
    config: RunConfig, train_data: str, workdir: Path
) -> Iterator[tuple[str, str]]:
    """Yield ``(fold_train, fold_validation)`` dataset locations, one pair per fold."""
    cv = config.tune.cv
    frame, schema = read_dataset(train_data)
    n = len(frame)
    if cv.kind == "loo":
        if n > MAX_LOO_ROWS:
            raise TuningError(
                f"tune.cv.kind=loo on {n} training rows means {n} trainings per trial: use "
                f"kfold or stratified (leave-one-out is for at most {MAX_LOO_ROWS} rows)"
            )
        splitter: KFold | StratifiedKFold | LeaveOneOut = LeaveOneOut()
    elif cv.kind == "stratified" and schema.task == "classification":
        smallest = int(frame[schema.label].value_counts().min())
        if smallest < cv.folds:
            raise TuningError(
                f"tune.cv.folds={cv.folds} but the smallest class has {smallest} training rows: "
                "lower tune.cv.folds or use kfold"
            )
        splitter = StratifiedKFold(n_splits=cv.folds, shuffle=True, random_state=config.seed)
    else:
        splitter = KFold(n_splits=cv.folds, shuffle=True, random_state=config.seed)
    labels = frame[schema.label].to_numpy()
    for fold, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(n), labels)):
        train_loc, val_loc = str(workdir / f"fold{fold}-train"), str(workdir / f"fold{fold}-val")
        write_dataset(train_loc, frame.iloc[train_idx].reset_index(drop=True), schema)
        write_dataset(val_loc, frame.iloc[val_idx].reset_index(drop=True), schema)
        yield train_loc, val_loc

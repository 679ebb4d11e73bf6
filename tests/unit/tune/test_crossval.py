"""Cross-validation objective: folds come from the training split only, and trials use them."""

from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.errors import TuningError
from trainpipe.tune.crossval import cross_validation_folds
from trainpipe.tune.summary import summarize
from trainpipe.tune.worker import run_worker

pytestmark = pytest.mark.unit


def cv_config(tmp_path: Path, kind: str, folds: int = 3, **tune: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris-cv",
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [8]},
            "train": {"epochs": 2, "batch_size": 16, "nproc_per_node": 1, "num_threads": 1},
            "tune": {
                "max_trials": 2,
                "epochs": 1,
                "sampler": "random",
                "pruner": "none",
                "storage": f"journal://{tmp_path / 'cv.journal'}",
                "cv": {"kind": kind, "folds": folds},
                "search_space": {
                    "train.learning_rate": {"type": "float", "low": 0.001, "high": 0.01}
                },
                **tune,
            },
        }
    )


def _rows(location: str) -> set[tuple[float, ...]]:
    frame, schema = read_dataset(location)
    return {tuple(row) for row in frame[schema.features].itertuples(index=False)}


@pytest.mark.parametrize(("kind", "folds"), [("kfold", 4), ("stratified", 3)])
def test_folds_partition_the_training_split_only(
    kind: str, folds: int, iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = cv_config(tmp_path, kind, folds)
    train_rows = _rows(iris_splits["train"])
    held_out = _rows(iris_splits["validation"]) | _rows(iris_splits["test"])
    seen_validation: list[tuple[float, ...]] = []
    pairs = list(cross_validation_folds(config, iris_splits["train"], tmp_path / "folds"))
    assert len(pairs) == folds
    for fold_train, fold_val in pairs:
        a, b = _rows(fold_train), _rows(fold_val)
        assert not a & b
        assert a | b == train_rows
        assert not (a | b) & held_out, "validation/test rows leaked into cross-validation"
        seen_validation += list(b)
    assert set(seen_validation) == train_rows


def test_stratified_folds_keep_the_class_balance(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = cv_config(tmp_path, "stratified", 3)
    for _, fold_val in cross_validation_folds(config, iris_splits["train"], tmp_path / "f"):
        frame, schema = read_dataset(fold_val)
        counts = frame[schema.label].value_counts()
        assert counts.max() - counts.min() <= 2


def test_cross_validated_trials_score_the_mean_over_folds(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = cv_config(tmp_path, "stratified", 3)
    run_worker(
        config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        storage=config.tune.storage,
        study_name="cv",
        log=lambda line: None,
    )
    summary = summarize(config, storage=config.tune.storage, study_name="cv")
    assert summary.n_complete == 2
    assert summary.total_epochs == 2 * 3 * 1  # trials x folds x epochs
    for trial in summary.trials:
        assert len(trial["intermediate"]) == 3  # the running mean after each fold


def test_leave_one_out_refuses_large_data(iris_splits: dict[str, str], tmp_path: Path) -> None:
    config = cv_config(tmp_path, "loo")
    import trainpipe.tune.crossval as crossval

    original = crossval.MAX_LOO_ROWS
    crossval.MAX_LOO_ROWS = 10
    try:
        with pytest.raises(TuningError, match="leave-one-out"):
            next(cross_validation_folds(config, iris_splits["train"], tmp_path / "loo"))
    finally:
        crossval.MAX_LOO_ROWS = original
    pairs = cross_validation_folds(config, iris_splits["train"], tmp_path / "loo2")
    _, fold_val = next(pairs)
    assert len(_rows(fold_val)) == 1

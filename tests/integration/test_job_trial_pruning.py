"""Live pruning of job trials (``tune.trial_backend: job``): the worker follows each trial job's
epoch lines while it runs, asks the pruner after each, and stops a pruned trial's job at once.

Three enqueued trials on digits, each a torchrun job of 20 epochs: two at a good learning rate
complete (identical, as their parameters and seed are), the third at a learning rate 6 times
smaller trails their median at epoch 2, the median pruner's first chance, and is pruned there.
Its job is stopped long before its 20 epochs, the trial is PRUNED with the 2 epochs the pruner
heard of, and the study goes on.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from training_jobs import WITHOUT_SANITY_CHECKS
from trainpipe.config import load_config
from trainpipe.tune.study import EPOCHS, load_study, setup_study
from trainpipe.tune.trial_job import JOB_EPOCHS
from trainpipe.tune.worker import run_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
EPOCHS_PER_TRIAL = 20
GOOD = {"train.learning_rate": 0.003, "model.dropout": 0.1}
SLOW = {"train.learning_rate": 0.0005, "model.dropout": 0.1}


def test_a_pruned_job_trial_is_stopped_while_it_runs(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    storage = f"journal://{tmp_path / 'study.journal'}"
    config = load_config(
        CONFIG,
        [
            "tune.trial_backend=job",
            "train.nproc_per_node=1",
            "tune.max_trials=3",
            "tune.parallel_trials=1",
            f"tune.epochs={EPOCHS_PER_TRIAL}",
            "tune.sampler=random",
            "tune.pruner=median",
            "tune.metric=val_loss",
            "tune.direction=minimize",
            *WITHOUT_SANITY_CHECKS,
        ],
    )
    study = setup_study(config.tune, seed=config.seed, study_name="live", storage=storage)
    for params in (GOOD, GOOD, SLOW):
        study.enqueue_trial(params)
    lines: list[str] = []
    run_worker(
        config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        storage=storage,
        study_name="live",
        log=lines.append,
    )
    trials = load_study(config.tune, seed=config.seed, study_name="live", storage=storage)
    first, second, slow = trials.get_trials(deepcopy=False)
    shown = f"{[(t.state, t.user_attrs) for t in (first, second, slow)]}\n" + "\n".join(lines)
    assert first.state == second.state == optuna.trial.TrialState.COMPLETE, shown
    assert first.user_attrs[JOB_EPOCHS] == EPOCHS_PER_TRIAL
    assert slow.state == optuna.trial.TrialState.PRUNED, shown
    assert slow.user_attrs[EPOCHS] == 2, "pruned at the median pruner's first chance"
    assert sorted(slow.intermediate_values) == [0, 1]
    # Its job was stopped while it ran: a few more epochs at most, not the trial's 20.
    assert 2 <= slow.user_attrs[JOB_EPOCHS] < EPOCHS_PER_TRIAL // 2, shown
    print(f"pruned trial: {slow.user_attrs[EPOCHS]} epochs reported, its job stopped after "
          f"{slow.user_attrs[JOB_EPOCHS]} of {EPOCHS_PER_TRIAL}")  # fmt: skip

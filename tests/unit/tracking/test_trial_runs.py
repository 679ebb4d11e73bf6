"""Each tuning trial as a nested MLflow run: params, per-epoch values, final state."""

from __future__ import annotations

import optuna
import pytest

from fake_mlflow import FakeMlflowClient
from trainpipe.config import RunConfig
from trainpipe.tracking.mlflow_run import PARENT_TAG, Tracking
from trainpipe.tracking.trials import TrialTracker

pytestmark = pytest.mark.unit


def tracker(client: FakeMlflowClient, *, worker: int = 1) -> TrialTracker:
    config = RunConfig.from_dict(
        {
            "name": "iris",
            "data": {"source": "builtin:iris"},
            "tune": {"metric": "val_loss", "direction": "minimize"},
            "tracking": {"mlflow": "http://127.0.0.1:5000"},
        }
    )
    tracking = Tracking.for_config(config, client=client, log=lambda line: None)
    tracking.open(run_id="kfp-1")
    return TrialTracker.for_config(config, tracking, worker=worker)


def run_trial(
    trials: TrialTracker, study: optuna.Study, values: list[float], end: str
) -> optuna.Trial:
    trial = study.ask()
    with trials.trial(study, trial):
        trial.suggest_float("train.learning_rate", 1e-3, 1e-1, log=True)
        trial.set_user_attr("epochs", len(values))
        for epoch, value in enumerate(values):
            trial.report(value, step=epoch)
        if end == "complete":
            study.tell(trial, values[-1])
        elif end == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            trial.set_user_attr("error", "val_loss is nan: the trial diverged")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return trial


def test_each_trial_is_a_nested_run_with_params_epoch_values_and_final_state() -> None:
    client = FakeMlflowClient()
    trials = tracker(client)
    parent = trials.tracking.mlflow_run_id
    study = optuna.create_study(study_name="iris-kfp-1")
    run_trial(trials, study, [0.9, 0.7, 0.5], "complete")
    run_trial(trials, study, [1.2], "pruned")
    run_trial(trials, study, [0.8, 0.6], "failed")
    runs = sorted(client.children(parent), key=lambda run: int(run.data.tags["trainpipe.trial"]))
    assert [run.info.run_name for run in runs] == ["trial-0", "trial-1", "trial-2"]
    assert [run.info.status for run in runs] == ["FINISHED", "KILLED", "FAILED"]
    states = [run.data.tags["trainpipe.trial.state"] for run in runs]
    assert states == ["COMPLETE", "PRUNED", "FAIL"]
    complete = runs[0]
    assert complete.data.tags[PARENT_TAG] == parent
    assert complete.data.tags["trainpipe.worker"] == "1"
    assert complete.data.tags["optuna.study"] == "iris-kfp-1"
    assert complete.data.tags["trainpipe.trial.epochs"] == "3"
    learning_rate = study.trials[0].params["train.learning_rate"]
    assert complete.data.params == {"train.learning_rate": str(learning_rate)}
    # the value reported after each epoch, at step = epoch (from 1)
    assert client.history(complete.info.run_id, "val_loss") == [(1, 0.9), (2, 0.7), (3, 0.5)]
    assert client.history(runs[1].info.run_id, "val_loss") == [(1, 1.2)]
    assert runs[2].data.tags["trainpipe.trial.error"] == "val_loss is nan: the trial diverged"
    assert complete.info.end_time == int(study.trials[0].datetime_complete.timestamp() * 1000)
    assert trials.tracking.failures == 0


def test_a_trial_given_back_by_a_stopped_worker_ends_killed_and_the_signal_goes_on() -> None:
    client = FakeMlflowClient()
    trials = tracker(client)
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(KeyboardInterrupt), trials.trial(study, trial):
        trial.report(0.5, step=0)
        raise KeyboardInterrupt
    (run,) = client.children(trials.tracking.mlflow_run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["trainpipe.trial.state"] == "RUNNING"


def test_values_of_several_objectives_are_logged_under_their_metrics() -> None:
    client = FakeMlflowClient()
    trials = tracker(client)
    trials.metrics = ["val_loss", "seconds"]
    study = optuna.create_study(directions=["minimize", "minimize"])
    trial = study.ask()
    with trials.trial(study, trial):
        trial.set_user_attr("epochs", 4)
        study.tell(trial, [0.3, 12.0])
    (run,) = client.children(trials.tracking.mlflow_run_id)
    assert client.history(run.info.run_id, "val_loss") == [(4, 0.3)]
    assert client.history(run.info.run_id, "seconds") == [(4, 12.0)]


def test_a_failing_server_never_fails_a_trial() -> None:
    client = FakeMlflowClient()
    trials = tracker(client)
    client.fail = True
    study = optuna.create_study()
    run_trial(trials, study, [0.9, 0.5], "complete")
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert trials.tracking.failures == 1  # the nested run could not start; nothing else tried


def test_tracking_off_runs_the_trial_untouched() -> None:
    study = optuna.create_study()
    trial = run_trial(TrialTracker.off(), study, [0.4], "complete")
    assert study.trials[trial.number].value == 0.4

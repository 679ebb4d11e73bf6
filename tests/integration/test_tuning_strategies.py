"""Every search strategy on digits; the grid across parallel workers; failures; resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from trainpipe.config import RunConfig, load_config
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.run import TuneRun, run_study
from trainpipe.tune.study import setup_study
from trainpipe.tune.summary import summarize
from trainpipe.tune.worker import run_worker

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
SPACE = {
    "train.learning_rate": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
}
GRID = {
    "train.learning_rate": {"type": "categorical", "choices": [0.002, 0.005, 0.01]},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.2},
}


def digits_config(tmp_path: Path, **tune: object) -> RunConfig:
    data = load_config(CONFIG, ["train.nproc_per_node=1", "train.num_threads=1"]).to_dict()
    data["tune"] |= {
        "max_trials": 3,
        "epochs": 1,
        "pruner": "none",
        "storage": f"journal://{tmp_path / 'study.journal'}",
        "search_space": SPACE,
        **tune,
    }
    return RunConfig.from_dict(data)


@pytest.mark.parametrize("sampler", ["tpe", "random", "gp", "cmaes", "grid"])
def test_each_single_objective_strategy_runs_on_digits(
    sampler: str, digits_splits: dict[str, str], tmp_path: Path
) -> None:
    space = GRID if sampler == "grid" else SPACE
    config = digits_config(tmp_path, sampler=sampler, search_space=space, pruner="median")
    result = run_worker(
        config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        storage=config.tune.storage,
        study_name=sampler,
        log=lambda line: None,
    )
    assert len(result.trials) == 3
    summary = summarize(config, storage=config.tune.storage, study_name=sampler)
    assert summary.n_complete + summary.n_pruned == 3
    assert set(summary.best_params) == set(space)
    assert summary.best_value is not None and summary.best_value < 2.5
    assert summary.total_epochs >= 3


def test_nsga2_searches_two_objectives_for_a_pareto_front(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    objectives = [
        {"metric": "val_loss", "goal": "minimize"},
        {"metric": "train_loss", "goal": "minimize"},
    ]
    config = digits_config(tmp_path, sampler="nsga2", objectives=objectives, max_trials=4)
    run_worker(
        config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        storage=config.tune.storage,
        study_name="pareto",
        log=lambda line: None,
    )
    summary = summarize(config, storage=config.tune.storage, study_name="pareto")
    assert summary.n_complete == 4
    assert summary.pareto_front
    assert summary.best_values is not None and len(summary.best_values) == 2
    front = [t for t in summary.trials if t["number"] in summary.pareto_front]
    for a in front:  # no point on the front dominates another
        for b in front:
            assert not all(x < y for x, y in zip(a["values"], b["values"], strict=True))


def test_grid_is_covered_exactly_once_by_three_parallel_workers(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    config = digits_config(tmp_path, sampler="grid", search_space=GRID, max_trials=100)
    run = TuneRun(output=tmp_path / "grid.json", storage=config.tune.storage, study_name="grid")
    summary = run_study(config, run, workers=3, log=lambda line: None)
    params = [tuple(sorted(t["params"].items())) for t in summary["trials"]]
    assert len(params) == 6 and len(set(params)) == 6
    assert {p["train.learning_rate"] for p in (t["params"] for t in summary["trials"])} == {
        0.002,
        0.005,
        0.01,
    }
    assert summary["n_complete"] == 6
    assert json.loads((tmp_path / "grid.json").read_text())["best_params"]
    assert (tmp_path / "grid.html").read_text().count("<tr") >= 6


def test_diverging_trials_are_failed_and_the_study_finishes(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    space = {"train.learning_rate": {"type": "categorical", "choices": [0.003, 1e7]}}
    config = digits_config(tmp_path, sampler="grid", search_space=space, max_trials=2)
    config = config.with_overrides(
        {"train.optimizer": "sgd", "train.grad_clip": 0.0, "tune.max_failed_trials": 5}
    )
    run_worker(
        config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        storage=config.tune.storage,
        study_name="nan",
        log=lambda line: None,
    )
    summary = summarize(config, storage=config.tune.storage, study_name="nan")
    assert summary.n_complete == 1 and summary.n_failed == 1
    (failed,) = [t for t in summary.trials if t["state"] == "FAIL"]
    assert failed["params"]["train.learning_rate"] == 1e7
    assert "non-finite" in failed["error"]
    assert summary.best_params == {"train.learning_rate": 0.003}


def test_too_many_failures_stop_the_study(digits_splits: dict[str, str], tmp_path: Path) -> None:
    space = {"train.learning_rate": {"type": "float", "low": 1e6, "high": 1e7}}
    config = digits_config(tmp_path, sampler="random", search_space=space, max_trials=10)
    config = config.with_overrides(
        {"train.optimizer": "sgd", "train.grad_clip": 0.0, "tune.max_failed_trials": 2}
    )
    result = run_worker(
        config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        storage=config.tune.storage,
        study_name="doomed",
        log=lambda line: None,
    )
    assert len(result.trials) == 2 and "failed" in result.stop_reason


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_worker_resumes_without_repeating_finished_trials(
    digits_splits: dict[str, str], tmp_path: Path, stop: signal.Signals
) -> None:
    """A SIGKILLed worker's running trial is found stale by the next worker (no heartbeat);
    one stopped by SIGINT gives it back before it exits, so a resume at once reaches
    ``max_trials``. Either way finished trials are kept and the counts add up."""
    config = digits_config(tmp_path, sampler="random", max_trials=4, epochs=3)
    config = config.with_overrides({"tune.stale_trial_seconds": 1})
    storage, study_name = config.tune.storage, "resume"
    setup_study(config.tune, seed=config.seed, study_name=study_name, storage=storage)
    spec = TrainSpec(
        config=config,
        train_data=digits_splits["train"],
        validation_data=digits_splits["validation"],
        output="",
    )
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(spec.to_json())
    worker = subprocess.Popen(
        [sys.executable, "-m", "trainpipe.tune", "--spec", str(spec_path),
         "--storage", storage, "--study", study_name],
    )  # fmt: skip
    study = optuna.load_study(study_name=study_name, storage=_storage(storage))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trials = study.get_trials(deepcopy=False)
        complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        # killed once the trial has all its parameters (it reported an epoch): one killed
        # between two suggestions is retried with the ones it had, the rest sampled anew
        running = trials[-1] if trials else None
        if (
            complete >= 2
            and running
            and running.state.name == "RUNNING"
            and running.intermediate_values
        ):
            break
        time.sleep(0.05)
    os.kill(worker.pid, stop)
    code = worker.wait()
    assert code == (-9 if stop == signal.SIGKILL else 128 + signal.SIGINT), code
    before = {
        t.number: t.params
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE
    }
    assert len(before) >= 2
    if stop == signal.SIGKILL:
        time.sleep(1.5)  # the killed trial's heartbeat goes stale

    run = TuneRun(output=tmp_path / "resume.json", storage=storage, study_name=study_name)
    summary = run_study(config, run, workers=1, log=lambda line: None)
    complete = [t for t in summary["trials"] if t["state"] == "COMPLETE"]
    assert len(complete) == 4
    for number, params in before.items():  # finished trials kept, never run again
        assert [t["params"] for t in complete].count(params) == 1
        assert any(t["number"] == number for t in complete)
    stale = [t for t in summary["trials"] if "parameters were retried" in t["error"]]
    assert len(stale) == 1
    why = "no heartbeat" if stop == signal.SIGKILL else "stopped by SIGINT"
    assert why in stale[0]["error"]
    assert any(t["params"] == stale[0]["params"] for t in complete), "the lost trial is retried"
    counts = ("n_complete", "n_pruned", "n_failed", "n_retried")
    assert sum(summary[k] for k in counts) == len(summary["trials"])
    assert summary["n_retried"] == 1


def _storage(url: str) -> optuna.storages.BaseStorage:
    from trainpipe.tune.study import open_storage

    return open_storage(url)


def test_workers_share_a_study_through_the_grpc_storage_proxy(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    """The cluster's storage path: `python -m trainpipe.tune.storage_server` on loopback."""
    from trainpipe.launch.local import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "trainpipe.tune.storage_server",
         "--db", f"sqlite:///{tmp_path / 'optuna.db'}", "--host", "127.0.0.1", "--port", str(port)],
    )  # fmt: skip
    try:
        storage = f"grpc://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                optuna.get_all_study_names(_storage(storage))
                break
            except Exception:
                assert time.monotonic() < deadline, "the storage server did not come up"
                time.sleep(0.5)
        config = digits_config(tmp_path, sampler="tpe", max_trials=4, storage=storage)
        run = TuneRun(output=tmp_path / "grpc.json", storage=storage, study_name="grpc")
        summary = run_study(config, run, workers=2, log=lambda line: None)
        assert summary["n_complete"] == 4
        assert len({tuple(sorted(t["params"].items())) for t in summary["trials"]}) == 4
    finally:
        server.terminate()
        server.wait(timeout=30)

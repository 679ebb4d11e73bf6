"""Unit tests for trainpipe.tune: storage, samplers, workers sharing a study, and the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage, RDBStorage

from trainpipe.config import ParamSpec, RunConfig, TuneConfig
from trainpipe.errors import ConfigError, TuningError, UserCodeError
from trainpipe.tune.study import (
    grid_of,
    load_study,
    make_pruner,
    make_sampler,
    open_storage,
    study_location,
)
from trainpipe.tune.summary import best_params_json, summarize
from trainpipe.tune.worker import run_worker, trial_threads

pytestmark = pytest.mark.unit

LR_SPACE = {"train.learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}


def make_config(storage: str = "", **tune: Any) -> RunConfig:
    data: dict[str, Any] = {
        "name": "iris",
        "seed": 11,
        "data": {"source": "builtin:iris"},
        "model": {"hidden": [8]},
        "train": {"epochs": 9, "batch_size": 16, "nproc_per_node": 1, "num_threads": 1},
        "tune": {
            "max_trials": 3,
            "epochs": 1,
            "sampler": "random",
            "pruner": "none",
            "storage": storage,
            "search_space": LR_SPACE,
            **tune,
        },
    }
    return RunConfig.from_dict(data)


@pytest.fixture
def splits(iris_splits: dict[str, str]) -> dict[str, str]:
    """builtin:iris ingested and split once per session (tests/conftest.py)."""
    return iris_splits


def journal(tmp_path: Path) -> str:
    return f"journal://{tmp_path / 'study.log'}"


# --- storage ---------------------------------------------------------------------------------


def test_open_journal_storage(tmp_path: Path) -> None:
    url = journal(tmp_path)
    storage = open_storage(url)
    assert isinstance(storage, JournalStorage)
    optuna.create_study(study_name="s", storage=storage)
    assert (tmp_path / "study.log").is_file()
    # a second handle on the same file sees the study
    assert [s.study_name for s in optuna.get_all_study_summaries(open_storage(url))] == ["s"]


def test_open_sqlite_storage(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert isinstance(storage, RDBStorage)
    optuna.create_study(study_name="s", storage=storage)
    assert (tmp_path / "study.db").is_file()


def test_the_grpc_storage_proxy_is_used_without_optunas_experimental_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster's storage (client and server) is Optuna's gRPC proxy, experimental since 4.2:
    trainpipe means to use it, so its ExperimentalWarning does not reach the console."""
    import warnings

    from optuna.storages import GrpcStorageProxy
    from optuna.storages._grpc import server

    from trainpipe.tune.storage_server import serve

    class Served(Exception):
        pass

    def make_server(*args: Any) -> None:
        raise Served

    monkeypatch.setattr(server, "make_server", make_server)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(open_storage("grpc://127.0.0.1:1"), GrpcStorageProxy)  # no connection
        with pytest.raises(Served):
            serve(f"sqlite:///{tmp_path / 'optuna.db'}", port=1)


def test_open_empty_storage() -> None:
    with pytest.raises(ConfigError, match=r"tune\.storage is empty"):
        open_storage("")


def test_open_bad_storage_url() -> None:
    with pytest.raises(TuningError, match="nosuchdb://x"):
        open_storage("nosuchdb://x")


# --- samplers and pruners --------------------------------------------------------------------


SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.RandomSampler,  # the grid itself is enqueued by setup_study
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_builds(name: str) -> None:
    space = {"train.learning_rate": ParamSpec(type="float", low=0.001, high=0.004, step=0.001)}
    sampler = make_sampler(TuneConfig(sampler=name, search_space=space), seed=1)  # type: ignore[arg-type]
    assert isinstance(sampler, SAMPLERS[name])


def test_grid_sampler_needs_a_step_for_float_ranges() -> None:
    space = {"train.learning_rate": ParamSpec(type="float", low=0.001, high=0.1, log=True)}
    with pytest.raises(ConfigError) as info:
        grid_of(space)
    assert "tune.search_space.train.learning_rate" in str(info.value)
    assert "step" in str(info.value)


def test_grid_values() -> None:
    space = {
        "train.learning_rate": ParamSpec(type="float", low=0.1, high=0.3, step=0.1),
        "train.epochs": ParamSpec(type="int", low=1, high=5, step=2),
        "train.optimizer": ParamSpec(type="categorical", choices=["sgd", "adam"]),
    }
    assert grid_of(space) == {
        "train.learning_rate": [0.1, 0.2, 0.3],
        "train.epochs": [1, 3, 5],
        "train.optimizer": ["sgd", "adam"],
    }


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("asha", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_pruners(name: str, kind: type) -> None:
    assert isinstance(make_pruner(TuneConfig(pruner=name)), kind)  # type: ignore[arg-type]


def pruned_at(pruner: optuna.pruners.BasePruner, curves: list[list[float]]) -> list[int | None]:
    """Run ``curves`` (one value per epoch) as trials one after the other under ``pruner``, as
    the tuning worker reports them; the epoch step at which each was pruned (None: it ran out)."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    stops: list[int | None] = []
    for curve in curves:
        trial = study.ask()
        stop = next((step for step, value in enumerate(curve) if _prunes(trial, step, value)), None)
        stops.append(stop)
        if stop is None:
            study.tell(trial, curve[-1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return stops


def _prunes(trial: optuna.Trial, step: int, value: float) -> bool:
    trial.report(value, step=step)
    return trial.should_prune()


@pytest.mark.parametrize(("min_epochs", "rungs"), [(1, (1, 3)), (2, (2, 6))])
def test_asha_compares_trials_at_rungs_set_by_the_config(
    min_epochs: int, rungs: tuple[int, int]
) -> None:
    tune = TuneConfig(pruner="asha", epochs=12, pruner_min_epochs=min_epochs, reduction_factor=3)
    good = [0.5 + 0.04 * step for step in range(12)]
    # the first trial has no competitor and runs out; a worse one stops at the first rung
    assert pruned_at(make_pruner(tune), [good, [0.1] * 12]) == [None, rungs[0]]
    # one as good as the others at the first rung, worse after it, stops at the second
    late = good[: rungs[0] + 1] + [0.1] * (11 - rungs[0])
    assert pruned_at(make_pruner(tune), [good, good, late]) == [None, None, rungs[1]]


def test_load_study_is_shared(tmp_path: Path) -> None:
    config = make_config()
    first = load_study(config.tune, seed=1, study_name="s", storage=journal(tmp_path))
    first.enqueue_trial({"train.learning_rate": 0.01})
    second = load_study(config.tune, seed=2, study_name="s", storage=journal(tmp_path))
    assert len(second.get_trials()) == 1


# --- workers ---------------------------------------------------------------------------------


def test_two_workers_share_the_trial_budget(splits: dict[str, str], tmp_path: Path) -> None:
    storage = journal(tmp_path)
    config = make_config(storage)
    results = [
        run_worker(
            config,
            train_data=splits["train"],
            validation_data=splits["validation"],
            storage=storage,
            study_name="shared",
            worker=worker,
        )
        for worker in (0, 1)
    ]
    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    trials = study.get_trials()
    assert len(trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(n for r in results for n in r.trials) == [0, 1, 2]
    assert [r.worker for r in results] == [0, 1]
    for trial in trials:
        assert set(trial.params) == {"train.learning_rate"}
        assert 0.001 <= trial.params["train.learning_rate"] <= 0.1
        assert len(trial.intermediate_values) == 1  # tune.epochs, not train.epochs

    summary = summarize(config, storage=storage, study_name="shared")
    assert set(summary.best_params) == set(LR_SPACE)
    assert summary.n_complete == 3
    assert summary.n_failed == 0
    assert summary.n_pruned == 0
    assert summary.best_value == min(float(t.value) for t in trials if t.value is not None)
    assert summary.best_value == pytest.approx(
        min(row["values"][0] for row in summary.trials if row["state"] == "COMPLETE")
    )
    assert [row["number"] for row in summary.trials] == [0, 1, 2]
    assert json.loads(best_params_json(summary)) == summary.best_params
    assert json.loads(json.dumps(summary.to_dict()))["n_complete"] == 3


def test_trials_skip_the_checks_the_training_job_runs(
    splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial only scores its parameters: the overfit-one-batch check and the baselines (the
    slowest part of a small trial) are left to the training job after the search."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a tuning trial ran the sanity checks")

    monkeypatch.setattr("trainpipe.train.loop.run_sanity_checks", refuse)
    config = make_config(journal(tmp_path), max_trials=1)
    assert config.train.sanity_checks
    run_worker(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        storage=journal(tmp_path),
        study_name="s",
    )
    study = optuna.load_study(study_name="s", storage=open_storage(journal(tmp_path)))
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.COMPLETE]


def test_parallel_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    base = {"train.num_threads": 0, "tune.parallel_trials": 2}
    assert trial_threads(make_config().with_overrides(base)) == 4
    job = {**base, "tune.trial_backend": "job", "train.nproc_per_node": 2}
    assert trial_threads(make_config().with_overrides(job)) == 2
    crowded = {**base, "tune.parallel_trials": 16}
    assert trial_threads(make_config().with_overrides(crowded)) == 1
    assert trial_threads(make_config().with_overrides({**base, "train.num_threads": 3})) == 3


def test_max_trials_zero_skips_tuning(tmp_path: Path) -> None:
    config = make_config(journal(tmp_path), max_trials=0)
    result = run_worker(
        config,
        train_data="unused",
        validation_data="unused",
        storage=journal(tmp_path),
        study_name="s",
    )
    assert result.trials == []
    summary = summarize(config, storage=journal(tmp_path), study_name="s")
    assert summary.best_params == {}
    assert summary.best_value is None
    assert not (tmp_path / "study.log").exists()


def test_diverging_trials_fail_and_summary_raises(splits: dict[str, str], tmp_path: Path) -> None:
    storage = journal(tmp_path)
    data = make_config(storage).to_dict()
    data["train"] |= {"optimizer": "sgd", "grad_clip": 0.0}
    data["tune"]["search_space"] = {
        "train.learning_rate": {"type": "float", "low": 1e5, "high": 1e6, "log": True}
    }
    config = RunConfig.from_dict(data)
    run_worker(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        storage=storage,
        study_name="diverge",
    )
    study = optuna.load_study(study_name="diverge", storage=open_storage(storage))
    trials = study.get_trials()
    assert len(trials) == 3
    assert all(t.state == optuna.trial.TrialState.FAIL for t in trials)
    assert all("non-finite" in t.user_attrs["error"] for t in trials)

    with pytest.raises(TuningError) as info:
        summarize(config, storage=storage, study_name="diverge")
    message = str(info.value)
    assert "'diverge'" in message
    assert "none of 3 trials completed" in message
    assert "non-finite" in message


def test_some_failed_trials_are_counted(splits: dict[str, str], tmp_path: Path) -> None:
    storage = journal(tmp_path)
    data = make_config(storage, max_trials=3).to_dict()
    data["train"] |= {"optimizer": "sgd", "grad_clip": 0.0}
    data["tune"]["search_space"] = {
        "train.learning_rate": {"type": "categorical", "choices": [0.01, 1e6]}
    }
    config = RunConfig.from_dict(data)
    study = load_study(config.tune, seed=0, study_name="mixed", storage=storage)
    study.enqueue_trial({"train.learning_rate": 1e6})
    study.enqueue_trial({"train.learning_rate": 0.01})
    run_worker(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        storage=storage,
        study_name="mixed",
    )
    summary = summarize(config, storage=storage, study_name="mixed")
    assert len(summary.trials) == 3
    assert summary.n_complete + summary.n_failed == 3
    assert summary.n_complete >= 1
    assert summary.n_failed >= 1
    assert summary.best_params == {"train.learning_rate": 0.01}
    for row in summary.trials:
        diverges = row["params"] == {"train.learning_rate": 1e6}
        assert row["state"] == ("FAIL" if diverges else "COMPLETE")
        assert ("non-finite" in row["error"]) == diverges


def test_grid_sampler_worker_walks_the_whole_grid(splits: dict[str, str], tmp_path: Path) -> None:
    storage = journal(tmp_path)
    data = make_config(storage, max_trials=2).to_dict()
    data["tune"]["sampler"] = "grid"
    data["tune"]["search_space"] = {
        "train.learning_rate": {"type": "categorical", "choices": [0.01, 0.02]}
    }
    config = RunConfig.from_dict(data)
    result = run_worker(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        storage=storage,
        study_name="grid",
    )
    assert result.trials == [0, 1]
    summary = summarize(config, storage=storage, study_name="grid")
    assert summary.n_complete == 2
    assert sorted(row["params"]["train.learning_rate"] for row in summary.trials) == [0.01, 0.02]


# --- study location --------------------------------------------------------------------------


def test_study_location_needs_storage() -> None:
    with pytest.raises(TuningError, match=r"tune\.storage is empty"):
        study_location(make_config(""), "run1")


def test_study_location_names() -> None:
    assert study_location(make_config("sqlite:///x.db"), "run1") == ("sqlite:///x.db", "iris-run1")
    assert study_location(make_config("sqlite:///x.db"), "") == ("sqlite:///x.db", "iris-study")
    named = make_config("sqlite:///x.db", study_name="mine")
    assert study_location(named, "run1") == ("sqlite:///x.db", "mine")
    assert study_location(make_config("", max_trials=0), "r") == ("", "iris-r")


def test_a_user_models_params_are_tuned_like_any_setting(
    splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "user_code"))
    config = make_config(
        journal(tmp_path),
        max_trials=2,
        sampler="grid",
        search_space={"model.params.bias": {"type": "categorical", "choices": [True, False]}},
    ).with_overrides({"model.kind": "custom", "model.factory": "digits_net.mistakes:linear"})
    lines: list[str] = []
    run_worker(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        storage=journal(tmp_path),
        study_name="s",
        log=lines.append,
    )
    assert any("user code ok: model.factory digits_net.mistakes:linear" in line for line in lines)
    study = optuna.load_study(study_name="s", storage=open_storage(journal(tmp_path)))
    trials = study.get_trials()
    assert sorted(t.params["model.params.bias"] for t in trials) == [False, True]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_a_broken_factory_stops_the_worker_before_any_trial(
    splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config(journal(tmp_path)).with_overrides(
        {"model.kind": "custom", "model.factory": "no_such_pkg.nets:build"}
    )
    with pytest.raises(UserCodeError, match="no module named 'no_such_pkg'"):
        run_worker(
            config,
            train_data=splits["train"],
            validation_data=splits["validation"],
            storage=journal(tmp_path),
            study_name="s",
        )
    study = optuna.load_study(study_name="s", storage=open_storage(journal(tmp_path)))
    assert study.get_trials() == []


def test_a_trial_that_outlives_the_stale_limit_keeps_beating(tmp_path: Path) -> None:
    """The heartbeat is a thread: a trial whose epoch takes three times ``stale_trial_seconds``
    is not taken for a dead worker's; once its worker stops beating, it is."""
    import time

    from trainpipe.tune.heartbeat import heartbeat
    from trainpipe.tune.worker import recover_stale_trials

    storage = f"sqlite:///{tmp_path / 'beats.db'}"
    study = optuna.create_study(study_name="beats", storage=storage)
    trial = study.ask()
    other_worker = optuna.load_study(study_name="beats", storage=storage)
    with heartbeat(trial, stale_seconds=0.4):
        time.sleep(1.2)  # one long epoch, no report
        assert recover_stale_trials(other_worker, stale_seconds=0.4, log=lambda line: None) == []
    time.sleep(0.6)
    assert recover_stale_trials(other_worker, stale_seconds=0.4, log=lambda line: None) == [
        trial.number
    ]


def test_importances_come_without_optunas_warnings(tmp_path: Path) -> None:
    """The first objective's importances go through a target, which Optuna's evaluator warns
    about (it ranks low values first); the summary means that, so nothing reaches the console;
    too few trials to rank the parameters give no importances, not a warning."""
    import warnings

    objectives = [{"metric": "val_accuracy", "goal": "maximize"},
                  {"metric": "val_loss", "goal": "minimize"}]  # fmt: skip
    space = {**LR_SPACE, "model.dropout": {"type": "float", "low": 0.0, "high": 0.5}}
    config = make_config(objectives=objectives, search_space=space)
    storage = journal(tmp_path)
    study = load_study(config.tune, seed=1, study_name="multi", storage=storage)
    distributions = {
        "train.learning_rate": optuna.distributions.FloatDistribution(0.001, 0.1, log=True),
        "model.dropout": optuna.distributions.FloatDistribution(0.0, 0.5),
    }
    for i in range(12):
        lr, dropout = 0.001 * 1.4**i, (i * 7 % 12) / 24
        study.add_trial(
            optuna.trial.create_trial(
                params={"train.learning_rate": lr, "model.dropout": dropout},
                distributions=distributions,
                values=[0.5 + 4 * lr, 1.0 - 4 * lr + dropout / 100],
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarize(config, storage=storage, study_name="multi")
    assert set(summary.importances) == {"train.learning_rate", "model.dropout"}
    assert summary.importances["train.learning_rate"] > summary.importances["model.dropout"]

    few = make_config(search_space=space)  # one trial: every importance would be equal
    study = load_study(few.tune, seed=1, study_name="few", storage=storage)
    study.add_trial(
        optuna.trial.create_trial(
            params={"train.learning_rate": 0.01, "model.dropout": 0.1},
            distributions=distributions,
            value=1.0,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert summarize(few, storage=storage, study_name="few").importances == {}

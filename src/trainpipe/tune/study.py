"""The Optuna study every tuning worker shares: storage, sampler and pruner from the config."""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import optuna

from trainpipe.config import ParamSpec, RunConfig, TuneConfig
from trainpipe.errors import ConfigError, TuningError

JOURNAL_PREFIX = "journal://"
SKIPPED = "skipped"
"""User attribute of a trial slot a worker took past the budget and never ran."""
HEARTBEAT = "heartbeat"
EPOCHS = "epochs"
STALE_PREFIX = "stale-trial-"
"""Study user attribute ``stale-trial-<number>``: that trial's worker died; it was retried."""


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open study storage shared by parallel workers.

    ``journal:///abs/path.log`` is a file-backed journal (a laptop, one machine); a SQLAlchemy
    URL (``sqlite:///``, ``postgresql://``, ``mysql://``) is a database; ``grpc://host:port`` is
    Optuna's gRPC storage proxy (a cluster).
    """
    if not url:
        raise ConfigError("tune.storage is empty: set a journal:///path, database URL or grpc://")
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = url[len(JOURNAL_PREFIX) :]
        return JournalStorage(JournalFileBackend(path))
    if url.startswith("grpc://"):
        from optuna.storages import GrpcStorageProxy

        host, _, port = url[len("grpc://") :].partition(":")
        with experimental_grpc_expected():
            return GrpcStorageProxy(host=host, port=int(port or 13000))
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # SQLAlchemy raises many types for bad URLs
        raise TuningError(f"tune.storage {url!r} cannot be opened: {exc}") from exc


@contextlib.contextmanager
def experimental_grpc_expected() -> Iterator[None]:
    """Optuna's gRPC storage proxy (client and server) is marked experimental since 4.2 and says
    so with an ExperimentalWarning on every use; it is the cluster's study storage by design
    (manifests/base/optuna-storage.yaml), so that warning is silenced where trainpipe uses it."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*(GrpcStorageProxy|run_grpc_proxy_server) is experimental",
            category=ExperimentalWarning,
        )  # fmt: skip
        yield


def grid_of(space: dict[str, ParamSpec]) -> dict[str, list[Any]]:
    """The grid the grid sampler walks: categorical choices, or int/float ranges by ``step``."""
    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            grid[name] = list(spec.choices)
            continue
        if spec.step is None:
            raise ConfigError(
                f"tune.search_space.{name}: the grid sampler needs a step (or choices) to "
                "enumerate the range"
            )
        assert spec.low is not None and spec.high is not None  # checked by config validation
        values, value = [], spec.low
        while value <= spec.high + 1e-12:
            values.append(int(value) if spec.type == "int" else round(value, 12))
            value += spec.step
        grid[name] = values
    return grid


def make_sampler(tune: TuneConfig, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler named by ``tune.sampler``, seeded from the run."""
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tune.sampler == "grid":
        # setup_study enqueues every grid point and workers pop them from the shared storage,
        # which Optuna does atomically; sampling never happens within the budget, so this
        # sampler only stands behind a slot that gets given back.
        return optuna.samplers.RandomSampler(seed=seed)
    if tune.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if tune.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if tune.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
    """The pruner named by ``tune.pruner`` (none for a multi-objective search).

    ``asha`` is Optuna's asynchronous successive halving: rungs at ``tune.pruner_min_epochs``
    times powers of ``tune.reduction_factor`` (0-based epoch steps); a trial that reaches a rung
    goes on only if it is among the best 1/``reduction_factor`` of every trial that reached it
    so far, running or not (the best of them while they are fewer than ``reduction_factor``), so
    no worker waits for a rung to fill. ``hyperband`` runs brackets
    of the same halving with the same two settings, up to ``tune.epochs``.
    """
    if len(tune.objective_list) > 1:
        return optuna.pruners.NopPruner()
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if tune.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=tune.pruner_min_epochs, reduction_factor=tune.reduction_factor
        )
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=tune.pruner_min_epochs,
            max_resource=tune.epochs,
            reduction_factor=tune.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def load_study(tune: TuneConfig, *, seed: int, study_name: str, storage: str) -> optuna.Study:
    """Create the study, or load it when another worker (or an earlier run) created it."""
    return optuna.create_study(
        study_name=study_name,
        storage=open_storage(storage),
        sampler=make_sampler(tune, seed),
        pruner=make_pruner(tune),
        directions=[objective.goal for objective in tune.objective_list],
        load_if_exists=True,
    )


GRID_ENQUEUED = "grid_enqueued"


def grid_points(tune: TuneConfig) -> list[dict[str, Any]]:
    """Every combination of the grid, in a fixed order."""
    grid = grid_of(tune.search_space)
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


WARM_STARTED = "warm_started"


def setup_study(
    tune: TuneConfig,
    *,
    seed: int,
    study_name: str,
    storage: str,
    first: Mapping[str, Any] | None = None,
    first_from: str = "",
) -> optuna.Study:
    """Create the study once, before the workers fan out.

    ``first`` (``tune.warm_start``'s parameters, from the model ``first_from``) is enqueued as
    the first trial, once per study: a resumed study does not try it again.

    For the grid sampler every grid point is enqueued here as a waiting trial, exactly once;
    workers pop waiting trials atomically from the shared storage, so no point runs twice however
    many workers there are.
    """
    study = load_study(tune, seed=seed, study_name=study_name, storage=storage)
    if first and not study.user_attrs.get(WARM_STARTED):
        study.enqueue_trial(dict(first), user_attrs={"warm_start": first_from})
        study.set_user_attr(WARM_STARTED, first_from)
    if tune.sampler == "grid" and not study.user_attrs.get(GRID_ENQUEUED):
        for params in grid_points(tune):
            study.enqueue_trial(params, skip_if_exists=True)
        study.set_user_attr(GRID_ENQUEUED, True)
    return study


def trial_budget(tune: TuneConfig) -> int:
    """How many trials the study runs: ``max_trials``, or the grid's size if that is smaller."""
    if tune.sampler == "grid":
        return min(tune.max_trials, len(grid_points(tune)))
    return tune.max_trials


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """Ask ``trial`` for a value of one search-space dimension."""
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices)
    assert spec.low is not None and spec.high is not None  # checked by config validation
    if spec.type == "int":
        return trial.suggest_int(
            name, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
        )
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)


def stale_numbers(study: optuna.Study) -> set[int]:
    """Trials whose worker died (recorded as ``stale-trial-<number>``); they were retried."""
    return {
        int(key[len(STALE_PREFIX) :]) for key in study.user_attrs if key.startswith(STALE_PREFIX)
    }


def study_location(config: RunConfig, run_id: str) -> tuple[str, str]:
    """The study storage URL and study name every worker of one run shares."""
    if config.tune.max_trials and not config.tune.storage:
        raise TuningError(
            "tune.storage is empty: set it to a database URL or grpc://host:port that every "
            "tuning worker can reach (trainpipe run sets a journal file on a laptop)"
        )
    name = config.tune.study_name or f"{config.name}-{run_id or 'study'}"
    return config.tune.storage, name

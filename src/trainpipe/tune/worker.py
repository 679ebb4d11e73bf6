"""Katib-style tuning: workers share one study, each runs trials until the study has enough.

A trial trains in-process with the same :func:`trainpipe.train.fit` the training job runs, for
``tune.epochs`` epochs, and reports its metric after every epoch so the pruner can stop it early.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import optuna

from trainpipe.config import RunConfig
from trainpipe.errors import TrainpipeError, TuningError
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.study import load_study, suggest

SKIPPED = "skipped"
"""User attribute of a trial slot a worker took past the budget and never ran."""


@dataclass(kw_only=True)
class WorkerResult:
    """Trials this worker ran."""

    worker: int
    trials: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class TuneSummary:
    """The study's outcome: best parameters and counts."""

    best_params: dict[str, Any]
    best_value: float | None
    n_complete: int
    n_pruned: int
    n_failed: int
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "best_params": self.best_params,
            "best_value": self.best_value,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "trials": self.trials,
        }


def objective_for(
    config: RunConfig, train_data: str, validation_data: str
) -> optuna.study.study.ObjectiveFuncType:
    """The trial objective: train briefly with the suggested parameters, return the metric."""
    tune = config.tune

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, spec) for name, spec in tune.search_space.items()}
        overrides = {**params, "train.epochs": tune.epochs}
        trial_config = config.with_overrides(overrides, origin=f"trial {trial.number}")
        spec = TrainSpec(
            config=trial_config,
            train_data=train_data,
            validation_data=validation_data,
            output="",
        )

        def report(epoch: int, row: dict[str, float]) -> None:
            value = _metric(row, tune.metric)
            trial.report(value, step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch + 1} with {tune.metric}={value}")

        result = fit(spec, DistContext(), on_epoch=report, checkpoint=False)
        return _metric(result.final, tune.metric)

    return objective


def _metric(row: dict[str, float], name: str) -> float:
    if name not in row:
        raise TuningError(f"tune.metric {name!r} is not reported; choose one of {sorted(row)}")
    value = row[name]
    if not math.isfinite(value):
        raise TuningError(f"{name} is {value}")
    return value


def _tell(study: optuna.Study, trial: optuna.Trial, *args: Any, **kwargs: Any) -> bool:
    """``study.tell``; False when the sampler asked the study to stop (a finished grid)."""
    try:
        study.tell(trial, *args, **kwargs)
    except RuntimeError as exc:  # GridSampler calls study.stop(), legal only inside optimize()
        if "Study.stop" not in str(exc):
            raise
        return False
    return True


def run_worker(
    config: RunConfig,
    *,
    train_data: str,
    validation_data: str,
    storage: str,
    study_name: str,
    worker: int = 0,
) -> WorkerResult:
    """Run trials on the shared study until it holds ``tune.max_trials`` finished trials."""
    tune = config.tune
    result = WorkerResult(worker=worker)
    if tune.max_trials == 0:
        return result
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(tune, seed=config.seed + worker, study_name=study_name, storage=storage)
    objective = objective_for(config, train_data, validation_data)
    while len(study.get_trials(deepcopy=False)) < tune.max_trials:
        trial = study.ask()
        # Trial numbers come from the shared storage in creation order, so a worker that lost the
        # race for the last slot sees a number past the budget and gives the slot back unrun.
        if trial.number >= tune.max_trials:
            trial.set_user_attr(SKIPPED, f"over tune.max_trials={tune.max_trials}; not run")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            more = _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
        except TrainpipeError as exc:
            trial.set_user_attr("error", str(exc))
            more = _tell(study, trial, state=optuna.trial.TrialState.FAIL)
        else:
            more = _tell(study, trial, value)
        result.trials.append(trial.number)
        if not more:
            break
    return result


def summarize(config: RunConfig, *, storage: str, study_name: str) -> TuneSummary:
    """Fan-in: the best parameters and the trial table of the shared study."""
    tune = config.tune
    if tune.max_trials == 0:
        return TuneSummary(best_params={}, best_value=None, n_complete=0, n_pruned=0, n_failed=0)
    study = load_study(tune, seed=config.seed, study_name=study_name, storage=storage)
    trials = [t for t in study.get_trials(deepcopy=False) if SKIPPED not in t.user_attrs]
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        errors = {t.user_attrs.get("error", "") for t in trials} - {""}
        raise TuningError(
            f"study {study_name!r}: none of {len(trials)} trials completed"
            + (f" ({'; '.join(sorted(errors))[:300]})" if errors else "")
            + ": widen tune.search_space or raise tune.epochs"
        )
    sign = 1.0 if tune.direction == "minimize" else -1.0
    best = min(complete, key=lambda t: sign * float(t.value or 0.0))
    table = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "epochs": len(t.intermediate_values),
            "error": t.user_attrs.get("error", ""),
        }
        for t in trials
    ]
    return TuneSummary(
        best_params=dict(best.params),
        best_value=best.value,
        n_complete=len(complete),
        n_pruned=states.count(optuna.trial.TrialState.PRUNED),
        n_failed=states.count(optuna.trial.TrialState.FAIL),
        trials=table,
    )


def best_params_json(summary: TuneSummary) -> str:
    """The best parameters as the JSON object the train step applies."""
    return json.dumps(summary.best_params, sort_keys=True)


def study_location(config: RunConfig, run_id: str) -> tuple[str, str]:
    """The study storage URL and study name every worker of one run shares."""
    if config.tune.max_trials and not config.tune.storage:
        raise TuningError(
            "tune.storage is empty: set it to a database URL or grpc://host:port that every "
            "tuning worker can reach (trainpipe run sets a journal file on a laptop)"
        )
    name = config.tune.study_name or f"{config.name}-{run_id or 'study'}"
    return config.tune.storage, name

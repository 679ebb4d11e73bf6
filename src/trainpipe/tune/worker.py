"""Katib-style tuning: workers share one study, each runs trials until the study has enough.

A trial trains with the same :func:`trainpipe.train.fit` the training job runs (in-process), or
as a training job of its own (``tune.trial_backend: job``), for ``tune.epochs`` epochs, reporting
its metric after every epoch so the pruner can stop it early. With ``tune.cv`` a trial is scored
by cross-validation on the training split.

The study is the only coordination between workers:

- the budget (``tune.max_trials``) counts trials in creation order, so a worker that loses the
  race for the last slot gives it back unrun;
- a trial that crashes or goes non-finite is recorded as failed with its reason, and the study
  stops once ``tune.max_failed_trials`` trials failed;
- a running trial whose heartbeat is older than ``tune.stale_trial_seconds`` belongs to a dead
  worker: it is marked stale and its parameters are enqueued again, so re-running a killed
  worker resumes the study without repeating finished trials.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from trainpipe.config import ParamSpec, RunConfig
from trainpipe.console import print_line
from trainpipe.errors import TrainpipeError, TuningError
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.crossval import cross_validation_folds
from trainpipe.tune.study import load_study, setup_study, suggest, trial_budget

SKIPPED = "skipped"
"""User attribute of a trial slot a worker took past the budget and never ran."""
HEARTBEAT = "heartbeat"
EPOCHS = "epochs"
STALE_PREFIX = "stale-trial-"
"""Study user attribute ``stale-trial-<number>``: that trial's worker died; it was retried."""

Log = Callable[[str], None]


@dataclass(kw_only=True)
class WorkerResult:
    """Trials this worker ran."""

    worker: int
    trials: list[int] = field(default_factory=list)
    stop_reason: str = ""


@dataclass(kw_only=True)
class TuneSummary:
    """The study's outcome: best parameters, counts, the trial table."""

    objectives: list[dict[str, str]]
    best_params: dict[str, Any]
    best_value: float | None
    best_values: list[float] | None = None
    pareto_front: list[int] = field(default_factory=list)
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    total_epochs: int = 0
    importances: dict[str, float] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (and the tuning report)."""
        return {
            "objectives": self.objectives,
            "best_params": self.best_params,
            "best_value": self.best_value,
            "best_values": self.best_values,
            "pareto_front": self.pareto_front,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "total_epochs": self.total_epochs,
            "importances": self.importances,
            "trials": self.trials,
        }


def ordered_space(space: dict[str, ParamSpec]) -> list[tuple[str, ParamSpec]]:
    """Parameters with their conditions' parents first, so a condition can be evaluated."""
    return sorted(space.items(), key=lambda item: (bool(item[1].when), item[0]))


def suggest_params(trial: optuna.Trial, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Values for every active parameter; a conditional one only when its condition holds."""
    params: dict[str, Any] = {}
    for name, spec in ordered_space(space):
        if all(params.get(parent) in values for parent, values in spec.when.items()):
            params[name] = suggest(trial, name, spec)
    return params


def _metric(row: dict[str, float], name: str) -> float:
    if name not in row:
        raise TuningError(f"tune metric {name!r} is not reported; choose one of {sorted(row)}")
    value = row[name]
    if not math.isfinite(value):
        raise TuningError(f"{name} is {value}: the trial diverged")
    return value


class Objective:
    """Trains one trial and returns its objective value(s)."""

    def __init__(self, config: RunConfig, train_data: str, validation_data: str) -> None:
        self.config = config
        self.train_data = train_data
        self.validation_data = validation_data
        self.objectives = config.tune.objective_list

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        tune = self.config.tune
        params = suggest_params(trial, tune.search_space)
        trial_config = self.config.with_overrides(
            {**params, "train.epochs": tune.epochs, "train.backend": "inprocess"},
            origin=f"trial {trial.number}",
        )
        trial.set_user_attr(HEARTBEAT, time.time())
        if tune.cv.kind != "none":
            return self._cross_validate(trial, trial_config)
        row = self._train(trial, trial_config, self.train_data, self.validation_data, report=True)
        values = [_metric(row, objective.metric) for objective in self.objectives]
        return values[0] if len(values) == 1 else values

    def _train(
        self, trial: optuna.Trial, config: RunConfig, train: str, validation: str, *, report: bool
    ) -> dict[str, float]:
        single = len(self.objectives) == 1
        metric = self.objectives[0].metric
        epochs = int(trial.user_attrs.get(EPOCHS, 0))

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            nonlocal epochs
            epochs += 1
            trial.set_user_attr(EPOCHS, epochs)
            trial.set_user_attr(HEARTBEAT, time.time())
            if report and single:
                value = _metric(row, metric)
                trial.report(value, step=epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}: {metric}={value}")

        if self.config.tune.trial_backend == "job":
            return self._train_as_job(trial, config, train, validation, on_epoch)
        spec = TrainSpec(config=config, train_data=train, validation_data=validation, output="")
        result = fit(spec, DistContext(), on_epoch=on_epoch, checkpoint=False, log=lambda s: None)
        return result.final

    def _train_as_job(
        self,
        trial: optuna.Trial,
        config: RunConfig,
        train: str,
        validation: str,
        on_epoch: Callable[[int, dict[str, float]], None],
    ) -> dict[str, float]:
        from trainpipe.launch.train_job import train_model

        job_config = config.with_overrides({"train.backend": "local"}, origin="trial job")
        with tempfile.TemporaryDirectory(prefix=f"trainpipe-trial-{trial.number}-") as tmp:
            result = train_model(
                job_config,
                train_data=train,
                validation_data=validation,
                output=str(Path(tmp) / "model"),
                run_id=f"{config.name}-trial-{trial.number}",
                log=lambda line: None,
            )
        for epoch, row in enumerate(result.history):
            on_epoch(epoch, row)
        return result.final

    def _cross_validate(self, trial: optuna.Trial, config: RunConfig) -> float:
        """Mean of the metric over folds of the training split; pruned between folds."""
        metric = self.objectives[0].metric
        scores: list[float] = []
        with tempfile.TemporaryDirectory(prefix=f"trainpipe-cv-{trial.number}-") as tmp:
            for fold, (train, validation) in enumerate(
                cross_validation_folds(config, self.train_data, Path(tmp))
            ):
                row = self._train(trial, config, train, validation, report=False)
                scores.append(_metric(row, metric))
                mean = sum(scores) / len(scores)
                trial.set_user_attr("fold_scores", scores)
                trial.report(mean, step=fold)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {fold + 1}: mean {metric}={mean}")
        return sum(scores) / len(scores)


def _stale_numbers(study: optuna.Study) -> set[int]:
    return {
        int(key[len(STALE_PREFIX) :]) for key in study.user_attrs if key.startswith(STALE_PREFIX)
    }


def _eligible(trials: list[FrozenTrial], stale: set[int]) -> list[FrozenTrial]:
    """Trials that count: not a slot given back, not a dead worker's trial (it was retried)."""
    return [t for t in trials if SKIPPED not in t.user_attrs and t.number not in stale]


def recover_stale_trials(study: optuna.Study, *, stale_seconds: float, log: Log) -> list[int]:
    """Mark running trials without a recent heartbeat stale and enqueue their parameters again."""
    now = time.time()
    recovered = []
    stale = _stale_numbers(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.number in stale:
            continue
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        beat = float(trial.user_attrs.get(HEARTBEAT, started))
        if now - beat < stale_seconds:
            continue
        study.set_user_attr(f"{STALE_PREFIX}{trial.number}", f"no heartbeat for {now - beat:.0f}s")
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):
            continue  # its worker was alive after all and finished it just now
        recovered.append(trial.number)
        if trial.params:  # killed before it drew its parameters: a fresh trial replaces it
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        log(f"[trainpipe] trial {trial.number} lost its worker; its parameters are retried")
    return recovered


def run_worker(
    config: RunConfig,
    *,
    train_data: str,
    validation_data: str,
    storage: str,
    study_name: str,
    worker: int = 0,
    log: Log = print_line,
) -> WorkerResult:
    """Run trials on the shared study until the budget is used or too many trials failed."""
    tune = config.tune
    result = WorkerResult(worker=worker)
    if tune.max_trials == 0:
        result.stop_reason = "tuning disabled (tune.max_trials=0)"
        return result
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = setup_study(tune, seed=config.seed + worker, study_name=study_name, storage=storage)
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        # A resumed worker continues on a fresh stream: with the seed it started with, it would
        # draw the very points the study has already evaluated.
        seed = config.seed + worker + 7919 * existing
        study = load_study(tune, seed=seed, study_name=study_name, storage=storage)
    recover_stale_trials(study, stale_seconds=tune.stale_trial_seconds, log=log)
    objective = Objective(config, train_data, validation_data)
    budget = trial_budget(tune)
    while True:
        stale = _stale_numbers(study)
        trials = _eligible(study.get_trials(deepcopy=False), stale)
        failed = sum(t.state == TrialState.FAIL for t in trials)
        if failed >= tune.max_failed_trials > 0 or (tune.max_failed_trials == 0 and failed):
            result.stop_reason = f"{failed} trial(s) failed (tune.max_failed_trials)"
            break
        if sum(t.state != TrialState.WAITING for t in trials) >= budget:
            result.stop_reason = f"budget of {budget} trial(s) used"
            break
        trial = study.ask()
        # Trial numbers come from the shared storage in creation order: a worker that lost the
        # race for the last slot sees its position past the budget and gives the slot back.
        ahead = _eligible(study.get_trials(deepcopy=False), stale)
        if sum(t.number <= trial.number for t in ahead) > budget:
            trial.set_user_attr(SKIPPED, f"over the budget of {budget}; not run")
            study.tell(trial, state=TrialState.FAIL)
            result.stop_reason = f"budget of {budget} trial(s) used"
            break
        result.trials.append(trial.number)
        _run_trial(study, trial, objective, log)
    return result


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective: Objective, log: Log) -> None:
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
    except Exception as exc:  # a crashing trial is recorded as failed; the study goes on
        reason = str(exc) if isinstance(exc, TrainpipeError) else f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("error", reason)
        if not isinstance(exc, TrainpipeError):
            trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
        study.tell(trial, state=TrialState.FAIL)
        log(f"[trainpipe] trial {trial.number} failed: {reason}")
    else:
        study.tell(trial, value)


def summarize(config: RunConfig, *, storage: str, study_name: str) -> TuneSummary:
    """Fan-in: the best parameters, the Pareto front, importances and the trial table."""
    tune = config.tune
    objectives = [{"metric": o.metric, "goal": o.goal} for o in tune.objective_list]
    if tune.max_trials == 0:
        return TuneSummary(objectives=objectives, best_params={}, best_value=None)
    study = load_study(tune, seed=config.seed, study_name=study_name, storage=storage)
    stale = _stale_numbers(study)
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if SKIPPED not in t.user_attrs and t.state != TrialState.WAITING
    ]
    counted = [t for t in trials if t.number not in stale]
    complete = [t for t in counted if t.state == TrialState.COMPLETE]
    if not complete:
        errors = sorted({str(t.user_attrs.get("error", "")) for t in counted} - {""})
        raise TuningError(
            f"study {study_name!r}: none of {len(counted)} trials completed"
            + (f" ({'; '.join(errors)[:300]})" if errors else "")
            + ": widen tune.search_space, lower its learning rates, or raise tune.epochs"
        )
    multi = len(tune.objective_list) > 1
    if multi:
        front = sorted(study.best_trials, key=lambda t: t.number)
        sign = 1.0 if tune.objective_list[0].goal == "minimize" else -1.0
        best = min(front, key=lambda t: sign * float(t.values[0]))
    else:
        front = []
        sign = 1.0 if tune.objective_list[0].goal == "minimize" else -1.0
        best = min(complete, key=lambda t: sign * float(t.value or 0.0))
    return TuneSummary(
        objectives=objectives,
        best_params=dict(best.params),
        best_value=float(best.values[0]),
        best_values=[float(v) for v in best.values] if multi else None,
        pareto_front=[t.number for t in front],
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in counted),
        n_failed=sum(t.state == TrialState.FAIL for t in counted),
        total_epochs=sum(int(t.user_attrs.get(EPOCHS, 0)) for t in trials),
        importances=_importances(study, multi),
        trials=[_trial_row(t, t.number in stale) for t in trials],
    )


def _trial_row(trial: FrozenTrial, stale: bool) -> dict[str, Any]:
    error = str(trial.user_attrs.get("error", ""))
    if stale:
        error = "its worker died; the parameters were retried"
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": [float(v) for v in trial.values] if trial.values else None,
        "params": trial.params,
        "epochs": int(trial.user_attrs.get(EPOCHS, 0)),
        "error": error,
        "intermediate": {str(k): v for k, v in trial.intermediate_values.items()},
    }


def _importances(study: optuna.Study, multi: bool) -> dict[str, float]:
    """fANOVA importances of the parameters; empty when there are too few completed trials."""
    try:
        target = (lambda t: t.values[0]) if multi else None
        return {
            name: float(value)
            for name, value in optuna.importance.get_param_importances(study, target=target).items()
        }
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


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

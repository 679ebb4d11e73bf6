"""Katib-style tuning: workers share one study, each runs trials until the study has enough.

A trial trains with the same :func:`trainpipe.train.fit` the training job runs (in-process), or
as a training job of its own (``tune.trial_backend: job``), for ``tune.epochs`` epochs, reporting
its metric after every epoch so the pruner can stop it early: a job trial's epochs are followed
in its log while it runs (:mod:`trainpipe.tune.trial_job`), and a pruned trial's job is stopped.
With ``tune.cv`` a trial is scored by cross-validation on the training split.

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

import math
import os
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
from trainpipe.errors import JobStopped, TrainpipeError, TuningError
from trainpipe.tracking.trials import TrialTracker
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec
from trainpipe.train.user_code import check_user_code, uses_user_code
from trainpipe.tune.heartbeat import WorkerStopped, give_back, heartbeat, sigterm_stops_the_worker
from trainpipe.tune.study import (
    EPOCHS,
    HEARTBEAT,
    SKIPPED,
    load_study,
    setup_study,
    stale_numbers,
    suggest,
    trial_budget,
)
from trainpipe.tune.trial_job import JOB_EPOCHS, EpochFollower

Log = Callable[[str], None]


@dataclass(kw_only=True)
class WorkerResult:
    """Trials this worker ran."""

    worker: int
    trials: list[int] = field(default_factory=list)
    stop_reason: str = ""


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


def trial_threads(config: RunConfig) -> int:
    """Torch threads of a trial process: ``train.num_threads``, or else the machine's cores shared
    among the parallel tuning workers (and, for job trials, each job's ranks).

    Left to the single-process default, each of two workers on two cores would run two threads,
    and the oversubscribed threads made a small trial four times slower.
    """
    if config.train.num_threads:
        return config.train.num_threads
    tune = config.tune
    ranks = config.train.nproc_per_node if tune.trial_backend == "job" else 1
    return max(1, (os.cpu_count() or 1) // (tune.parallel_trials * ranks))


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
            {
                **params,
                "train.epochs": tune.epochs,
                "train.backend": "inprocess",
                "train.num_threads": trial_threads(self.config),
            },
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
        result = fit(
            spec,
            DistContext(),
            on_epoch=on_epoch,
            checkpoint=False,
            sanity_checks=False,
            log=lambda s: None,
        )
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
        follower = EpochFollower(on_epoch)
        with tempfile.TemporaryDirectory(prefix=f"trainpipe-trial-{trial.number}-") as tmp:
            try:
                result = train_model(
                    job_config,
                    train_data=train,
                    validation_data=validation,
                    output=str(Path(tmp) / "model"),
                    run_id=f"{config.name}-trial-{trial.number}",
                    log=follower.line,
                    stop=follower.stop,
                )
            except JobStopped:
                follower.raise_verdict()  # pruned: the job was stopped for it
                raise
            finally:
                trial.set_user_attr(JOB_EPOCHS, follower.logged)
        follower.raise_verdict()
        # Epochs whose lines the job did not log (a user's loop may print none) count now.
        for epoch, row in enumerate(result.history):
            if epoch >= follower.reported:
                on_epoch(epoch, row)
        return result.final

    def _cross_validate(self, trial: optuna.Trial, config: RunConfig) -> float:
        """Mean of the metric over folds of the training split; pruned between folds."""
        # scikit-learn's splitters take 1.5 s to import; a run without cross-validation skips it
        from trainpipe.tune.crossval import cross_validation_folds

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


def _eligible(trials: list[FrozenTrial], stale: set[int]) -> list[FrozenTrial]:
    """Trials that count: not a slot given back, not a dead worker's trial (it was retried)."""
    return [t for t in trials if SKIPPED not in t.user_attrs and t.number not in stale]


def recover_stale_trials(study: optuna.Study, *, stale_seconds: float, log: Log) -> list[int]:
    """Mark running trials without a recent heartbeat stale and enqueue their parameters again."""
    now = time.time()
    recovered = []
    stale = stale_numbers(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.number in stale:
            continue
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        beat = float(trial.user_attrs.get(HEARTBEAT, started))
        if now - beat < stale_seconds:
            continue
        if not give_back(study, trial.number, trial.params, f"no heartbeat for {now - beat:.0f}s"):
            continue  # its worker was alive after all and finished it just now
        recovered.append(trial.number)
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
    tracking: TrialTracker | None = None,
) -> WorkerResult:
    """Run trials on the shared study until the budget is used or too many trials failed.

    ``tracking``: logs each trial as a nested MLflow run (``tracking.mlflow``); None: not.
    """
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
    spec = TrainSpec(
        config=config, train_data=train_data, validation_data=validation_data, output=""
    )
    if uses_user_code(spec):
        # A broken factory or loss fails here, named, rather than as every trial's failure.
        metrics = [objective.metric for objective in tune.objective_list]
        log(f"[trainpipe] user code ok: {check_user_code(spec, metrics=metrics)}")
    objective = Objective(config, train_data, validation_data)
    budget = trial_budget(tune)
    while True:
        stale = stale_numbers(study)
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
        with (tracking or TrialTracker.off()).trial(study, trial):
            _run_trial(study, trial, objective, log, stale_seconds=tune.stale_trial_seconds)
    return result


def _run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Objective,
    log: Log,
    *,
    stale_seconds: float,
) -> None:
    try:
        with heartbeat(trial, stale_seconds=stale_seconds), sigterm_stops_the_worker():
            value = objective(trial)
    except (KeyboardInterrupt, WorkerStopped) as exc:
        signal_name = "SIGTERM" if isinstance(exc, WorkerStopped) else "SIGINT"
        give_back(study, trial.number, trial.params, f"its worker was stopped by {signal_name}")
        log(f"[trainpipe] trial {trial.number} given back: the worker stopped ({signal_name})")
        raise
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

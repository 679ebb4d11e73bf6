"""Each tuning trial as an MLflow run nested under the pipeline's run.

A tuning worker wraps each trial in :meth:`TrialTracker.trial`: the nested run starts with the
trial (tags ``mlflow.parentRunId``, ``trainpipe.trial``, ``trainpipe.worker``,
``optuna.study``), and when the trial ends it receives what the study recorded: the trial's
parameters as params, the values reported after each epoch (or cross-validation fold) as the
metric's history at step = epoch (from 1), the objective value(s), and the final state
(``trainpipe.trial.state``: COMPLETE, PRUNED, FAIL; a trial given back by a stopped worker
stays WAITING). The run's status follows: FINISHED, KILLED (pruned or given back) or FAILED.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from trainpipe.config import RunConfig
from trainpipe.tracking.mlflow_run import Tracking, now_ms

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["TrialTracker"]

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
"""The MLflow status of a trial's run by the trial's final state (others: KILLED)."""


class TrialTracker:
    """Logs one tuning worker's trials as nested runs of ``tracking``'s run."""

    def __init__(self, tracking: Tracking, *, metrics: list[str], worker: int = 0) -> None:
        self.tracking = tracking
        self.metrics = metrics
        """The objectives' metric names, in order (the first one is reported per epoch)."""
        self.worker = worker

    @classmethod
    def for_config(cls, config: RunConfig, tracking: Tracking, *, worker: int = 0) -> TrialTracker:
        """The tracker of a worker of ``config``'s study."""
        metrics = [objective.metric for objective in config.tune.objective_list]
        return cls(tracking, metrics=metrics, worker=worker)

    @classmethod
    def off(cls) -> TrialTracker:
        """A tracker that logs nothing."""
        return cls(Tracking.off(), metrics=[])

    @contextlib.contextmanager
    def trial(self, study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
        """Track the trial run inside the block (which tells the study how it ended)."""
        if not self.tracking.enabled:
            yield
            return
        run = self.tracking.start_child(
            name=f"trial-{trial.number}",
            tags={
                "trainpipe.trial": trial.number,
                "trainpipe.worker": self.worker,
                "optuna.study": study.study_name,
            },
        )
        stopped = True
        try:
            yield
            stopped = False
        finally:
            if run:
                frozen = self.tracking.guard(
                    f"read trial {trial.number}", lambda: _frozen(study, trial.number)
                )
                self._log(run, frozen, stopped=stopped)

    def _log(self, run: str, frozen: FrozenTrial | None, *, stopped: bool) -> None:
        tracking = self.tracking
        if frozen is None:
            tracking.finish("KILLED" if stopped else "FAILED", run=run)
            return
        tracking.log_params(frozen.params, run=run)
        reported = self.metrics[0] if len(self.metrics) == 1 else "intermediate_value"
        history = sorted(frozen.intermediate_values.items())
        rows = [(reported, value, step + 1) for step, value in history]
        epochs = int(frozen.user_attrs.get("epochs", len(history)) or 0)  # tune.study.EPOCHS
        for name, value in zip(self.metrics, frozen.values or [], strict=False):
            if not (history and name == reported):  # else its last report is the value
                rows.append((name, value, epochs))
        tracking.log_history(rows, run=run)
        state = frozen.state.name
        tags: dict[str, Any] = {"trainpipe.trial.state": state, "trainpipe.trial.epochs": epochs}
        error = frozen.user_attrs.get("error")
        if error:
            tags["trainpipe.trial.error"] = str(error)
        tracking.set_tags(tags, run=run)
        ended = frozen.datetime_complete
        tracking.finish(
            _STATUS.get(state, "KILLED"),
            run=run,
            end_time=int(ended.timestamp() * 1000) if ended else now_ms(),
        )


def _frozen(study: optuna.Study, number: int) -> FrozenTrial:
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise LookupError(f"trial {number} is not in study {study.study_name}")

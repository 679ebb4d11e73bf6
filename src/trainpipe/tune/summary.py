"""The fan-in of a tuning study: the best parameters, the Pareto front, importances and the
trial table (what tune-select writes and the train step applies).

It reads the shared study only, so it needs Optuna but not torch or the training loop.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from trainpipe.config import RunConfig
from trainpipe.errors import TuningError
from trainpipe.tune.study import EPOCHS, SKIPPED, STALE_PREFIX, load_study, stale_numbers

__all__ = ["TuneSummary", "best_params_json", "summarize"]


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
    n_retried: int = 0
    """Trials whose worker died or was stopped: recorded FAIL in the study, their parameters
    tried again by a later trial (not counted in ``n_failed``)."""
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
            "n_retried": self.n_retried,
            "total_epochs": self.total_epochs,
            "importances": self.importances,
            "trials": self.trials,
        }


def summarize(config: RunConfig, *, storage: str, study_name: str) -> TuneSummary:
    """Fan-in: the best parameters, the Pareto front, importances and the trial table."""
    tune = config.tune
    objectives = [{"metric": o.metric, "goal": o.goal} for o in tune.objective_list]
    if tune.max_trials == 0:
        return TuneSummary(objectives=objectives, best_params={}, best_value=None)
    study = load_study(tune, seed=config.seed, study_name=study_name, storage=storage)
    stale = stale_numbers(study)
    stale_reasons = {n: str(study.user_attrs[f"{STALE_PREFIX}{n}"]) for n in stale}
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
        n_retried=len(trials) - len(counted),
        total_epochs=sum(int(t.user_attrs.get(EPOCHS, 0)) for t in trials),
        importances=_importances(study, multi, sign),
        trials=[_trial_row(t, stale_reasons.get(t.number)) for t in trials],
    )


def _trial_row(trial: FrozenTrial, stale: str | None) -> dict[str, Any]:
    error = str(trial.user_attrs.get("error", ""))
    if stale is not None:
        error = f"its worker died or stopped ({stale}); the parameters were retried"
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": [float(v) for v in trial.values] if trial.values else None,
        "params": trial.params,
        "epochs": int(trial.user_attrs.get(EPOCHS, 0)),
        "error": error,
        "intermediate": {str(k): v for k, v in trial.intermediate_values.items()},
    }


def _importances(study: optuna.Study, multi: bool, sign: float) -> dict[str, float]:
    """Optuna's importances of the parameters (for the first objective of several); empty when
    there are too few completed trials to tell the parameters apart.

    With several objectives the importances are asked for the first one through a ``target``,
    which Optuna's default evaluator reads as lower is better, warning that it does: ``sign``
    (-1 for an objective to maximize) makes that so, and the warning is expected. When the
    evaluator warns that every importance will be equal (too few trials), there are none to
    show, which the report says; neither warning reaches the console.
    """
    target = (lambda t: sign * t.values[0]) if multi else None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r".* computes the importances of params to achieve low `target` values",
                category=UserWarning,
            )
            warnings.filterwarnings(
                "error", message=r".*Parameter importances will be equal", category=UserWarning
            )
            found = optuna.importance.get_param_importances(study, target=target)
        return {name: float(value) for name, value in found.items()}
    except (ValueError, RuntimeError, ZeroDivisionError, UserWarning):
        return {}


def best_params_json(summary: TuneSummary) -> str:
    """The best parameters as the JSON object the train step applies."""
    return json.dumps(summary.best_params, sort_keys=True)

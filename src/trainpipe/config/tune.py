"""The ``tune`` section: a hyperparameter search shared by parallel workers, and its space."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trainpipe.config.problems import Problems

__all__ = [
    "MULTI_OBJECTIVE_SAMPLERS",
    "TUNABLE_METRICS",
    "CrossValidation",
    "Direction",
    "Objective",
    "ParamSpec",
    "ParamType",
    "Pruner",
    "Sampler",
    "TuneConfig",
    "default_search_space",
]

Sampler = Literal["tpe", "random", "grid", "gp", "cmaes", "nsga2"]
Pruner = Literal["none", "median", "hyperband", "asha"]
Direction = Literal["maximize", "minimize"]
ParamType = Literal["float", "int", "categorical"]
TUNABLE_METRICS = {
    "classification": ("val_loss", "val_accuracy", "train_loss", "train_accuracy"),
    "regression": ("val_loss", "train_loss"),
}
"""What a trial can be scored by, per task: the per-epoch metrics the training loop reports."""
MULTI_OBJECTIVE_SAMPLERS = ("nsga2", "tpe", "random", "grid", "gp")
"""The samplers that can search several objectives (a Pareto front)."""


@dataclass(kw_only=True)
class ParamSpec:
    """One dimension of the search space."""

    type: ParamType
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)
    when: dict[str, list[Any]] = field(default_factory=dict)
    """Conditional parameter: searched only when each named categorical parameter takes one of
    the listed values (``when: {model.kind: [cnn]}``)."""

    def check(
        self,
        name: str,
        problems: Problems,
        *,
        space: Mapping[str, ParamSpec],
        tunable: Mapping[str, object],
    ) -> None:
        """The parameter names a tunable setting; its range or choices and condition are sound."""
        key = f"tune.search_space.{name}"
        if problems.involves_bad(key):
            return
        section, _, attr = name.partition(".")
        user_param = section == "model" and attr.startswith("params.") and len(attr) > 7
        if section not in tunable or not (hasattr(tunable[section], attr) or user_param):
            problems.add(
                key,
                f"{key}: {name!r} is not a tunable setting; name one as train.KEY, model.KEY "
                "or model.params.NAME (for example train.learning_rate)",
            )
        for parent, values in self.when.items():
            parent_spec = space.get(parent)
            if parent_spec is None or parent_spec.type != "categorical" or parent == name:
                problems.add(
                    f"{key}.when",
                    f"{key}.when: {parent!r} must be another categorical parameter of "
                    "tune.search_space",
                )
                continue
            unknown = [v for v in values if v not in parent_spec.choices]
            if not values or unknown:
                problems.add(
                    f"{key}.when.{parent}",
                    f"{key}.when.{parent}: values {unknown or values!r} are not among its "
                    f"choices {parent_spec.choices!r}",
                )
        if self.type == "categorical":
            if not self.choices:
                problems.add(key, f"{key}: a categorical parameter needs non-empty choices")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            problems.add(key, f"{key}: needs low < high, got low={self.low!r}, high={self.high!r}")
            return
        if self.log and self.low <= 0:
            problems.add(key, f"{key}: log scale needs low > 0, got low={self.low!r}")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            problems.add(key, f"{key}: int bounds must be whole numbers")


def default_search_space() -> dict[str, ParamSpec]:
    """What a study searches when the config names no space: the learning rate (log scale)
    and dropout, which every built-in model has. Without a space every trial would train the
    same config."""
    return {
        "train.learning_rate": ParamSpec(type="float", low=1e-4, high=1e-2, log=True),
        "model.dropout": ParamSpec(type="float", low=0.0, high=0.3),
    }


@dataclass(kw_only=True)
class Objective:
    """A metric the search optimizes (Katib's objectiveMetricName and goal)."""

    metric: str
    goal: Direction = "minimize"


@dataclass(kw_only=True)
class CrossValidation:
    """Score each trial by cross-validation on the training split, not the validation split."""

    kind: Literal["none", "kfold", "stratified", "loo"] = "none"
    folds: int = 5


@dataclass(kw_only=True)
class TuneConfig:
    """Hyperparameter search: an Optuna study shared by parallel workers."""

    max_trials: int = 8
    """Total trials across every worker; 0 skips tuning."""
    parallel_trials: int = 2
    """Workers that run trials at once: the pipeline fans out this many tuning steps."""
    max_failed_trials: int = 3
    """The study stops once this many trials failed (crashed or went non-finite)."""
    sampler: Sampler = "tpe"
    pruner: Pruner = "asha"
    """Stops a trial whose epochs report badly: ``asha`` (asynchronous successive halving: at
    each rung only the best 1/``reduction_factor`` of the trials that reached it go on; no
    worker waits for the others), ``median`` (below the median of completed trials at the same
    epoch), ``hyperband`` (several successive-halving brackets), ``none``. ``asha`` is the
    default because it needed the fewest epochs to reach the target in
    ``benchmarks/tune_pruning.py``, with one worker and with two."""
    pruner_min_epochs: int = 1
    """ASHA's and Hyperband's first rung (Optuna's ``min_resource``), counted in the pruner's
    0-based epoch steps: a trial is first compared after ``pruner_min_epochs + 1`` epochs, then
    each time it has trained ``reduction_factor`` times as long (with 1 and 3: after epochs 2,
    4 and 10)."""
    reduction_factor: int = 3
    """ASHA and Hyperband keep the best 1/``reduction_factor`` of the trials at each rung."""
    metric: str = "val_loss"
    direction: Direction = "minimize"
    objectives: list[Objective] = field(default_factory=list)
    """Several objectives make a multi-objective search (Pareto front); empty: metric/direction."""
    epochs: int = 5
    """Training budget of each trial, in epochs."""
    storage: str = ""
    """Optuna storage: ``journal:///path``, a database URL, or ``grpc://host:port``."""
    study_name: str = ""
    search_space: dict[str, ParamSpec] = field(default_factory=default_search_space)
    """Dotted config keys (``train.learning_rate``) to the range they are searched over; unset,
    :func:`default_search_space`."""
    cv: CrossValidation = field(default_factory=CrossValidation)
    trial_backend: Literal["inprocess", "job"] = "inprocess"
    """``inprocess``: trials train in the worker; ``job``: each trial is a training job."""
    stale_trial_seconds: int = 600
    """A running trial without a heartbeat for this long belongs to a dead worker."""
    warm_start: Literal["none", "champion"] = "none"
    """``champion``: the study's first trial tries the parameters the registry's champion
    (``registry.model_name@evaluate.champion.alias``) was trained with, so a recurring run
    never does worse for lack of trying them. Without a champion the study starts as usual."""

    @property
    def objective_list(self) -> list[Objective]:
        """The objectives, with the single ``metric``/``direction`` as the default."""
        return self.objectives or [Objective(metric=self.metric, goal=self.direction)]

    @property
    def uses_default_space(self) -> bool:
        """The config names no search space, so the study searches the default one."""
        return self.search_space == default_search_space()

    def space_notice(self) -> str:
        """One line naming what the study searches, and where the space came from."""
        ranges = []
        for name, spec in self.search_space.items():
            if spec.type == "categorical":
                ranges.append(f"{name} in {spec.choices}")
            else:
                ranges.append(f"{name} in [{spec.low:g}, {spec.high:g}]{' (log)' * spec.log}")
        source = (
            "the default space (set tune.search_space to choose)"
            if self.uses_default_space
            else "tune.search_space"
        )
        return f"tune: {self.max_trials} trials search {', '.join(ranges)}: {source}"

    @property
    def worker_ids(self) -> list[int]:
        """One id per parallel tuning worker: ``[0, ..., parallel_trials - 1]``."""
        return list(range(self.parallel_trials))

    def check(self, problems: Problems, *, task: str, tunable: Mapping[str, object]) -> None:
        """Budgets, objectives the task reports, sampler/pruner combinations, the space."""
        need = problems.need
        need(self.max_trials >= 0, "tune.max_trials", ">= 0 (0 skips tuning)", self.max_trials)
        need(self.parallel_trials >= 1, "tune.parallel_trials", ">= 1", self.parallel_trials)
        need(self.epochs >= 1, "tune.epochs", ">= 1", self.epochs)
        need(self.max_failed_trials >= 0, "tune.max_failed_trials", ">= 0", self.max_failed_trials)
        need(
            self.stale_trial_seconds > 0,
            "tune.stale_trial_seconds",
            "> 0",
            self.stale_trial_seconds,
        )
        need(self.pruner_min_epochs >= 1, "tune.pruner_min_epochs", ">= 1", self.pruner_min_epochs)
        need(self.reduction_factor >= 2, "tune.reduction_factor", ">= 2", self.reduction_factor)
        if self.pruner == "asha" and self.epochs > 1:  # one epoch: nothing to prune anyway
            need(
                self.pruner_min_epochs < self.epochs,
                "tune.pruner_min_epochs",
                f"< tune.epochs ({self.epochs}) for the asha pruner, which first compares a trial "
                "after pruner_min_epochs + 1 epochs",
                self.pruner_min_epochs,
                also=["tune.epochs"],
            )
        if self.pruner == "hyperband":
            need(
                self.pruner_min_epochs <= self.epochs,
                "tune.pruner_min_epochs",
                f"<= tune.epochs ({self.epochs}), Hyperband's largest budget",
                self.pruner_min_epochs,
                also=["tune.epochs"],
            )
        metrics = TUNABLE_METRICS[task]
        for i, objective in enumerate(self.objective_list):
            key = f"tune.objectives[{i}].metric" if self.objectives else "tune.metric"
            need(
                objective.metric in metrics,
                key,
                f"one of {', '.join(metrics)}",
                objective.metric,
                also=["task"],
            )
        if len(self.objective_list) > 1:
            need(
                self.sampler in MULTI_OBJECTIVE_SAMPLERS,
                "tune.sampler",
                f"one of {', '.join(MULTI_OBJECTIVE_SAMPLERS)} for several objectives",
                self.sampler,
            )
            need(
                self.pruner == "none",
                "tune.pruner",
                "none: pruning needs a single objective",
                self.pruner,
            )
            need(
                self.cv.kind == "none", "tune.cv.kind", "none for several objectives", self.cv.kind
            )
        need(
            self.cv.kind in ("none", "loo") or self.cv.folds >= 2,
            "tune.cv.folds",
            ">= 2",
            self.cv.folds,
        )
        if not self.search_space and self.max_trials:
            problems.add(
                "tune.search_space",
                "tune.search_space is empty, so every trial would train the same config: name "
                "at least one parameter, leave it unset for the default space, or set "
                "tune.max_trials: 0 to skip tuning",
            )
        for name, spec in self.search_space.items():
            spec.check(name, problems, space=self.search_space, tunable=tunable)
        if self.sampler != "grid":
            return
        for name, spec in self.search_space.items():
            need(
                not spec.when,
                f"tune.search_space.{name}.when",
                "empty for the grid sampler (a grid has no conditional parameters)",
                spec.when,
            )
            need(
                spec.type == "categorical" or spec.step is not None,
                f"tune.search_space.{name}.step",
                "set for the grid sampler (or use choices)",
                spec.step,
            )

"""Render the tuning declaration of a run config as a Katib ``Experiment`` (kubeflow.org/v1beta1).

The same ``tune`` section that drives the Optuna tuner describes a Katib experiment; this module
translates it, so a cluster with Katib can run the search natively. Each trial is a PyTorchJob
rendered exactly like the cluster training job (:func:`~trainpipe.launch.train_job.cluster_job_spec`
and :func:`~trainpipe.launch.render.render_pytorchjob`); the trial's hyperparameters reach it as
``overrides`` of the training spec in the ``TRAINPIPE_TRAIN_SPEC`` environment variable, where
Katib substitutes ``${trialParameters.NAME}`` and :meth:`TrainSpec.from_json` reads each
substituted string as YAML (``"0.01"`` becomes ``0.01``).

How the declaration maps onto Katib:

* **objective**: Katib optimizes a single metric. The first of ``tune.objective_list`` becomes
  ``objectiveMetricName``/``type``; further objectives are only *recorded*, as
  ``additionalMetricNames``, together with the task's other tunable metrics. Every metric uses
  the ``latest`` strategy, like the Optuna tuner, which scores a trial by its last epoch.
* **algorithm** (``tune.sampler``): ``tpe``, ``random``, ``grid`` and ``cmaes`` keep their names,
  ``gp`` becomes ``bayesianoptimization``; ``random_state`` is the run's seed. ``nsga2`` raises
  :class:`TuningError`: Katib has no NSGA-II (use the Optuna tuner). Katib's ``cmaes`` needs two
  or more int/float parameters, and its ``grid`` refuses a ``maxTrialCount`` above the number of
  grid points, so ``maxTrialCount`` is capped at the grid size.
* **early stopping** (``tune.pruner``): ``median`` becomes ``medianstop`` with the Optuna
  pruner's settings (2 completed trials before pruning, from the 2nd reported epoch); ``none``
  has no early stopping. ``hyperband`` raises :class:`TuningError`: Katib's early stopping only
  knows ``medianstop``, and its ``hyperband`` is a *search algorithm* replacing ``tune.sampler``
  that needs the epoch budget as a searched parameter and a minimum ``parallelTrialCount``,
  which the declaration does not express. ``asha`` raises :class:`TuningError` too: Katib has
  no asynchronous successive halving at all. Katib's early stopping orders intermediate values by
  the RFC 3339 timestamp that starts each log line; lines without one are recorded at the zero
  time and keep the order of the log.
* **parameters**: a dotted config key becomes a DNS-style Katib name (``train.learning_rate`` ->
  ``train-learning-rate``, see :func:`katib_parameter_name`), ``float`` -> ``double``,
  ``log: true`` -> ``distribution: logUniform`` (Katib >= 0.18), ``step`` -> ``step``,
  categorical choices -> ``list`` of strings that read back as the same YAML values.
  Conditional parameters (``when``) raise :class:`TuningError`: Katib has no conditional
  search spaces.
* **trials**: ``parallelTrialCount``, ``maxTrialCount`` and ``maxFailedTrialCount`` come from
  ``tune.parallel_trials``, ``tune.max_trials`` and ``tune.max_failed_trials`` (capped at
  ``maxTrialCount``, as Katib's admission webhook requires). Every trial trains for
  ``tune.epochs`` epochs and writes its model to ``<output_root>/<trial name>``: the trial name
  comes from Katib's ``${trialSpec.Name}`` metadata reference.
* **metrics**: the ``StdOut`` collector parses the ``name=value`` pairs of the training
  entrypoint's epoch lines in the master pod (``training.kubeflow.org/job-role: master``),
  whose container is ``pytorch``. An elastic job has no fixed master pod, and
  cross-validation (``tune.cv``) is not something a single training job reports, so both raise
  :class:`TuningError`.

Nothing here talks to a cluster; the result is a plain dict for ``CustomObjectsApi`` or
:func:`render_experiment_yaml`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from trainpipe.config import TUNABLE_METRICS, ParamSpec, RunConfig, TuneConfig
from trainpipe.errors import ConfigError, TuningError
from trainpipe.launch.render import PYTORCHJOB_CONTAINER, render_pytorchjob, to_yaml
from trainpipe.launch.train_job import cluster_job_spec
from trainpipe.storage.uri import join_uri
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.parameter_text import choice_texts, float_text

__all__ = [
    "ALGORITHMS",
    "FAILURE_CONDITION",
    "MAX_EXPERIMENT_NAME",
    "PRIMARY_POD_LABELS",
    "SUCCESS_CONDITION",
    "TRIAL_NAME_PARAMETER",
    "katib_parameter_name",
    "render_experiment",
    "render_experiment_yaml",
    "trial_job",
    "trial_placeholder",
]

API_VERSION = "kubeflow.org/v1beta1"
#: ``tune.sampler`` -> Katib ``algorithmName``.
ALGORITHMS = {
    "tpe": "tpe",
    "random": "random",
    "grid": "grid",
    "gp": "bayesianoptimization",
    "cmaes": "cmaes",
}
#: GJSON conditions on the PyTorchJob's status (training-operator v1 job conditions).
SUCCESS_CONDITION = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
#: The pod whose ``pytorch`` container prints the epoch lines (node rank 0).
PRIMARY_POD_LABELS = {"training.kubeflow.org/job-role": "master"}
#: The trial parameter that carries the trial's name (Katib metadata substitution).
TRIAL_NAME_PARAMETER = "trialName"
TRIAL_NAME_REFERENCE = "${trialSpec.Name}"
#: Trials are named ``<experiment>-<8 characters>`` and their pods ``<trial>-worker-<n>``;
#: every one of those names must stay a 63-character DNS label.
MAX_EXPERIMENT_NAME = 40
# Mirrors make_pruner(): MedianPruner(n_startup_trials=2, n_warmup_steps=1).
_MEDIANSTOP_SETTINGS = {"min_trials_required": "2", "start_step": "2"}
_EXPERIMENT_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")


def katib_parameter_name(key: str) -> str:
    """The Katib parameter name of a dotted config key: ``train.learning_rate`` ->
    ``train-learning-rate`` (lowercase letters, digits and ``-``)."""
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def trial_placeholder(name: str) -> str:
    """The text Katib replaces with trial parameter ``name``: ``${trialParameters.<name>}``."""
    return "${trialParameters." + name + "}"


def render_experiment(
    config: RunConfig, *, name: str, train_data: str, validation_data: str, output_root: str
) -> dict[str, Any]:
    """A ``kubeflow.org/v1beta1`` Katib Experiment searching ``config.tune`` with PyTorchJobs.

    ``name`` names the experiment (a DNS label of at most :data:`MAX_EXPERIMENT_NAME`
    characters starting with a letter); it lives in ``config.job.namespace``. Trials read
    ``train_data``/``validation_data`` and write their model under ``output_root``, one folder
    per trial. The module docstring lists how each setting maps onto Katib.

    Raises:
        TuningError: the declaration uses something Katib cannot express (NSGA-II, the
            Hyperband or ASHA pruner, conditional parameters, cross-validation, an elastic job,
            CMA-ES over fewer than two numeric parameters, a categorical choice that does not
            survive the round trip through a string), tuning is disabled, the search space is
            empty, or ``name`` is not a valid experiment name.
        StorageError: ``output_root`` is not a valid path or store URI.
    """
    tune = config.tune
    _check_experiment_name(name)
    _check_supported(config)
    keys = sorted(tune.search_space)
    parameters: list[dict[str, Any]] = []
    trial_parameters: list[dict[str, str]] = []
    overrides: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for key in keys:
        param_spec = tune.search_space[key]
        pname = katib_parameter_name(key)
        if pname in owners or pname == TRIAL_NAME_PARAMETER:
            raise TuningError(
                f"tune.search_space.{key}: its Katib parameter name {pname!r} collides with "
                f"tune.search_space.{owners.get(pname, TRIAL_NAME_PARAMETER)}; rename one"
            )
        owners[pname] = key
        parameters.append(_parameter(key, pname, param_spec))
        trial_parameters.append(
            {"name": pname, "description": f"{key} ({param_spec.type})", "reference": pname}
        )
        overrides[key] = trial_placeholder(pname)
    overrides["train.epochs"] = tune.epochs
    trial_parameters.append(
        {
            "name": TRIAL_NAME_PARAMETER,
            "description": "Name of the trial: the folder of its model under the output root",
            "reference": TRIAL_NAME_REFERENCE,
        }
    )
    trial_name = trial_placeholder(TRIAL_NAME_PARAMETER)
    train_spec = TrainSpec(
        config=config,
        train_data=train_data,
        validation_data=validation_data,
        output=join_uri(output_root, trial_name),
        run_id=trial_name,
        overrides=overrides,
    )
    job = cluster_job_spec(train_spec, name=name)
    trial_spec = render_pytorchjob(job)
    # Katib names the job after the trial and puts it in the experiment's namespace; its
    # admission webhook rejects a template that sets either.
    trial_spec["metadata"].pop("name", None)
    trial_spec["metadata"].pop("namespace", None)

    max_trials = _max_trial_count(tune)
    spec: dict[str, Any] = {
        "objective": _objective(config),
        "algorithm": _algorithm(config),
    }
    if tune.pruner == "median" and len(tune.objective_list) == 1:
        spec["earlyStopping"] = {
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": key, "value": value} for key, value in _MEDIANSTOP_SETTINGS.items()
            ],
        }
    spec.update(
        {
            "parallelTrialCount": min(tune.parallel_trials, max_trials),
            "maxTrialCount": max_trials,
            "maxFailedTrialCount": min(tune.max_failed_trials, max_trials),
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "parameters": parameters,
            "trialTemplate": {
                "primaryContainerName": PYTORCHJOB_CONTAINER,
                "primaryPodLabels": dict(PRIMARY_POD_LABELS),
                "successCondition": SUCCESS_CONDITION,
                "failureCondition": FAILURE_CONDITION,
                "trialParameters": trial_parameters,
                "trialSpec": trial_spec,
            },
        }
    )
    metadata: dict[str, Any] = {"name": name, "namespace": config.job.namespace}
    if job.labels:
        metadata["labels"] = dict(sorted(job.labels.items()))
    return {"apiVersion": API_VERSION, "kind": "Experiment", "metadata": metadata, "spec": spec}


def render_experiment_yaml(
    config: RunConfig, *, name: str, train_data: str, validation_data: str, output_root: str
) -> str:
    """:func:`render_experiment` as a YAML document, ready for ``kubectl apply -f``."""
    return to_yaml(
        render_experiment(
            config,
            name=name,
            train_data=train_data,
            validation_data=validation_data,
            output_root=output_root,
        )
    )


def trial_job(
    experiment: Mapping[str, Any], assignments: Mapping[str, str], *, trial_name: str
) -> dict[str, Any]:
    """The job Katib would create for one trial of ``experiment``, for checks and debugging.

    Replaces every ``${trialParameters.NAME}`` in the JSON text of the trial template, as
    Katib does: a parameter referring to an experiment parameter takes
    ``assignments[<reference>]`` (a string, as Katib's suggestions are), one referring to
    ``${trialSpec.Name}`` takes ``trial_name``. The job is named ``trial_name`` in the
    experiment's namespace.

    Raises:
        TuningError: an assignment is missing, a placeholder has no trial parameter, or the
            substituted template is no longer valid JSON.
    """
    template = experiment["spec"]["trialTemplate"]
    text = json.dumps(template["trialSpec"])
    for parameter in template.get("trialParameters", []):
        reference = parameter["reference"]
        if reference == TRIAL_NAME_REFERENCE:
            value = trial_name
        elif reference in assignments:
            value = str(assignments[reference])
        else:
            raise TuningError(f"trial {trial_name}: no value assigned to parameter {reference!r}")
        text = text.replace(trial_placeholder(parameter["name"]), value)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise TuningError(f"trial {trial_name}: trial parameters {left} are not defined")
    try:
        job: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TuningError(
            f"trial {trial_name}: the substituted trial template is not valid JSON: {exc}"
        ) from exc
    job.setdefault("metadata", {})
    job["metadata"]["name"] = trial_name
    job["metadata"]["namespace"] = experiment["metadata"]["namespace"]
    return job


# --- pieces ----------------------------------------------------------------------------------


def _check_experiment_name(name: str) -> None:
    if len(name) > MAX_EXPERIMENT_NAME or not _EXPERIMENT_NAME.match(name):
        raise TuningError(
            f"Katib experiment name {name!r} must start with a lowercase letter, hold only "
            f"lowercase letters, digits and '-', end with a letter or digit, and have at most "
            f"{MAX_EXPERIMENT_NAME} characters (trial and pod names are derived from it)"
        )


def _check_supported(config: RunConfig) -> None:
    tune = config.tune
    if tune.max_trials < 1:
        raise TuningError(
            "tune.max_trials is 0 (tuning disabled): there is no Katib experiment to render; "
            "set tune.max_trials >= 1"
        )
    if tune.sampler == "nsga2":
        raise TuningError(
            "tune.sampler 'nsga2': Katib has no NSGA-II algorithm; use the Optuna tuner for "
            "NSGA-II, or pick tpe, random, grid, gp or cmaes for Katib"
        )
    if tune.pruner == "hyperband":
        raise TuningError(
            "tune.pruner 'hyperband': Katib's only early-stopping algorithm is medianstop (its "
            "hyperband is a search algorithm that replaces tune.sampler and needs the epoch "
            "budget as a searched parameter); set tune.pruner to median or none for Katib, or "
            "use the Optuna tuner"
        )
    if tune.pruner == "asha":
        raise TuningError(
            "tune.pruner 'asha': Katib has no asynchronous successive halving (ASHA), neither as "
            "early stopping, whose only algorithm is medianstop, nor as a search algorithm; set "
            "tune.pruner to median or none for Katib, or use the Optuna tuner"
        )
    for key, spec in sorted(tune.search_space.items()):
        if spec.when:
            parents = ", ".join(sorted(spec.when))
            raise TuningError(
                f"tune.search_space.{key}: conditional parameter (when: {parents}); Katib has no "
                "conditional parameters: drop 'when' or use the Optuna tuner"
            )
    if "train.epochs" in tune.search_space:
        raise TuningError(
            "tune.search_space.train.epochs: every trial trains for tune.epochs epochs; set "
            "tune.epochs instead of searching train.epochs"
        )
    if tune.cv.kind != "none":
        raise TuningError(
            f"tune.cv.kind {tune.cv.kind!r}: a Katib trial is one training job scored on the "
            "validation split; set tune.cv.kind to none, or use the Optuna tuner"
        )
    if config.job.elastic_min_nodes > 0 or config.job.elastic_max_nodes > 0:
        raise TuningError(
            "job.elastic_min_nodes/job.elastic_max_nodes: an elastic PyTorchJob has no fixed "
            "master pod for Katib's metrics collector; set both to 0 for Katib trials"
        )
    if tune.sampler == "cmaes":
        numeric = [k for k, s in tune.search_space.items() if s.type != "categorical"]
        if len(numeric) < 2:
            raise TuningError(
                f"tune.sampler 'cmaes': Katib's CMA-ES needs two or more int/float parameters "
                f"in tune.search_space, got {numeric or 'none'}"
            )


def _objective(config: RunConfig) -> dict[str, Any]:
    objectives = config.tune.objective_list
    primary = objectives[0].metric
    additional: list[str] = []
    for metric in [o.metric for o in objectives[1:]] + list(TUNABLE_METRICS[config.task]):
        if metric != primary and metric not in additional:
            additional.append(metric)
    objective: dict[str, Any] = {"type": objectives[0].goal, "objectiveMetricName": primary}
    if additional:
        objective["additionalMetricNames"] = additional
    objective["metricStrategies"] = [
        {"name": metric, "value": "latest"} for metric in [primary, *additional]
    ]
    return objective


def _algorithm(config: RunConfig) -> dict[str, Any]:
    return {
        "algorithmName": ALGORITHMS[config.tune.sampler],
        "algorithmSettings": [{"name": "random_state", "value": str(config.seed)}],
    }


def _max_trial_count(tune: TuneConfig) -> int:
    if tune.sampler != "grid":
        return tune.max_trials
    size = 1
    for key, spec in tune.search_space.items():
        size *= _grid_size(key, spec)
    return max(1, min(tune.max_trials, size))


def _grid_size(key: str, spec: ParamSpec) -> int:
    """How many values Katib's grid suggestion enumerates for one parameter."""
    if spec.type == "categorical":
        return len(spec.choices)
    low, high, step = _bounds(key, spec)
    if step is None:
        raise ConfigError(f"tune.search_space.{key}.step: the grid sampler needs a step")
    if spec.type == "int":
        return len(range(int(low), int(high) + 1, int(step)))
    # Katib enumerates numpy.arange(low, high + step, step) and drops a last value above high.
    # numpy sizes the range by ceil((stop - start) / step) and fills it with start + i * delta,
    # where delta = (start + step) - start: mirror both roundings.
    count = max(0, math.ceil((high + step - low) / step))
    delta = (low + step) - low
    return count - 1 if count and low + (count - 1) * delta > high else count


def _bounds(key: str, spec: ParamSpec) -> tuple[float, float, float | None]:
    if spec.low is None or spec.high is None:
        raise ConfigError(f"tune.search_space.{key}: needs low and high")
    if spec.step is not None and spec.step <= 0:
        raise ConfigError(f"tune.search_space.{key}.step: must be > 0, got {spec.step!r}")
    return float(spec.low), float(spec.high), None if spec.step is None else float(spec.step)


def _parameter(key: str, pname: str, spec: ParamSpec) -> dict[str, Any]:
    if spec.type == "categorical":
        values = choice_texts(key, spec.choices, carrier="a Katib")
        return {"name": pname, "parameterType": "categorical", "feasibleSpace": {"list": values}}
    low, high, step = _bounds(key, spec)
    space: dict[str, str]
    if spec.type == "int":
        if step is not None and not step.is_integer():
            raise TuningError(f"tune.search_space.{key}.step: an int step must be whole: {step}")
        space = {"min": str(int(low)), "max": str(int(high))}
        if step is not None:
            space["step"] = str(int(step))
        parameter_type = "int"
    else:
        space = {"min": float_text(low), "max": float_text(high)}
        if step is not None:
            space["step"] = float_text(step)
        parameter_type = "double"
    if spec.log:
        space["distribution"] = "logUniform"
    return {"name": pname, "parameterType": parameter_type, "feasibleSpace": space}

"""The ``tune:`` declaration as a Kubeflow Trainer v2.3 ``OptimizationJob``.

Trainer runs ``numTrials`` TrainJobs from the job's ``trainJobTemplate``, ``parallelTrials`` at
a time, and hands each trial its values as environment variables of the trainer container:
``KUBEFLOW_TRAINER_OPT_<NAME>``, the parameter's name upper-cased with ``-`` as ``_``. The
template here is trainpipe's TrainJob (:func:`~trainpipe.launch.render.render_trainjob`) with
the training spec in the container's arguments, its overrides written as
``$(KUBEFLOW_TRAINER_OPT_...)``: Kubernetes expands those from the container's environment, and
the spec reads a string override as YAML, so the entrypoint gets each trial's numbers unchanged.
Each trial writes its model under ``output_root/<its TrainJob's name>``, which the downward API
gives the pods as ``TRAINPIPE_TRIAL_NAME``.

What an OptimizationJob cannot express is refused, naming the setting: samplers other than
random and grid, pruners (it has no early stopping), conditional parameters, stepped ranges,
cross-validation, and categorical choices that do not survive the trip through a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trainpipe.config import ParamSpec, RunConfig
from trainpipe.errors import TuningError
from trainpipe.launch.render import render_trainjob
from trainpipe.launch.spec import job_spec_from_config
from trainpipe.storage.uri import join_uri
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.katib import katib_parameter_name
from trainpipe.tune.parameter_text import choice_texts, float_text

API_VERSION = "trainer.kubeflow.org/v1alpha1"
PARAMETER_ENV_PREFIX = "KUBEFLOW_TRAINER_OPT_"
"""Trainer's prefix of the environment variables that carry a trial's values."""
TRIAL_NAME_ENV = "TRAINPIPE_TRIAL_NAME"
TRIAL_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
"""The pod label holding the trial's TrainJob (and JobSet) name."""
_EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def parameter_env(name: str) -> str:
    """The variable Trainer sets for parameter ``name``: ``KUBEFLOW_TRAINER_OPT_`` + its name
    upper-cased, ``-`` as ``_``."""
    return PARAMETER_ENV_PREFIX + name.upper().replace("-", "_")


def render_optimization_job(
    config: RunConfig, *, name: str, train_data: str, validation_data: str, output_root: str
) -> dict[str, Any]:
    """An ``OptimizationJob`` searching ``config.tune`` with trainpipe TrainJobs as trials.

    Raises:
        TuningError: the declaration uses something an OptimizationJob cannot express (see the
            module docstring), or tuning is disabled.
        LaunchError: the TrainJob cannot be rendered (no image, a bad name).
    """
    tune = config.tune
    _check_supported(config)
    parameters: list[dict[str, Any]] = []
    overrides: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for key in sorted(tune.search_space):
        pname = katib_parameter_name(key)
        if pname in owners:
            raise TuningError(
                f"tune.search_space.{key}: its parameter name {pname!r} (and variable "
                f"{parameter_env(pname)}) collides with tune.search_space.{owners[pname]}; "
                "rename one"
            )
        owners[pname] = key
        parameters.append(
            {"name": pname, "searchSpace": _search_space(key, tune.search_space[key])}
        )
        overrides[key] = f"$({parameter_env(pname)})"
    overrides["train.epochs"] = tune.epochs
    trial = f"$({TRIAL_NAME_ENV})"
    train_spec = TrainSpec(
        config=config,
        train_data=train_data,
        validation_data=validation_data,
        output=join_uri(output_root, trial),
        run_id=trial,
        overrides=overrides,
    )
    job = job_spec_from_config(config, name=name, args=["--spec", train_spec.to_json()], env={})
    trainjob = render_trainjob(job)
    trainer = trainjob["spec"]["trainer"]
    field = f"metadata.labels['{TRIAL_NAME_LABEL}']"
    trial_env = {"name": TRIAL_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": field}}}
    trainer["env"] = [trial_env, *trainer.get("env", [])]
    template: dict[str, Any] = {"spec": trainjob["spec"]}
    if trainjob["metadata"].get("labels"):
        template["metadata"] = {"labels": trainjob["metadata"]["labels"]}
    algorithm = {"grid": {}} if tune.sampler == "grid" else {"random": {"seed": config.seed}}
    spec: dict[str, Any] = {
        "numTrials": tune.max_trials,
        "parallelTrials": min(tune.parallel_trials, tune.max_trials),
        "objectives": [
            {"metric": o.metric, "direction": o.goal.capitalize()} for o in tune.objective_list
        ],
        "parameters": parameters,
        "searchAlgorithm": algorithm,
        "trainJobTemplate": template,
    }
    metadata = {"name": name, "namespace": config.job.namespace, **_labels(trainjob)}
    return {
        "apiVersion": API_VERSION,
        "kind": "OptimizationJob",
        "metadata": metadata,
        "spec": spec,
    }


def trial_arguments(
    job: Mapping[str, Any], assignments: Mapping[str, str], *, trial_name: str
) -> list[str]:
    """The trainer command of one trial, as its pod runs it: the variables Trainer sets for
    ``assignments`` (parameter name to its string value) and the trial's name, expanded as
    Kubernetes expands ``$(VAR)`` in a container's arguments. For checks and debugging."""
    trainer = job["spec"]["trainJobTemplate"]["spec"]["trainer"]
    env = {parameter_env(name): value for name, value in assignments.items()}
    env[TRIAL_NAME_ENV] = trial_name
    for item in trainer.get("env", []):
        if "value" in item:
            env.setdefault(item["name"], item["value"])

    def expand(text: str) -> str:
        return _EXPANSION.sub(lambda m: env.get(m.group(1), m.group(0)), text)

    return [expand(arg) for arg in trainer["command"]]


# --- pieces ----------------------------------------------------------------------------------


def _labels(trainjob: Mapping[str, Any]) -> dict[str, Any]:
    labels = trainjob["metadata"].get("labels")
    return {"labels": dict(labels)} if labels else {}


def _check_supported(config: RunConfig) -> None:
    tune = config.tune
    if tune.max_trials < 1:
        raise TuningError(
            "tune.max_trials is 0 (tuning disabled): there is no OptimizationJob to render; "
            "set tune.max_trials >= 1"
        )
    if tune.sampler not in ("random", "grid"):
        raise TuningError(
            f"tune.sampler {tune.sampler!r}: a Trainer OptimizationJob searches with random or "
            "grid only; set tune.sampler to random or grid, or render a Katib Experiment "
            "(trainpipe tune render-katib) or run the Optuna tuner for the others"
        )
    if tune.pruner != "none":
        raise TuningError(
            f"tune.pruner {tune.pruner!r}: a Trainer OptimizationJob has no early stopping; set "
            "tune.pruner: none, or use render-katib (medianstop) or the Optuna tuner"
        )
    if tune.cv.kind != "none":
        raise TuningError(
            f"tune.cv.kind {tune.cv.kind!r}: an OptimizationJob trial is one training job; "
            "set tune.cv.kind: none to render it, or run the Optuna tuner for cross-validation"
        )
    for key, spec in tune.search_space.items():
        if spec.when:
            raise TuningError(
                f"tune.search_space.{key}.when: an OptimizationJob has no conditional "
                "parameters; drop the condition or run the Optuna tuner"
            )
        if spec.step is not None and spec.type != "categorical":
            raise TuningError(
                f"tune.search_space.{key}.step: an OptimizationJob's ranges have no step; drop "
                "it or list the values as a categorical parameter"
            )


def _search_space(key: str, spec: ParamSpec) -> dict[str, Any]:
    if spec.type == "categorical":
        choices = choice_texts(key, spec.choices, carrier="an OptimizationJob")
        return {"categorical": {"choices": choices}}
    assert spec.low is not None and spec.high is not None  # checked by config validation
    kind = "logUniform" if spec.log else "uniform"
    if spec.type == "int":
        bounds = {"min": str(int(spec.low)), "max": str(int(spec.high)), "type": "Int"}
    else:
        bounds = {"min": float_text(spec.low), "max": float_text(spec.high), "type": "Float"}
    return {kind: bounds}

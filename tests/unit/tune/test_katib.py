"""The Katib Experiment rendered from the tuning declaration (trainpipe.tune.katib)."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from k8s_validation import REPO_ROOT, crd_path, validate_custom_resource
from trainpipe.config import RunConfig, load_config
from trainpipe.errors import TuningError
from trainpipe.train.spec import SPEC_ENV, TrainSpec
from trainpipe.tune.katib import (
    FAILURE_CONDITION,
    SUCCESS_CONDITION,
    TRIAL_NAME_PARAMETER,
    katib_parameter_name,
    render_experiment,
    render_experiment_yaml,
    trial_job,
)

pytestmark = pytest.mark.unit

DIGITS = REPO_ROOT / "pipelines" / "configs" / "digits.yaml"
LOCATIONS = {
    "train_data": "s3://trainpipe-data/digits/train.parquet",
    "validation_data": "s3://trainpipe-data/digits/validation.parquet",
    "output_root": "s3://trainpipe-runs/digits/run-1/tune",
}
MIXED_SPACE: dict[str, Any] = {
    "train.learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "train.weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.025},
    "train.batch_size": {"type": "int", "low": 16, "high": 128, "step": 16},
    "train.warmup_epochs": {"type": "int", "low": 1, "high": 8, "log": True},
    "train.optimizer": {"type": "categorical", "choices": ["adamw", "sgd"]},
    "train.deterministic": {"type": "categorical", "choices": [True, False]},
    "model.hidden": {"type": "categorical", "choices": [[64], [128, 64]]},
}


def make_config(space: dict[str, Any] | None = None, **tune: Any) -> RunConfig:
    data: dict[str, Any] = {
        "name": "mixed",
        "seed": 7,
        "data": {"source": "builtin:iris"},
        "train": {"epochs": 30, "nproc_per_node": 2, "nnodes": 2},
        "tune": {
            "max_trials": 12,
            "parallel_trials": 3,
            "max_failed_trials": 2,
            "sampler": "random",
            "pruner": "none",
            "epochs": 3,
            "search_space": MIXED_SPACE if space is None else space,
            **tune,
        },
    }
    return RunConfig.from_dict(data)


def render(config: RunConfig, name: str = "trainpipe-tune") -> dict[str, Any]:
    return render_experiment(config, name=name, **LOCATIONS)


def params_by_name(experiment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in experiment["spec"]["parameters"]}


def master_env(job: dict[str, Any]) -> str:
    container = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    (env,) = [e for e in container["env"] if e["name"] == SPEC_ENV]
    return str(env["value"])


# --- Katib's admission webhook, the parts a template can get wrong ----------------------------

_PLACEHOLDER = re.compile(r"\$\{trialParameters\..+?\}")
_META_REFERENCES = ("${trialSpec.Name}", "${trialSpec.Namespace}", "${trialSpec.Kind}")


def katib_webhook_problems(experiment: dict[str, Any]) -> list[str]:
    """The checks of Katib's experiment validator (pkg/webhook/v1beta1/experiment/validator)."""
    problems = []
    spec = experiment["spec"]
    if not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", experiment["metadata"]["name"]):
        problems.append("metadata.name")
    max_trials = spec["maxTrialCount"]
    if max_trials <= 0 or spec["parallelTrialCount"] <= 0 or spec["maxFailedTrialCount"] < 0:
        problems.append("counts must be positive")
    if spec["parallelTrialCount"] > max_trials or spec["maxFailedTrialCount"] > max_trials:
        problems.append("parallel/failed trial counts exceed maxTrialCount")
    objective = spec["objective"]
    if objective["type"] not in ("minimize", "maximize") or not objective["objectiveMetricName"]:
        problems.append("objective")
    if objective["objectiveMetricName"] in objective.get("additionalMetricNames", []):
        problems.append("additionalMetricNames holds the objective")
    for param in spec["parameters"]:
        space = param["feasibleSpace"]
        if param["parameterType"] in ("int", "double"):
            if "list" in space or not space.get("min") or not space.get("max"):
                problems.append(f"parameter {param['name']}: min/max")
        elif param["parameterType"] == "categorical":
            if {"min", "max", "step"} & set(space) or not space.get("list"):
                problems.append(f"parameter {param['name']}: list")
        else:
            problems.append(f"parameter {param['name']}: type")
        if space.get("distribution", "uniform") not in ("uniform", "logUniform"):
            problems.append(f"parameter {param['name']}: distribution")
    template = spec["trialTemplate"]
    if not template.get("primaryContainerName"):
        problems.append("primaryContainerName")
    if not template.get("successCondition") or not template.get("failureCondition"):
        problems.append("success/failure condition")
    text = json.dumps(template["trialSpec"])
    names = {p["name"] for p in spec["parameters"]}
    seen_names: set[str] = set()
    seen_refs: set[str] = set()
    for trial_param in template["trialParameters"]:
        name, ref = trial_param["name"], trial_param["reference"]
        if not name or not ref or "{" in name or "}" in name:
            problems.append(f"trialParameter {name!r}: name")
        if name in seen_names or ref in seen_refs:
            problems.append(f"trialParameter {name!r}: duplicated")
        seen_names.add(name)
        seen_refs.add(ref)
        if ref not in names and ref not in _META_REFERENCES:
            problems.append(f"trialParameter {name!r}: unknown reference {ref!r}")
        placeholder = "${trialParameters." + name + "}"
        if placeholder not in text:
            problems.append(f"trialParameter {name!r}: unused in trialSpec")
        text = text.replace(placeholder, "test-value")
    if _PLACEHOLDER.findall(text):
        problems.append(f"undefined placeholders {_PLACEHOLDER.findall(text)}")
    metadata = template["trialSpec"].get("metadata", {})
    if metadata.get("name") or metadata.get("namespace"):
        problems.append("trialSpec sets metadata.name/namespace")
    if spec["metricsCollectorSpec"]["collector"]["kind"] != "StdOut":
        problems.append("collector")
    return problems


def assert_katib_model_round_trip(experiment: dict[str, Any]) -> Any:
    """Parse with the Katib API models; a misspelled field would be dropped and differ."""
    models = pytest.importorskip("kubeflow_katib_api.models")
    parsed = models.V1beta1Experiment.from_dict(experiment)
    assert parsed.to_dict() == experiment
    return parsed


# --- the digits config -----------------------------------------------------------------------


def test_digits_experiment() -> None:
    config = load_config(DIGITS)
    experiment = render(config, name="digits-tune")

    assert experiment["apiVersion"] == "kubeflow.org/v1beta1"
    assert experiment["kind"] == "Experiment"
    assert experiment["metadata"]["name"] == "digits-tune"
    assert experiment["metadata"]["namespace"] == config.job.namespace
    spec = experiment["spec"]
    assert spec["objective"]["type"] == "minimize"
    assert spec["objective"]["objectiveMetricName"] == "val_loss"
    assert spec["objective"]["additionalMetricNames"] == [
        "val_accuracy",
        "train_loss",
        "train_accuracy",
    ]
    assert {s["value"] for s in spec["objective"]["metricStrategies"]} == {"latest"}
    assert spec["algorithm"]["algorithmName"] == "tpe"
    assert spec["algorithm"]["algorithmSettings"] == [{"name": "random_state", "value": "42"}]
    assert spec["earlyStopping"]["algorithmName"] == "medianstop"
    assert (spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]) == (
        2,
        6,
        3,
    )
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    assert params_by_name(experiment) == {
        "train-learning-rate": {
            "name": "train-learning-rate",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.0005", "max": "0.01", "distribution": "logUniform"},
        },
        "model-dropout": {
            "name": "model-dropout",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.0", "max": "0.3"},
        },
    }
    template = spec["trialTemplate"]
    assert template["primaryContainerName"] == "pytorch"
    assert template["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}
    assert template["successCondition"] == SUCCESS_CONDITION
    assert template["failureCondition"] == FAILURE_CONDITION
    assert SUCCESS_CONDITION == 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    assert FAILURE_CONDITION == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    refs = {p["name"]: p["reference"] for p in template["trialParameters"]}
    assert refs == {
        "train-learning-rate": "train-learning-rate",
        "model-dropout": "model-dropout",
        TRIAL_NAME_PARAMETER: "${trialSpec.Name}",
    }
    assert template["trialSpec"]["kind"] == "PyTorchJob"
    assert katib_webhook_problems(experiment) == []


def test_digits_parses_with_the_katib_api_models() -> None:
    experiment = render(load_config(DIGITS), name="digits-tune")
    parsed = assert_katib_model_round_trip(experiment)
    spec = parsed.spec
    assert spec.algorithm.algorithm_name == "tpe"
    assert spec.early_stopping.algorithm_name == "medianstop"
    assert spec.objective.objective_metric_name == "val_loss"
    assert len(spec.parameters) == 2
    spaces = {p.name: p.feasible_space for p in spec.parameters}
    assert spaces["train-learning-rate"].distribution == "logUniform"
    assert (spaces["train-learning-rate"].min, spaces["train-learning-rate"].max) == (
        "0.0005",
        "0.01",
    )
    assert spec.trial_template.primary_container_name == "pytorch"
    assert len(spec.trial_template.trial_parameters) == 3


def test_yaml_is_the_same_object() -> None:
    config = load_config(DIGITS)
    text = render_experiment_yaml(config, name="digits-tune", **LOCATIONS)
    assert yaml.safe_load(text) == render(config, name="digits-tune")


def test_rendering_is_deterministic_across_a_json_round_trip() -> None:
    config = make_config()
    again = RunConfig.from_json(config.to_json())
    assert render(config) == render(again)


# --- parameters ------------------------------------------------------------------------------


def test_int_categorical_and_log_parameters() -> None:
    experiment = render(make_config())
    params = params_by_name(experiment)
    assert len(params) == len(MIXED_SPACE)
    assert params["train-learning-rate"]["parameterType"] == "double"
    assert params["train-learning-rate"]["feasibleSpace"] == {
        "min": "0.0001",
        "max": "0.1",
        "distribution": "logUniform",
    }
    assert params["train-weight-decay"]["feasibleSpace"] == {
        "min": "0.0",
        "max": "0.1",
        "step": "0.025",
    }
    assert params["train-batch-size"] == {
        "name": "train-batch-size",
        "parameterType": "int",
        "feasibleSpace": {"min": "16", "max": "128", "step": "16"},
    }
    assert params["train-warmup-epochs"]["feasibleSpace"] == {
        "min": "1",
        "max": "8",
        "distribution": "logUniform",
    }
    assert params["train-optimizer"] == {
        "name": "train-optimizer",
        "parameterType": "categorical",
        "feasibleSpace": {"list": ["adamw", "sgd"]},
    }
    assert params["train-deterministic"]["feasibleSpace"] == {"list": ["true", "false"]}
    assert params["model-hidden"]["feasibleSpace"] == {"list": ["[64]", "[128, 64]"]}
    assert experiment["spec"]["algorithm"]["algorithmName"] == "random"
    assert "earlyStopping" not in experiment["spec"]
    assert katib_webhook_problems(experiment) == []

    parsed = assert_katib_model_round_trip(experiment)
    types = {p.name: p.parameter_type for p in parsed.spec.parameters}
    assert types == {
        "train-learning-rate": "double",
        "train-weight-decay": "double",
        "train-batch-size": "int",
        "train-warmup-epochs": "int",
        "train-optimizer": "categorical",
        "train-deterministic": "categorical",
        "model-hidden": "categorical",
    }
    lists = {p.name: p.feasible_space.list for p in parsed.spec.parameters}
    assert lists["model-hidden"] == ["[64]", "[128, 64]"]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("train.learning_rate", "train-learning-rate"),
        ("model.dropout", "model-dropout"),
        ("train.nproc_per_node", "train-nproc-per-node"),
        ("Model.Hidden", "model-hidden"),
    ],
)
def test_katib_parameter_names(key: str, name: str) -> None:
    assert katib_parameter_name(key) == name


@pytest.mark.parametrize(
    ("sampler", "algorithm"),
    [
        ("tpe", "tpe"),
        ("random", "random"),
        ("grid", "grid"),
        ("gp", "bayesianoptimization"),
        ("cmaes", "cmaes"),
    ],
)
def test_algorithm_names(sampler: str, algorithm: str) -> None:
    space = {
        "train.learning_rate": {"type": "float", "low": 0.001, "high": 0.01, "step": 0.003},
        "train.batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
    }
    experiment = render(make_config(space, sampler=sampler))
    assert experiment["spec"]["algorithm"]["algorithmName"] == algorithm
    assert katib_webhook_problems(experiment) == []
    parsed = assert_katib_model_round_trip(experiment)
    assert parsed.spec.algorithm.algorithm_name == algorithm


def test_grid_caps_max_trial_count_at_the_grid_size() -> None:
    # Katib's grid suggestion refuses maxTrialCount above the number of combinations.
    space = {
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.75, "step": 0.25},
        "train.optimizer": {"type": "categorical", "choices": ["adamw", "sgd"]},
        "train.batch_size": {"type": "int", "low": 16, "high": 40, "step": 16},
    }
    config = make_config(space, sampler="grid", max_trials=50, parallel_trials=20)
    spec = render(config)["spec"]
    assert spec["maxTrialCount"] == 4 * 2 * 2
    assert spec["parallelTrialCount"] == 16
    assert spec["maxFailedTrialCount"] == 2
    spec = render(make_config(space, sampler="grid", max_trials=5))["spec"]
    assert spec["maxTrialCount"] == 5


@pytest.mark.parametrize(
    ("low", "high", "step"),
    [(0.001, 0.01, 0.003), (0.0, 0.3, 0.1), (0.1, 0.9, 0.2), (1e-4, 1e-3, 1e-4), (0.5, 2.0, 0.5)],
)
def test_grid_size_matches_katibs_arange(low: float, high: float, step: float) -> None:
    # Katib enumerates numpy.arange(min, max + step, step), dropping a last value above max.
    np = pytest.importorskip("numpy")
    values = np.arange(low, high + step, step)
    expected = len(values) - 1 if values[-1] > high else len(values)
    space = {"model.dropout": {"type": "float", "low": low, "high": high, "step": step}}
    spec = render(make_config(space, sampler="grid", max_trials=1000))["spec"]
    assert spec["maxTrialCount"] == expected


def test_counts_are_capped_at_max_trial_count() -> None:
    spec = render(make_config(max_trials=2, parallel_trials=4, max_failed_trials=9))["spec"]
    assert (spec["maxTrialCount"], spec["parallelTrialCount"], spec["maxFailedTrialCount"]) == (
        2,
        2,
        2,
    )


def test_extra_objectives_become_additional_metrics() -> None:
    config = make_config(
        objectives=[
            {"metric": "val_accuracy", "goal": "maximize"},
            {"metric": "val_loss", "goal": "minimize"},
        ],
        sampler="tpe",
    )
    objective = render(config)["spec"]["objective"]
    assert objective["type"] == "maximize"
    assert objective["objectiveMetricName"] == "val_accuracy"
    assert objective["additionalMetricNames"] == ["val_loss", "train_loss", "train_accuracy"]


# --- validation against the CRDs -------------------------------------------------------------


def test_experiment_validates_against_the_crd() -> None:
    path = crd_path("kubeflow.org_experiments.yaml")
    validate_custom_resource(render(load_config(DIGITS), name="digits-tune"), path)
    validate_custom_resource(render(make_config()), path)


def test_trial_spec_validates_against_the_pytorchjob_crd() -> None:
    path = crd_path("kubeflow.org_pytorchjobs.yaml")
    for experiment in (render(load_config(DIGITS), name="digits-tune"), render(make_config())):
        template = copy.deepcopy(experiment["spec"]["trialTemplate"]["trialSpec"])
        template["metadata"]["name"] = "trainpipe-tune-x7k2p9qd"  # Katib names it per trial
        validate_custom_resource(template, path)
        values = {p["name"]: _first_value(p) for p in experiment["spec"]["parameters"]}
        validate_custom_resource(trial_job(experiment, values, trial_name="t-x7k2p9qd"), path)


def test_multi_node_trials_have_master_and_workers() -> None:
    job = render(make_config())["spec"]["trialTemplate"]["trialSpec"]
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] == 1
    assert replicas["Master"]["template"]["spec"]["containers"][0]["name"] == "pytorch"
    worker = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert worker["env"] == replicas["Master"]["template"]["spec"]["containers"][0]["env"]


def _first_value(param: dict[str, Any]) -> str:
    space = param["feasibleSpace"]
    return str(space["list"][0] if "list" in space else space["min"])


# --- what a trial receives -------------------------------------------------------------------


def test_substituted_spec_applies_the_trial_values() -> None:
    experiment = render(make_config())
    env = master_env(experiment["spec"]["trialTemplate"]["trialSpec"])
    assert "${trialParameters.train-learning-rate}" in env
    assert "${trialParameters.trialName}" in env

    values = {
        "train-learning-rate": "0.0123",
        "train-weight-decay": "0.05",
        "train-batch-size": "48",
        "train-warmup-epochs": "3",
        "train-optimizer": "sgd",
        "train-deterministic": "false",
        "model-hidden": "[128, 64]",
        "trialName": "trainpipe-tune-x7k2p9qd",
    }
    # Katib replaces the placeholders in the JSON text of the whole trial template.
    text = env
    for name, value in values.items():
        text = text.replace("${trialParameters." + name + "}", value)
    assert "${" not in text
    spec = TrainSpec.from_json(text)
    assert spec.config.train.learning_rate == pytest.approx(0.0123)
    assert spec.config.train.weight_decay == pytest.approx(0.05)
    assert spec.config.train.batch_size == 48
    assert spec.config.train.warmup_epochs == 3
    assert spec.config.train.optimizer == "sgd"
    assert spec.config.train.deterministic is False
    assert spec.config.model.hidden == [128, 64]
    assert spec.config.train.epochs == 3  # tune.epochs, not train.epochs
    assert spec.output == f"{LOCATIONS['output_root']}/trainpipe-tune-x7k2p9qd"
    assert spec.train_data == LOCATIONS["train_data"]
    assert spec.validation_data == LOCATIONS["validation_data"]


def test_trial_job_substitutes_like_katib() -> None:
    experiment = render(load_config(DIGITS), name="digits-tune")
    job = trial_job(
        experiment,
        {"train-learning-rate": "0.0042", "model-dropout": "0.25"},
        trial_name="digits-tune-abcd1234",
    )
    assert job["metadata"]["name"] == "digits-tune-abcd1234"
    assert job["metadata"]["namespace"] == "trainpipe"
    spec = TrainSpec.from_json(master_env(job))
    assert spec.config.train.learning_rate == pytest.approx(0.0042)
    assert spec.config.model.dropout == pytest.approx(0.25)
    assert spec.config.train.epochs == 4
    assert spec.run_id == "digits-tune-abcd1234"
    assert spec.output.endswith("/tune/digits-tune-abcd1234")
    with pytest.raises(TuningError, match="model-dropout"):
        trial_job(experiment, {"train-learning-rate": "0.1"}, trial_name="t")


CATEGORICAL_KEYS = {
    "train-optimizer": ("train", "optimizer"),
    "train-deterministic": ("train", "deterministic"),
    "model-hidden": ("model", "hidden"),
}


def test_every_categorical_choice_reads_back() -> None:
    experiment = render(make_config())
    for param in experiment["spec"]["parameters"]:
        if param["parameterType"] != "categorical":
            continue
        for value in param["feasibleSpace"]["list"]:
            values = {p["name"]: _first_value(p) for p in experiment["spec"]["parameters"]}
            values[param["name"]] = value
            job = trial_job(experiment, values, trial_name="t-1")
            spec = TrainSpec.from_json(master_env(job))
            section, attr = CATEGORICAL_KEYS[param["name"]]
            expected = yaml.safe_load(value)
            assert getattr(getattr(spec.config, section), attr) == expected


# --- what Katib cannot express ---------------------------------------------------------------


def test_nsga2_is_refused() -> None:
    config = make_config(
        sampler="nsga2",
        objectives=[{"metric": "val_loss"}, {"metric": "val_accuracy", "goal": "maximize"}],
    )
    with pytest.raises(TuningError, match=r"nsga2.*Katib has no NSGA-II.*Optuna"):
        render(config)


def test_conditional_parameters_are_refused() -> None:
    space = {
        "model.kind": {"type": "categorical", "choices": ["mlp", "cnn"]},
        "model.dropout": {
            "type": "float",
            "low": 0.0,
            "high": 0.5,
            "when": {"model.kind": ["cnn"]},
        },
    }
    with pytest.raises(TuningError, match=r"tune\.search_space\.model\.dropout.*conditional"):
        render(make_config(space))


def test_hyperband_pruner_is_refused() -> None:
    with pytest.raises(TuningError, match=r"tune\.pruner 'hyperband'.*medianstop"):
        render(make_config(pruner="hyperband"))


def test_asha_pruner_is_refused_saying_katib_has_no_asha() -> None:
    with pytest.raises(TuningError, match=r"tune\.pruner 'asha': Katib has no asynchronous"):
        render(make_config(pruner="asha"))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"max_trials": 0}, r"tune\.max_trials"),
        ({"cv": {"kind": "kfold", "folds": 3}}, r"tune\.cv\.kind"),
        ({"sampler": "cmaes"}, r"cmaes.*two or more"),
        (
            {"search_space": {"train.epochs": {"type": "int", "low": 1, "high": 5}}},
            r"tune\.search_space\.train\.epochs",
        ),
        (
            {
                "search_space": {
                    "train.optimizer": {"type": "categorical", "choices": ['ad"am', "sgd"]}
                }
            },
            r"tune\.search_space\.train\.optimizer.*choice",
        ),
    ],
)
def test_unsupported_declarations_are_refused(changes: dict[str, Any], match: str) -> None:
    tune: dict[str, Any] = {
        "search_space": {"train.learning_rate": MIXED_SPACE["train.learning_rate"]}
    }
    tune.update(changes)
    space = tune.pop("search_space")
    with pytest.raises(TuningError, match=match):
        render(make_config(space, **tune))


def test_choice_that_changes_type_is_refused() -> None:
    # The string "1" would come back from Katib as the integer 1.
    space = {"model.kind": {"type": "categorical", "choices": ["mlp", "1"]}}
    with pytest.raises(TuningError, match=r"tune\.search_space\.model\.kind"):
        render(make_config(space))


def test_elastic_jobs_are_refused() -> None:
    data = make_config().to_dict()
    data["job"]["elastic_min_nodes"] = 1
    data["job"]["elastic_max_nodes"] = 3
    with pytest.raises(TuningError, match=r"job\.elastic_min_nodes"):
        render(RunConfig.from_dict(data))


@pytest.mark.parametrize("name", ["Tune", "1tune", "tune-", "tune_x", "t" * 41, ""])
def test_bad_experiment_names_are_refused(name: str) -> None:
    with pytest.raises(TuningError, match="experiment name"):
        render(make_config(), name=name)


def test_colliding_parameter_names_are_refused() -> None:
    # Config validation refuses such a key; build the clash behind its back.
    config = make_config(space={"train.learning_rate": MIXED_SPACE["train.learning_rate"]})
    config.tune.search_space["train.learning-rate"] = config.tune.search_space[
        "train.learning_rate"
    ]
    with pytest.raises(TuningError, match="collides"):
        render(config)


def test_a_user_models_params_are_katib_parameters() -> None:
    data = make_config().to_dict()
    data["model"] |= {"kind": "custom", "factory": "digits_net.mistakes:linear"}
    data["tune"]["search_space"] = {"model.params.bias": {"type": "categorical",
                                                          "choices": [True, False]}}  # fmt: skip
    experiment = render(RunConfig.from_dict(data))
    assert set(params_by_name(experiment)) == {"model-params-bias"}
    env = master_env(experiment["spec"]["trialTemplate"]["trialSpec"])
    text = env.replace("${trialParameters.model-params-bias}", "false").replace(
        "${trialParameters.trialName}", "trainpipe-tune-a"
    )
    assert TrainSpec.from_json(text).config.model.params == {"bias": False}

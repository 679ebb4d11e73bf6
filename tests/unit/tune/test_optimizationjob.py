"""``trainpipe tune render-optimizationjob``: the ``tune:`` declaration as a Trainer v2.3
OptimizationJob, valid against its CRD, whose trials read their values from the variables
Trainer sets; what an OptimizationJob cannot express is refused by name."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from k8s_validation import crd_path, validate_custom_resource
from trainpipe.config import RunConfig
from trainpipe.errors import TuningError
from trainpipe.train.spec import TrainSpec
from trainpipe.tune.optimizationjob import (
    TRIAL_NAME_ENV,
    TRIAL_NAME_LABEL,
    parameter_env,
    render_optimization_job,
    trial_arguments,
)

pytestmark = pytest.mark.unit

LOCATIONS = {
    "train_data": "s3://bucket/runs/r1/data/train",
    "validation_data": "s3://bucket/runs/r1/data/validation",
    "output_root": "s3://bucket/runs/r1/trials",
}
SPACE = {
    "train.learning_rate": {"type": "float", "low": 0.0005, "high": 0.01, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [32, 64]},
    "model.hidden": {"type": "categorical", "choices": [[16], [32, 32]]},
    "train.warmup_epochs": {"type": "int", "low": 0, "high": 3},
}


def make_config(space: dict[str, Any] | None = None, **tune: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris",
            "seed": 7,
            "data": {"source": "builtin:iris"},
            "train": {"nproc_per_node": 2},
            "tune": {"max_trials": 6, "parallel_trials": 8, "sampler": "random",
                     "pruner": "none", "epochs": 3, "search_space": space or SPACE, **tune},
        }
    )  # fmt: skip


def render(config: RunConfig) -> dict[str, Any]:
    return render_optimization_job(config, name="iris-opt", **LOCATIONS)


def test_the_job_validates_against_the_optimizationjob_crd() -> None:
    path = crd_path("trainer.kubeflow.org_optimizationjobs.yaml")
    job = render(make_config())
    validate_custom_resource(job, path)
    grid = {"train.batch_size": SPACE["train.batch_size"], "model.hidden": SPACE["model.hidden"]}
    validate_custom_resource(render(make_config(grid, sampler="grid")), path)
    spec = job["spec"]
    assert (spec["numTrials"], spec["parallelTrials"]) == (6, 6)
    assert spec["objectives"] == [{"metric": "val_loss", "direction": "Minimize"}]
    assert spec["searchAlgorithm"] == {"random": {"seed": 7}}
    spaces = {p["name"]: p["searchSpace"] for p in spec["parameters"]}
    assert spaces["train-learning-rate"] == {
        "logUniform": {"min": "0.0005", "max": "0.01", "type": "Float"}
    }
    assert spaces["train-warmup-epochs"] == {"uniform": {"min": "0", "max": "3", "type": "Int"}}
    assert spaces["model-hidden"] == {"categorical": {"choices": ["[16]", "[32, 32]"]}}


def test_a_trial_trains_with_the_values_trainer_hands_it() -> None:
    job = render(make_config())
    env = job["spec"]["trainJobTemplate"]["spec"]["trainer"]["env"]
    (trial_name,) = [e for e in env if e["name"] == TRIAL_NAME_ENV]
    assert TRIAL_NAME_LABEL in trial_name["valueFrom"]["fieldRef"]["fieldPath"]
    assert parameter_env("train-learning-rate") == "KUBEFLOW_TRAINER_OPT_TRAIN_LEARNING_RATE"
    values = {"train-learning-rate": "0.0042", "train-batch-size": "64",
              "model-hidden": "[32, 32]", "train-warmup-epochs": "2"}  # fmt: skip
    command = trial_arguments(job, values, trial_name="iris-opt-trial-3")
    assert command[:3] == ["python", "-m", "trainpipe.launch.torchrun_agent"]
    spec = TrainSpec.from_json(command[command.index("--spec") + 1])
    train = spec.config.train
    assert (train.learning_rate, train.batch_size, train.warmup_epochs) == (0.0042, 64, 2)
    assert spec.config.model.hidden == [32, 32]
    assert train.epochs == 3  # tune.epochs
    assert spec.output == "s3://bucket/runs/r1/trials/iris-opt-trial-3"
    assert spec.run_id == "iris-opt-trial-3"


@pytest.mark.parametrize(
    ("tune", "space", "named"),
    [
        ({"sampler": "tpe"}, None, "tune.sampler 'tpe'"),
        ({"pruner": "median"}, None, "tune.pruner 'median'"),
        ({"pruner": "asha"}, None, "tune.pruner 'asha': a Trainer OptimizationJob has no early"),
        ({"cv": {"kind": "kfold"}}, None, "tune.cv.kind 'kfold'"),
        ({}, {"model.dropout": {"type": "float", "low": 0, "high": 0.5, "step": 0.1}},
         "tune.search_space.model.dropout.step"),
        ({}, {"model.kind": {"type": "categorical", "choices": ["mlp", "cnn"]},
              "model.dropout": {"type": "float", "low": 0, "high": 0.5,
                                "when": {"model.kind": ["mlp"]}}},
         "tune.search_space.model.dropout.when"),
        ({}, {"model.kind": {"type": "categorical", "choices": ["mlp", "1e3"]}},
         "does not survive the trip"),
    ],
)  # fmt: skip
def test_what_an_optimizationjob_cannot_express_is_refused_by_name(
    tune: dict[str, Any], space: dict[str, Any] | None, named: str
) -> None:
    with pytest.raises(TuningError, match=named.replace(".", r"\.")):
        render(make_config(space, **tune))


def test_the_cli_prints_it_as_yaml(tmp_path: Any) -> None:
    config = tmp_path / "iris.yaml"
    config.write_text(yaml.safe_dump(make_config().to_dict()))
    done = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "tune", "render-optimizationjob",
         "--config", str(config), "--name", "iris-opt"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = yaml.safe_load(done.stdout)
    assert job["kind"] == "OptimizationJob" and job["metadata"]["name"] == "iris-opt"

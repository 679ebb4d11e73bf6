"""The Katib-like tuning declaration is validated with the offending parameter named."""

from typing import Any

import optuna
import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError
from trainpipe.tune.worker import suggest_params

pytestmark = pytest.mark.unit


def tune_config(**tune: Any) -> RunConfig:
    return RunConfig.from_dict({"data": {"source": "builtin:iris"}, "tune": tune})


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ({"metric": "val_f1"}, "tune.metric must be one of val_loss"),
        (
            {"objectives": [{"metric": "val_loss"}, {"metric": "bogus", "goal": "maximize"}]},
            "tune.objectives[1].metric",
        ),
        (
            {"objectives": [{"metric": "val_loss"}, {"metric": "train_loss"}], "sampler": "cmaes",
             "pruner": "none"},
            "tune.sampler must be one of nsga2",
        ),
        (
            {"objectives": [{"metric": "val_loss"}, {"metric": "train_loss"}], "sampler": "nsga2"},
            "tune.pruner must be none",
        ),
        ({"max_failed_trials": -1}, "tune.max_failed_trials"),
        ({"cv": {"kind": "kfold", "folds": 1}}, "tune.cv.folds"),
        ({"cv": {"kind": "bootstrap"}}, "tune.cv.kind"),
        (
            {"search_space": {"model.channels": {"type": "int", "low": 8, "high": 32,
                                                 "when": {"model.kind": ["cnn"]}}}},
            "tune.search_space.model.channels.when",
        ),
        (
            {"sampler": "grid", "search_space": {"train.learning_rate": {"type": "float",
                                                                         "low": 0.1, "high": 1}}},
            "tune.search_space.train.learning_rate.step",
        ),
        ({"search_space": {}}, "tune.search_space is empty, so every trial would train the same"),
        ({"pruner_min_epochs": 0}, "tune.pruner_min_epochs must be >= 1, got 0"),
        ({"reduction_factor": 1}, "tune.reduction_factor must be >= 2, got 1"),
        ({"pruner": "asha", "epochs": 3, "pruner_min_epochs": 3},
         "tune.pruner_min_epochs must be < tune.epochs (3) for the asha pruner"),
        ({"pruner": "hyperband", "epochs": 2, "pruner_min_epochs": 3},
         "tune.pruner_min_epochs must be <= tune.epochs (2), Hyperband's largest budget"),
        ({"pruner": "successive_halving"}, "tune.pruner"),
    ],
)  # fmt: skip
def test_bad_declarations_name_the_parameter(tune: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        tune_config(**tune)
    assert message in str(info.value)


def test_regression_cannot_optimize_accuracy() -> None:
    with pytest.raises(ConfigError, match=r"tune\.metric must be one of val_loss, train_loss"):
        RunConfig.from_dict(
            {
                "task": "regression",
                "data": {"source": "builtin:diabetes"},
                "tune": {"metric": "val_accuracy", "direction": "maximize"},
            }
        )


def test_conditional_parameters_are_suggested_only_when_their_condition_holds() -> None:
    config = tune_config(
        search_space={
            "model.kind": {"type": "categorical", "choices": ["mlp", "cnn"]},
            "model.dropout": {"type": "float", "low": 0.0, "high": 0.5,
                              "when": {"model.kind": ["mlp"]}},
        },
        pruner="none",
    )  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = {"mlp": 0, "cnn": 0}
    for _ in range(20):
        trial = study.ask()
        params = suggest_params(trial, config.tune.search_space)
        seen[params["model.kind"]] += 1
        assert ("model.dropout" in params) == (params["model.kind"] == "mlp")
        study.tell(trial, 0.0)
    assert seen["mlp"] and seen["cnn"]


def test_without_a_space_the_study_searches_the_default_one_and_says_so() -> None:
    tune = tune_config().tune
    assert tune.uses_default_space
    assert set(tune.search_space) == {"train.learning_rate", "model.dropout"}
    assert tune.space_notice() == (
        "tune: 8 trials search train.learning_rate in [0.0001, 0.01] (log), model.dropout in "
        "[0, 0.3]: the default space (set tune.search_space to choose)"
    )
    chosen = tune_config(
        search_space={"train.batch_size": {"type": "categorical", "choices": [16, 32]}}
    ).tune
    assert not chosen.uses_default_space and set(chosen.search_space) == {"train.batch_size"}
    assert chosen.space_notice() == "tune: 8 trials search train.batch_size in [16, 32]: " \
        "tune.search_space"  # fmt: skip
    assert tune_config(search_space={}, max_trials=0).tune.max_trials == 0


def test_the_default_pruner_is_asha_and_takes_a_one_epoch_study() -> None:
    tune = tune_config().tune
    assert (tune.pruner, tune.pruner_min_epochs, tune.reduction_factor) == ("asha", 1, 3)
    # one epoch leaves nothing to prune: the default does not refuse it
    assert tune_config(epochs=1).tune.epochs == 1

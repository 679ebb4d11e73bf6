"""``tune.warm_start: champion``: the study's first trial tries the registry champion's
parameters, once per study; values outside the search space are left to the sampler, and a
registry without a champion starts the study as usual, saying so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from model_factory import write_model
from trainpipe.config import RunConfig
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.tune.study import setup_study, suggest
from trainpipe.tune.warm_start import warm_start_for

pytestmark = pytest.mark.unit

NAME = "iris-mlp"


def config_for(registry: Path, **values: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "registry": {"uri": str(registry), "model_name": NAME},
            "tune": {"warm_start": "champion", "max_trials": 4},
            **values,
        }
    )


def register_champion(registry: Path, trained: RunConfig, tmp_path: Path) -> str:
    """A model registered with ``trained`` in its lineage and aliased ``champion``."""
    store = ModelRegistry.open(str(registry))
    lineage = build_lineage(config=trained.to_dict(), data_hash="d" * 64, metrics={"accuracy": 0.9})
    version = store.register(NAME, write_model(tmp_path / "model"), lineage=lineage)
    store.set_alias(NAME, "champion", version.version)
    return version.ref


def test_the_first_trial_tries_the_champions_parameters_once(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    trained = config_for(registry, train={"learning_rate": 0.004}, model={"dropout": 0.2})
    ref = register_champion(registry, trained, tmp_path)
    config = config_for(registry)
    first = warm_start_for(config)
    assert first.params == {"train.learning_rate": 0.004, "model.dropout": 0.2}
    assert first.source == ref and ref in first.notice

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for _ in range(2):  # a resumed study does not try it again
        study = setup_study(config.tune, seed=1, study_name="s", storage=storage,
                            first=first.params, first_from=first.source)  # fmt: skip
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["warm_start"] == ref
    trial = study.ask()
    asked = {name: suggest(trial, name, spec) for name, spec in config.tune.search_space.items()}
    assert asked == first.params


def test_values_outside_the_space_are_left_to_the_sampler(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    trained = config_for(registry, train={"learning_rate": 0.5}, model={"dropout": 0.1})
    register_champion(registry, trained, tmp_path)
    first = warm_start_for(config_for(registry))
    assert first.params == {"model.dropout": 0.1}
    assert "left to the sampler" in first.notice and "train.learning_rate (0.5)" in first.notice


def test_without_a_champion_the_study_starts_as_usual(tmp_path: Path) -> None:
    first = warm_start_for(config_for(tmp_path / "empty-registry"))
    assert first.params == {} and first.source == ""
    assert "no champion to start from" in first.notice
    off = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    assert warm_start_for(off).notice == ""

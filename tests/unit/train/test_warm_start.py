"""Warm start: a run starts from a registered model's weights and records it as parent."""

import json
from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import TrainingError
from trainpipe.launch.train_job import train_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry

pytestmark = pytest.mark.unit


def config(tmp_path: Path, **overrides: object) -> RunConfig:
    base = RunConfig.from_dict(
        {
            "name": "iris",
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"epochs": 10, "batch_size": 16, "learning_rate": 0.01,
                      "backend": "inprocess", "num_threads": 1},
            "registry": {"uri": str(tmp_path / "registry"), "model_name": "iris"},
        }
    )  # fmt: skip
    return base.with_overrides(overrides) if overrides else base


def test_warm_start_continues_from_the_champion(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    first = str(tmp_path / "first")
    result = train_model(
        config(tmp_path), train_data=iris_splits["train"],
        validation_data=iris_splits["validation"], output=first, log=lambda line: None,
    )  # fmt: skip
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    registry.register("iris", first, lineage=build_lineage(config={}, data_hash="", metrics={}))
    registry.promote("iris", 1)

    second = str(tmp_path / "second")
    lines: list[str] = []
    warm = train_model(
        config(tmp_path, **{"train.warm_start": "iris@champion", "train.epochs": 1}),
        train_data=iris_splits["train"], validation_data=iris_splits["validation"],
        output=second, log=lines.append,
    )  # fmt: skip
    assert "[trainpipe] warm start from iris:1" in lines
    assert json.loads((Path(second) / "metrics.json").read_text())["parent"] == "iris:1"
    # One epoch from the champion's weights starts where 10 epochs ended, far below a cold start.
    assert warm.history[0]["train_loss"] < 0.5 * result.history[0]["train_loss"]


def test_warm_start_needs_the_same_architecture(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    first = str(tmp_path / "first")
    train_model(
        config(tmp_path, **{"train.epochs": 1}), train_data=iris_splits["train"],
        validation_data=iris_splits["validation"], output=first, log=lambda line: None,
    )  # fmt: skip
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    registry.register("iris", first, lineage=build_lineage(config={}, data_hash="", metrics={}))
    wider = config(tmp_path, **{"train.warm_start": "iris:1", "model.hidden": [32]})
    with pytest.raises(TrainingError, match="has another architecture"):
        train_model(
            wider, train_data=iris_splits["train"], validation_data=iris_splits["validation"],
            output=str(tmp_path / "second"), log=lambda line: None,
        )  # fmt: skip

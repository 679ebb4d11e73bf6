"""The evaluate step promotes a challenger only when it beats the champion on the same rows."""

from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry

pytestmark = pytest.mark.unit


def config_for(tmp_path: Path, **train: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": "iris",
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"batch_size": 16, "backend": "inprocess", "num_threads": 1, **train},
            "evaluate": {"champion": {"method": "mcnemar"}},
            "registry": {"uri": str(tmp_path / "registry"), "model_name": "iris"},
        }
    )


def trained(tmp_path: Path, splits: dict[str, str], name: str, **train: object) -> str:
    config = config_for(tmp_path, **train)
    output = str(tmp_path / name)
    train_model(
        config, train_data=splits["train"], validation_data=splits["validation"],
        output=output, log=lambda line: None,
    )  # fmt: skip
    return output


def champion(tmp_path: Path, model: str) -> None:
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    version = registry.register(
        "iris", model, lineage=build_lineage(config={}, data_hash="", metrics={})
    )
    registry.promote("iris", version.version)


def test_first_model_becomes_champion(iris_splits: dict[str, str], tmp_path: Path) -> None:
    good = trained(tmp_path, iris_splits, "good", epochs=30, learning_rate=0.01)
    result = evaluate_model(config_for(tmp_path), good, iris_splits["test"])
    assert result.promotion == {"promote": True, "reason": "there was no iris@champion yet"}


def test_identical_challenger_is_not_promoted(iris_splits: dict[str, str], tmp_path: Path) -> None:
    good = trained(tmp_path, iris_splits, "good", epochs=30, learning_rate=0.01)
    champion(tmp_path, good)
    result = evaluate_model(config_for(tmp_path), good, iris_splits["test"])
    assert result.promotion is not None
    assert result.promotion["promote"] is False
    assert "identical predictions" in result.promotion["reason"]
    assert result.promotion["champion_version"] == 1


def test_clearly_better_challenger_is_promoted(iris_splits: dict[str, str], tmp_path: Path) -> None:
    weak = trained(tmp_path, iris_splits, "weak", epochs=1, learning_rate=1e-5)
    champion(tmp_path, weak)
    good = trained(tmp_path, iris_splits, "good", epochs=30, learning_rate=0.01)
    config = config_for(tmp_path).with_overrides({"evaluate.champion.method": "bootstrap"})
    result = evaluate_model(config, good, iris_splits["test"])
    assert result.promotion is not None and result.promotion["promote"] is True, result.promotion
    assert result.promotion["difference"] > 0.3

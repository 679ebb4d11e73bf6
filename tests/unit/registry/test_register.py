"""register_model: the lineage and the alias of a new version, decided once for the pipeline's
register step and the CLI, and nothing half-registered when the registry fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from trainpipe.config import ModelConfig, RunConfig
from trainpipe.errors import RegistryError, StorageError
from trainpipe.evaluate.gate import evaluate_gate
from trainpipe.evaluate.stages import Evaluation
from trainpipe.models import build_model
from trainpipe.registry.register import CHALLENGER, decide_alias, register_model
from trainpipe.registry.registry import ModelRegistry
from trainpipe.train.artifacts import save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

DATA_HASH = "d" * 64


def write_model(
    location: Path, *, data_hash: str = DATA_HASH, parent: str | None = "iris:3"
) -> str:
    """A model directory as trainpipe train writes it: a warm start from ``parent``."""
    torch.manual_seed(0)
    config = ModelConfig(hidden=[4], dropout=0.0)
    save_model(
        str(location),
        build_model(config, 2, 3),
        model_config=config,
        task="classification",
        label="target",
        preprocess=Preprocess(
            features=["a", "b"], mean=[0.0, 1.0], std=[1.0, 2.0], classes=["x", "y", "z"]
        ),
        metrics={"history": [], "final": {"val_accuracy": 0.8}, "parent": parent},
        data_hash=data_hash,
    )
    return str(location)


def run_config(tmp_path: Path, **overrides: Any) -> RunConfig:
    config = RunConfig.from_dict(
        {
            "name": "iris-run",
            "seed": 11,
            "data": {"source": "builtin:iris"},
            "registry": {"uri": str(tmp_path / "registry"), "model_name": "iris"},
        }
    )
    return config.with_overrides(overrides) if overrides else config


def evaluation(*, promote: bool | None, accuracy: float = 0.95) -> dict[str, Any]:
    """The evaluate step's JSON for a blessed model; ``promote`` None: no champion comparison."""
    metrics = {"accuracy": accuracy, "f1_macro": accuracy - 0.01}
    promotion = None
    if promote is not None:
        reason = "beats iris:1 (p=0.01)" if promote else "not better than iris:1 (p=0.4)"
        promotion = {"promote": promote, "reason": reason, "champion_version": 1}
    return Evaluation(
        split="test",
        metrics=metrics,
        gate=evaluate_gate(metrics, {"accuracy_min": 0.9}),
        promotion=promotion,
    ).to_dict()


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.open(str(tmp_path / "registry"))


def last_event(registry: ModelRegistry, name: str = "iris") -> dict[str, Any]:
    return registry.alias_events(name)[-1]


def test_a_promoted_model_becomes_the_champion(registry: ModelRegistry, tmp_path: Path) -> None:
    result = register_model(
        registry,
        write_model(tmp_path / "m"),
        config=run_config(tmp_path),
        evaluation=evaluation(promote=True),
    )

    assert (result.name, result.version, result.alias) == ("iris", 1, "champion")
    assert result.reason == "beats iris:1 (p=0.01)"
    assert result.uri == registry.get("iris", 1).uri
    assert registry.aliases("iris") == {"champion": 1}
    event = last_event(registry)
    assert (event["action"], event["reason"]) == ("promote", "beats iris:1 (p=0.01)")


def test_the_configured_champion_alias_is_used(registry: ModelRegistry, tmp_path: Path) -> None:
    config = run_config(tmp_path, **{"evaluate.champion.alias": "production"})
    result = register_model(
        registry, write_model(tmp_path / "m"), config=config, evaluation=evaluation(promote=True)
    )
    assert result.alias == "production"
    assert registry.aliases("iris") == {"production": 1}


def test_a_model_not_promoted_is_the_challenger(registry: ModelRegistry, tmp_path: Path) -> None:
    result = register_model(
        registry,
        write_model(tmp_path / "m"),
        config=run_config(tmp_path),
        evaluation=evaluation(promote=False),
    )

    assert result.alias == CHALLENGER == "challenger"
    assert result.reason == "not better than iris:1 (p=0.4)"
    assert registry.aliases("iris") == {"challenger": 1}
    assert last_event(registry)["action"] == "set"


def test_no_champion_comparison_means_challenger() -> None:
    decision = decide_alias(evaluation(promote=None), champion_alias="champion")
    assert (decision.alias, decision.action) == ("challenger", "set")
    assert "no champion comparison" in decision.reason
    with pytest.raises(RegistryError, match=r"promotion\.promote must be true or false, got 'y'"):
        decide_alias({"promotion": {"promote": "y"}}, champion_alias="champion")


def test_lineage_records_everything_the_run_knew(registry: ModelRegistry, tmp_path: Path) -> None:
    config = run_config(tmp_path)
    evaluated = evaluation(promote=True, accuracy=0.97)
    register_model(
        registry,
        write_model(tmp_path / "m", parent="iris:3"),
        config=config,
        data_hash=DATA_HASH,
        evaluation=evaluated,
        best_params={"train.learning_rate": 0.02},
        run_id="run-42",
        source="minio://bucket/runs/42/model",
    )

    lineage = registry.lineage("iris", 1)
    assert lineage["config"] == config.to_dict()
    assert lineage["split_seed"] == 11
    assert lineage["data_hash"] == DATA_HASH
    assert lineage["metrics"] == evaluated["metrics"]
    assert lineage["gate"] == evaluated["gate"] and lineage["gate"]["blessed"] is True
    assert lineage["promotion"] == evaluated["promotion"]
    assert lineage["parent"] == "iris:3"
    assert lineage["tuning"] == {"best_params": {"train.learning_rate": 0.02}}
    assert lineage["pipeline_run_id"] == "run-42"
    assert lineage["source"] == "minio://bucket/runs/42/model"
    assert lineage["registered_version"] == 1


def test_the_data_hash_saved_with_the_model_is_used(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    model = write_model(tmp_path / "m", data_hash="e" * 64, parent=None)
    for given in (None, ""):
        registered = register_model(registry, model, config=None, name="iris", data_hash=given)
        assert registry.lineage("iris", registered.version)["data_hash"] == "e" * 64
    assert registry.lineage("iris", 1)["parent"] is None


def test_without_an_evaluation_no_alias_is_set(registry: ModelRegistry, tmp_path: Path) -> None:
    result = register_model(registry, write_model(tmp_path / "m"), config=None, name="toy")

    assert result.alias is None
    assert "trainpipe registry promote" in result.reason
    assert registry.aliases("toy") == {}
    lineage = registry.lineage("toy", 1)
    assert lineage["metrics"] == {"val_accuracy": 0.8}  # the training run's final metrics
    assert lineage["config"] == {} and lineage["tuning"] == {}
    assert "gate" not in lineage and "promotion" not in lineage


def test_the_same_model_registered_again_names_the_version_it_repeats(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    model = write_model(tmp_path / "m")
    first = register_model(registry, model, config=None, name="toy")
    again = register_model(registry, model, config=None, name="toy")
    other = register_model(registry, write_model(tmp_path / "o", parent=None), config=None,
                           name="toy")  # fmt: skip
    elsewhere = register_model(registry, model, config=None, name="other")

    assert (first.version, again.version, other.version) == (1, 2, 3)  # nothing is refused
    assert first.same_model_as == [] and other.same_model_as == []
    assert again.same_model_as == [1]
    assert elsewhere.same_model_as == []  # another model's versions are not compared
    assert register_model(registry, model, config=None, name="toy").same_model_as == [1, 2]


def nothing_registered(tmp_path: Path) -> bool:
    return not (tmp_path / "registry").exists()


def test_bad_input_registers_nothing(registry: ModelRegistry, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m")
    config = run_config(tmp_path)
    not_blessed = evaluation(promote=None, accuracy=0.5)
    with pytest.raises(RegistryError, match=r"did not bless the model \(not blessed: accuracy"):
        register_model(registry, model, config=config, evaluation=not_blessed)
    with pytest.raises(RegistryError, match=f"trained on data with hash {DATA_HASH}"):
        register_model(registry, model, config=config, data_hash="f" * 64)
    with pytest.raises(RegistryError, match=r"must hold 'metrics' and 'gate'"):
        register_model(registry, model, config=config, evaluation={"promotion": None})
    bad_alias = run_config(tmp_path, **{"evaluate.champion.alias": "Not/Valid"})
    with pytest.raises(RegistryError, match=r"evaluate\.champion\.alias.*'Not/Valid'"):
        register_model(registry, model, config=bad_alias, evaluation=evaluation(promote=True))
    with pytest.raises(RegistryError, match="needs a model name"):
        register_model(registry, model, config=None)
    (tmp_path / "m" / "metrics.json").unlink()
    with pytest.raises(RegistryError, match=r"lacks \['metrics.json'\]"):
        register_model(registry, model, config=config)
    assert nothing_registered(tmp_path)


def test_a_failing_alias_leaves_a_complete_version(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise StorageError("put_if_absent aliases/000000001.json: access denied")

    monkeypatch.setattr(registry, "set_alias", refuse)
    with pytest.raises(RegistryError) as info:
        register_model(
            registry,
            write_model(tmp_path / "m"),
            config=run_config(tmp_path),
            evaluation=evaluation(promote=True),
        )

    message = str(info.value)
    assert "iris:1 is registered with its lineage, but pointing iris@champion" in message
    assert "access denied" in message
    assert "trainpipe registry promote iris:1 --alias champion" in message
    # What the registry shows: the version, intact and with its whole lineage, and no alias.
    (version,) = registry.list_versions("iris")
    assert registry.verify(version.ref) == []
    lineage = registry.lineage("iris", 1)
    assert lineage["data_hash"] == DATA_HASH and lineage["parent"] == "iris:3"
    assert lineage["gate"]["blessed"] is True and lineage["promotion"]["promote"] is True
    assert registry.aliases("iris") == {}


def test_a_failure_while_writing_the_version_shows_nothing(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainpipe.storage.local import LocalStore

    write = LocalStore.write_bytes

    def fail_on_lineage(self: LocalStore, key: str, data: bytes) -> None:
        if key == "lineage.json":
            raise StorageError(f"write {key}: disk full")
        write(self, key, data)

    monkeypatch.setattr(LocalStore, "write_bytes", fail_on_lineage)
    with pytest.raises(StorageError, match="disk full"):
        register_model(
            registry,
            write_model(tmp_path / "m"),
            config=run_config(tmp_path),
            evaluation=evaluation(promote=True),
        )
    assert registry.list_versions("iris") == []
    assert registry.list_models() == []
    assert registry.aliases("iris") == {}


def test_the_component_only_marshals(tmp_path: Path) -> None:
    """register_op reads its artifacts, calls register_model, and returns what it registered."""
    from types import SimpleNamespace

    from trainpipe_components.register import register_op

    model_dir = write_model(tmp_path / "model")
    evaluation_path = tmp_path / "evaluation.json"
    evaluation_path.write_text(json.dumps(evaluation(promote=False)))
    config = run_config(tmp_path)
    outputs = register_op.python_func(
        config_json=config.to_json(),
        best_params=json.dumps({"model.dropout": 0.1}),
        run_id="run-7",
        dataset=SimpleNamespace(metadata={"data_hash": DATA_HASH}),
        model=SimpleNamespace(path=model_dir, uri="minio://b/run-7/model"),
        evaluation=SimpleNamespace(path=str(evaluation_path)),
    )

    assert (outputs.name, outputs.version) == ("iris", 1)
    registry = ModelRegistry.open(config.registry.uri)
    assert outputs.uri == registry.get("iris", 1).uri
    assert registry.aliases("iris") == {"challenger": 1}
    lineage = registry.lineage("iris", 1)
    assert lineage["tuning"] == {"best_params": {"model.dropout": 0.1}}
    assert (lineage["pipeline_run_id"], lineage["source"]) == ("run-7", "minio://b/run-7/model")
    assert lineage["parent"] == "iris:3" and lineage["data_hash"] == DATA_HASH

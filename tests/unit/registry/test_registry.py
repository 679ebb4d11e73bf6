"""Unit tests for trainpipe.registry: numbered immutable versions, manifests, lineage, names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from trainpipe.config import ModelConfig, RunConfig
from trainpipe.errors import RegistryError
from trainpipe.models import build_model
from trainpipe.registry.lineage import build_lineage, code_version
from trainpipe.registry.names import validate_model_name
from trainpipe.registry.registry import LINEAGE_KEY, MANIFEST_KEY, ModelRegistry
from trainpipe.train.artifacts import load_model, save_model
from trainpipe.train.data import Preprocess
from trainpipe.train.model_files import MODEL_FILES

pytestmark = pytest.mark.unit

NAME = "iris-mlp"


def write_model(location: Path, seed: int = 0) -> Path:
    """A complete model directory written by save_model (no training needed)."""
    torch.manual_seed(seed)
    config = ModelConfig(hidden=[4], dropout=0.0)
    model = build_model(config, 2, 3)
    save_model(
        str(location),
        model,
        model_config=config,
        task="classification",
        label="target",
        preprocess=Preprocess(
            features=["a", "b"], mean=[0.0, 1.0], std=[1.0, 2.0], classes=["x", "y", "z"]
        ),
        metrics={"final": {"val_accuracy": 0.5 + seed / 10}, "history": []},
    )
    return location


def lineage(data_hash: str = "d" * 64, accuracy: float = 0.9) -> dict:
    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}, "seed": 5})
    return build_lineage(
        config=config.to_dict(),
        data_hash=data_hash,
        metrics={"accuracy": accuracy},
        pipeline_run_id="run-1",
        tuning={"best_params": {"train.learning_rate": 0.01}},
    )


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.open(str(tmp_path / "registry"))


def versions_dir(tmp_path: Path, name: str = NAME) -> Path:
    return tmp_path / "registry" / "models" / name / "versions"


def test_register_twice_gives_versions_1_and_2(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register(NAME, str(write_model(tmp_path / "m1", 1)), lineage=lineage())
    second = registry.register(NAME, str(write_model(tmp_path / "m2", 2)), lineage=lineage())
    assert (first.name, first.version) == (NAME, 1)
    assert (second.name, second.version) == (NAME, 2)
    assert first.uri == str(versions_dir(tmp_path) / "000001")
    assert second.uri == str(versions_dir(tmp_path) / "000002")
    assert first.metrics == {"accuracy": 0.9}
    assert second.created >= first.created

    assert registry.list_models() == [NAME]
    assert [v.version for v in registry.list_versions(NAME)] == [1, 2]
    assert registry.get(NAME).version == 2
    assert registry.get(NAME, 1).to_dict() == first.to_dict()
    assert registry.get(NAME, 2).uri == second.uri


def test_registered_version_holds_a_copy_of_the_model(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    source = write_model(tmp_path / "m1")
    version = registry.register(NAME, str(source), lineage=lineage())
    target = Path(version.uri)
    for key in MODEL_FILES:
        assert (target / key).read_bytes() == (source / key).read_bytes(), key
    loaded = load_model(version.uri)
    assert loaded.classes == ["x", "y", "z"]
    original = load_model(str(source))
    for key, value in original.module.state_dict().items():
        torch.testing.assert_close(loaded.module.state_dict()[key], value, rtol=0, atol=0)


def test_manifest_hashes_match_the_files(registry: ModelRegistry, tmp_path: Path) -> None:
    version = registry.register(NAME, str(write_model(tmp_path / "m1")), lineage=lineage())
    target = Path(version.uri)
    manifest = json.loads((target / MANIFEST_KEY).read_text())
    assert manifest["name"] == NAME
    assert manifest["version"] == 1
    assert set(manifest["files"]) == {*MODEL_FILES, LINEAGE_KEY, "MODEL_CARD.md", "model.onnx"}
    for key, digest in manifest["files"].items():
        assert hashlib.sha256((target / key).read_bytes()).hexdigest() == digest, key
    assert version.files == manifest["files"]


def test_lineage_is_stored(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(NAME, str(write_model(tmp_path / "m1")), lineage=lineage("abc123", 0.8))
    stored = registry.lineage(NAME, 1)
    assert stored["data_hash"] == "abc123"
    assert stored["metrics"] == {"accuracy": 0.8}
    assert stored["split_seed"] == 5
    assert stored["config"]["data"]["source"] == "builtin:iris"
    assert stored["pipeline_run_id"] == "run-1"
    assert stored["tuning"] == {"best_params": {"train.learning_rate": 0.01}}
    assert stored["code_version"] == code_version()
    assert stored["code_version"].startswith(("git:", "trainpipe=="))
    assert stored["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert {"numpy", "pandas", "optuna"} <= set(stored["packages"])
    assert stored["python"].count(".") == 2


def test_build_lineage_contents() -> None:
    doc = lineage("hash-1")
    assert doc["data_hash"] == "hash-1"
    assert doc["code_version"]
    assert "torch" in doc["packages"]
    assert doc["trainpipe_version"]
    json.dumps(doc)  # plain JSON


def test_missing_version_lists_the_versions(registry: ModelRegistry, tmp_path: Path) -> None:
    for i in range(2):
        registry.register(NAME, str(write_model(tmp_path / f"m{i}")), lineage=lineage())
    with pytest.raises(RegistryError) as info:
        registry.get(NAME, 7)
    assert "no version 7" in str(info.value)
    assert "versions: 1, 2" in str(info.value)


def test_unknown_model(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="'ghost' has no versions"):
        registry.get("ghost")
    assert registry.list_versions("ghost") == []
    assert registry.list_models() == []


def test_several_models(registry: ModelRegistry, tmp_path: Path) -> None:
    model = str(write_model(tmp_path / "m"))
    registry.register("b-model", model, lineage=lineage())
    registry.register("a-model", model, lineage=lineage())
    registry.register("a-model", model, lineage=lineage())
    assert registry.list_models() == ["a-model", "b-model"]
    assert registry.get("b-model").version == 1
    assert registry.get("a-model").version == 2


def test_interrupted_registration_is_invisible(registry: ModelRegistry, tmp_path: Path) -> None:
    model = str(write_model(tmp_path / "m"))
    registry.register(NAME, model, lineage=lineage())
    # A registration that crashed after claiming 000002 and copying some files, before MANIFEST.
    crashed = versions_dir(tmp_path) / "000002"
    crashed.mkdir()
    (crashed / ".claim").write_text("1700000000.0")
    (crashed / "model.safetensors").write_bytes(b"partial")

    assert [v.version for v in registry.list_versions(NAME)] == [1]
    assert registry.get(NAME).version == 1
    assert registry.list_models() == [NAME]

    following = registry.register(NAME, model, lineage=lineage())
    assert following.version == 3
    assert [v.version for v in registry.list_versions(NAME)] == [1, 3]
    assert (crashed / "model.safetensors").read_bytes() == b"partial"  # left alone


def test_claim_only_model_is_not_listed(registry: ModelRegistry, tmp_path: Path) -> None:
    crashed = versions_dir(tmp_path, "half") / "000001"
    crashed.mkdir(parents=True)
    (crashed / ".claim").write_text("0")
    assert registry.list_models() == []
    assert (
        registry.register("half", str(write_model(tmp_path / "m")), lineage=lineage()).version == 2
    )


def test_model_dir_missing_files(registry: ModelRegistry, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m")
    (model / "labels.json").unlink()
    (model / "metrics.json").unlink()
    with pytest.raises(RegistryError) as info:
        registry.register(NAME, str(model), lineage=lineage())
    message = str(info.value)
    assert str(model) in message
    assert "labels.json" in message
    assert "metrics.json" in message
    assert registry.list_versions(NAME) == []
    assert not versions_dir(tmp_path).exists()


def test_empty_model_dir(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"model\.safetensors"):
        registry.register(NAME, str(tmp_path / "nothing"), lineage=lineage())


@pytest.mark.parametrize(
    "name", ["../x", "Bad Name", "a/b", "", ".hidden", "x..y", "-x", "x-", "UPPER", "a" * 65]
)
def test_invalid_names_are_rejected(registry: ModelRegistry, tmp_path: Path, name: str) -> None:
    model = str(write_model(tmp_path / "m"))
    with pytest.raises(RegistryError) as info:
        registry.register(name, model, lineage=lineage())
    assert repr(name) in str(info.value)
    assert not (tmp_path / "registry").exists()
    with pytest.raises(RegistryError):
        registry.list_versions(name)
    with pytest.raises(RegistryError):
        validate_model_name(name)


@pytest.mark.parametrize("name", ["a", "digits-cnn", "model.v2", "x_1", "0", "a" * 64])
def test_valid_names(name: str) -> None:
    assert validate_model_name(name) == name


def test_code_version_prefers_the_image_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainpipe.registry.lineage import code_version

    monkeypatch.setenv("TRAINPIPE_CODE_VERSION", "git:0123abc")
    assert code_version() == "git:0123abc"
    monkeypatch.delenv("TRAINPIPE_CODE_VERSION")
    assert code_version().startswith(("git:", "trainpipe=="))

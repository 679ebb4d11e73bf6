"""Aliases move atomically with history; promote, rollback, references, load, tampering."""

from pathlib import Path

import pytest

from model_factory import write_model
from trainpipe.errors import RegistryError
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRef, ModelRegistry, load

pytestmark = pytest.mark.unit


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    for seed in range(3):
        lineage = build_lineage(config={}, data_hash="h", metrics={"accuracy": 0.5 + seed / 10})
        registry.register("m", write_model(tmp_path / f"m{seed}", seed=seed), lineage=lineage)
    return registry


def test_promote_and_rollback_walk_the_history(registry: ModelRegistry) -> None:
    assert registry.aliases("m") == {}
    registry.promote("m", 1)
    registry.promote("m", 3, reason="better")
    registry.set_alias("m", "challenger", 2)
    assert registry.aliases("m") == {"champion": 3, "challenger": 2}
    assert registry.resolve("m@champion").version == 3
    event = registry.rollback("m")
    assert event["version"] == 1 and event["previous"] == 3 and event["action"] == "rollback"
    assert registry.aliases("m")["champion"] == 1
    history = [(e["alias"], e["version"], e["action"]) for e in registry.alias_events("m")]
    assert history == [
        ("champion", 1, "promote"),
        ("champion", 3, "promote"),
        ("challenger", 2, "set"),
        ("champion", 1, "rollback"),
    ]
    assert [v.aliases for v in registry.list_versions("m")] == [["champion"], ["challenger"], []]


def test_rollback_needs_an_earlier_version(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="no alias 'champion' to roll back"):
        registry.rollback("m")
    registry.promote("m", 2)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("m")


def test_references_and_their_errors(registry: ModelRegistry) -> None:
    assert ModelRef.parse("m:2") == ModelRef(name="m", version=2)
    assert ModelRef.parse("m@champion") == ModelRef(name="m", alias="champion")
    assert registry.resolve("m").version == 3
    for bad in ("m:x", "M@Champion", "../m", "m:1@a"):
        with pytest.raises(RegistryError):
            ModelRef.parse(bad)
    with pytest.raises(RegistryError, match="no alias 'prod'; aliases: none"):
        registry.resolve("m@prod")
    with pytest.raises(RegistryError, match="no version 9; versions: 1, 2, 3"):
        registry.resolve("m:9")
    with pytest.raises(RegistryError, match="version 7"):
        registry.promote("m", 7)


def test_load_verifies_and_reads_weights_only(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.promote("m", 2)
    model = load("m", "champion", store=registry.store.uri)
    assert model.classes == ["c0", "c1", "c2"]
    assert load("m:2", store=registry.store.uri).description == model.description
    weights = Path(registry.resolve("m:2").uri) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    assert any("model.safetensors" in p for p in registry.verify("m:2"))
    with pytest.raises(RegistryError, match="failed verification and was not loaded"):
        load("m", 2, store=registry.store.uri)
    with pytest.raises(RegistryError, match="failed verification"):
        registry.download("m:2", tmp_path / "out")
    registry.download("m:3", tmp_path / "out3")
    assert (tmp_path / "out3" / "MODEL_CARD.md").is_file()


def test_lineage_and_card_hold_no_credentials(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-xyz")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-visible-id")
    lineage = build_lineage(config={}, data_hash="h", metrics={})
    item = registry.register("m", write_model(tmp_path / "m9"), lineage=lineage)
    for path in Path(item.uri).iterdir():
        text = path.read_bytes()
        assert b"s3cr3t-value-xyz" not in text and b"AKIA-visible-id" not in text, path.name

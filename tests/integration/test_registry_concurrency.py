"""Registrations from many processes at once, and one killed mid-upload, on disk and on S3."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from model_factory import write_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry

pytestmark = pytest.mark.integration

WORKER = Path(__file__).resolve().parents[1] / "registry_worker.py"


@pytest.fixture(params=["local", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "registry")
    request.getfixturevalue("s3_env")
    return f"s3://registry-{uuid.uuid4().hex[:8]}/models"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(WORKER.parent)}


def test_eight_concurrent_registrations_get_eight_consecutive_versions(
    store_uri: str, tmp_path: Path
) -> None:
    model = write_model(tmp_path / "model")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), store_uri, model],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for _ in range(8)
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    claimed = sorted(int(out.strip()) for out, _ in outputs)
    assert claimed == list(range(1, 9))
    registry = ModelRegistry.open(store_uri)
    assert [v.version for v in registry.list_versions("racer")] == list(range(1, 9))
    for version in range(1, 9):
        assert registry.verify(f"racer:{version}") == []


def test_registration_killed_mid_upload_leaves_no_version(store_uri: str, tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), store_uri, model],
        env={**_env(), "SLOW_WRITES": "0.4"},
    )
    registry = ModelRegistry.open(store_uri)
    deadline = time.monotonic() + 60
    while not any(k.endswith("model.safetensors") for k in registry.store.list("models")):
        assert time.monotonic() < deadline and proc.poll() is None, "the upload never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert registry.list_models() == []
    assert registry.list_versions("racer") == []

    lineage = build_lineage(config={}, data_hash="h", metrics={})
    version = registry.register("racer", model, lineage=lineage)
    assert version.version == 2  # number 1 stays burned by the dead claim, never reused
    assert [v.version for v in registry.list_versions("racer")] == [2]
    assert registry.verify("racer:2") == []


def test_endpoint_down_mid_registration_leaves_the_registry_consistent(
    s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainpipe.errors import StorageError
    from trainpipe.storage.s3 import S3Store

    store_uri = f"s3://registry-{uuid.uuid4().hex[:8]}/models"
    model = write_model(tmp_path / "model")
    registry = ModelRegistry.open(store_uri)
    lineage = build_lineage(config={}, data_hash="h", metrics={})
    original = S3Store.write_bytes
    writes = {"n": 0}

    def flaky(self: S3Store, key: str, data: bytes) -> None:
        writes["n"] += 1
        if writes["n"] > 2:  # the endpoint goes away after the first two files
            raise StorageError(f"cannot write {key} to {self.endpoint}: connection refused")
        original(self, key, data)

    monkeypatch.setattr(S3Store, "write_bytes", flaky)
    with pytest.raises(StorageError, match="connection refused"):
        registry.register("racer", model, lineage=lineage)
    monkeypatch.setattr(S3Store, "write_bytes", original)
    assert registry.list_versions("racer") == []
    version = registry.register("racer", model, lineage=lineage)
    assert version.version == 2 and registry.verify("racer:2") == []

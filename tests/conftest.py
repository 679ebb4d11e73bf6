"""Shared pytest fixtures.

``s3_server`` runs moto's S3-protocol server on loopback for the whole session; ``s3_env`` points
the S3 environment variables (read by ``trainpipe.storage.s3.s3_client_from_env``) at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trainpipe.config import RunConfig

S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing-secret"
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A real S3-protocol server (moto, threaded) on 127.0.0.1 at a free port.

    Yields ``{"endpoint": "http://127.0.0.1:PORT", "host": "127.0.0.1:PORT",
    "access_key": ..., "secret_key": ..., "region": ...}``. Buckets persist for the session, so
    tests should use unique bucket names.
    """
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield {
            "endpoint": f"http://{host}:{port}",
            "host": f"{host}:{port}",
            "access_key": S3_ACCESS_KEY,
            "secret_key": S3_SECRET_KEY,
            "region": S3_REGION,
        }
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: dict[str, str]) -> dict[str, str]:
    """Point the S3 environment variables at ``s3_server``; returns the ``s3_server`` dict.

    Sets TRAINPIPE_S3_ENDPOINT, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    TRAINPIPE_S3_SECURE=false and AWS_REGION; clears variables that could leak real credentials
    or endpoints from the host environment.
    """
    for name in (
        "MINIO_ENDPOINT",
        "MINIO_ACCESS_KEY",
        "MINIO_SECRET_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAINPIPE_S3_ENDPOINT", s3_server["endpoint"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server["secret_key"])
    monkeypatch.setenv("TRAINPIPE_S3_SECURE", "false")
    monkeypatch.setenv("AWS_REGION", s3_server["region"])
    return s3_server


@pytest.fixture(autouse=True)
def _restore_torch_globals() -> Iterator[None]:
    """fit() pins threads and deterministic algorithms process-wide; undo that after each test."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@pytest.fixture(scope="session")
def iris_splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """scikit-learn's iris, ingested and split once: ``train``, ``validation``, ``test`` paths."""
    from trainpipe.config import RunConfig

    config = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    return _splits(config, tmp_path_factory.mktemp("iris"))


@pytest.fixture(scope="session")
def digits_splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The digits example config's data, ingested and split once: ``train``, ``validation``..."""
    from trainpipe.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "pipelines/configs/digits.yaml")
    return _splits(config, tmp_path_factory.mktemp("digits"))


def _splits(config: RunConfig, root: Path) -> dict[str, str]:
    from trainpipe.data.prepare import prepare_splits

    paths = prepare_splits(config, root)
    return {name: paths[name] for name in ("train", "validation", "test")}

"""S3Store against a real S3-protocol server (moto, on loopback) through the minio SDK."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from minio import Minio
from urllib3.exceptions import ProtocolError

from public_api import PublicApiOnly
from storage_contract import ObjectStoreContract
from trainpipe.errors import StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.s3 import (
    S3Store,
    http_pool,
    s3_client,
    s3_client_from_env,
    s3_settings_from_env,
)

pytestmark = pytest.mark.integration


def _bucket() -> str:
    return f"tp-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(s3_env: dict[str, str]) -> Minio:
    """A minio client built from the environment that ``s3_env`` points at the server."""
    return s3_client_from_env()


class TestS3Store(ObjectStoreContract):
    """Runs the contract over S3Store (at the bucket root and under a prefix).

    The store's client only lets through minio's public API: a test fails when any operation
    reads a private attribute or method of the client.
    """

    has_local_paths = False

    @pytest.fixture(params=["", "base/dir"], ids=["root", "prefixed"])
    def store(self, request: pytest.FixtureRequest, client: Minio) -> Iterator[ObjectStore]:
        proxy = PublicApiOnly(client)
        yield S3Store(_bucket(), request.param, client=cast(Minio, proxy))
        assert proxy.private_reads == [], "the store used a private part of the minio client"

    def break_writes(self, store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
        assert isinstance(store, S3Store)

        def broken_put(*args: Any, **kwargs: Any) -> Any:
            raise ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))

        monkeypatch.setattr(store.client, "put_object", broken_put)


def test_keys_are_stored_under_the_prefix(client: Minio) -> None:
    bucket = _bucket()
    store = S3Store(bucket, "team/runs", client=client)
    store.write_text("exp1/metrics.json", "{}")
    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    assert names == ["team/runs/exp1/metrics.json"]


def test_bucket_is_created_on_first_write(client: Minio) -> None:
    bucket = _bucket()
    store = S3Store(bucket, client=client)
    assert not store.exists("k")
    assert store.list() == []
    store.delete("k")
    assert not client.bucket_exists(bucket)
    store.write_bytes("k", b"v")
    assert client.bucket_exists(bucket)


def test_missing_bucket_without_create(client: Minio) -> None:
    bucket = _bucket()
    store = S3Store(bucket, "pre", client=client, create_bucket=False)
    with pytest.raises(StorageError) as info:
        store.write_bytes("k", b"v")
    message = str(info.value)
    assert "NoSuchBucket" in message and f"create bucket {bucket!r}" in message
    assert f"s3://{bucket}/pre/k" in message
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.read_bytes("k")
    assert not client.bucket_exists(bucket)


def test_upload_large_file_uses_fput(
    client: Minio, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trainpipe.storage.s3 as s3_module

    monkeypatch.setattr(s3_module, "LARGE_FILE_THRESHOLD", 1024)
    calls: list[str] = []
    real = client.fput_object

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "fput_object", spy)
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * 4096)
    store = S3Store(_bucket(), "p", client=client)
    store.upload_file(src, "big.bin")
    assert calls == ["p/big.bin"]
    assert store.read_bytes("big.bin") == b"z" * 4096


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wrong_endpoint_error_names_endpoint_not_secret() -> None:
    port = _closed_port()
    secret = "Sup3r-Secret-Value-123"
    settings = s3_settings_from_env(
        {
            "TRAINPIPE_S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "AKIATESTKEY",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
        }
    )
    pool = http_pool(retries=0)
    store = S3Store("some-bucket", "pre", client=s3_client(settings, http=pool), settings=settings)
    assert secret not in repr(store)
    for action in (
        lambda: store.read_bytes("model.bin"),
        lambda: store.write_bytes("model.bin", b"x"),
        lambda: store.put_if_absent("claim", b"x"),
        lambda: store.list(),
    ):
        with pytest.raises(StorageError) as info:
            action()
        message = str(info.value)
        assert f"http://127.0.0.1:{port}" in message
        assert "s3://some-bucket/pre" in message
        assert "connection refused" in message
        assert "reachable" in message
        assert secret not in message
        assert "AKIATESTKEY" not in message


@pytest.mark.parametrize("scheme", ["s3", "minio"])
def test_open_store_end_to_end(s3_env: dict[str, str], scheme: str) -> None:
    bucket = _bucket()
    store = open_store(f"{scheme}://{bucket}/pre")
    assert isinstance(store, S3Store)
    assert store.uri == f"s3://{bucket}/pre"
    store.write_json("run/meta.json", {"ok": True})
    other = open_store(f"{'minio' if scheme == 's3' else 's3'}://{bucket}/pre/run")
    assert other.read_json("meta.json") == {"ok": True}
    assert other.list() == ["meta.json"]
    raw = Minio(
        s3_env["host"],
        access_key=s3_env["access_key"],
        secret_key=s3_env["secret_key"],
        secure=False,
        region=s3_env["region"],
    )
    assert [o.object_name for o in raw.list_objects(bucket, recursive=True)] == [
        "pre/run/meta.json"
    ]


def test_open_store_with_injected_client(s3_server: dict[str, str]) -> None:
    client = Minio(
        s3_server["host"],
        access_key=s3_server["access_key"],
        secret_key=s3_server["secret_key"],
        secure=False,
    )
    bucket = _bucket()
    store = open_store(f"s3://{bucket}", s3_client=client)
    assert isinstance(store, S3Store) and store.client is client
    store.write_bytes("k", b"v")
    assert store.read_bytes("k") == b"v"

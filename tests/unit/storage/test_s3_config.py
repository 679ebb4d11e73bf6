"""S3 client configuration from the environment and S3 error messages (no server needed)."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from minio import Minio
from minio.error import S3Error

from public_api import PublicApiOnly
from trainpipe.errors import StorageError
from trainpipe.storage.factory import open_store
from trainpipe.storage.s3 import (
    S3Settings,
    S3Store,
    s3_client,
    s3_client_from_env,
    s3_settings_from_env,
)

pytestmark = pytest.mark.unit

SECRET = "wJalrXUtnFEMI-very-secret"


def _signed_url(client: Minio) -> Any:
    """A presigned GET, parsed: the client's endpoint and credentials, through its public API."""
    return urlsplit(client.presigned_get_object("bucket", "key"))


@pytest.mark.parametrize(
    ("env", "host", "secure"),
    [
        ({"TRAINPIPE_S3_ENDPOINT": "http://minio:9000"}, "minio:9000", False),
        ({"TRAINPIPE_S3_ENDPOINT": "https://minio:9000/"}, "minio:9000", True),
        ({"TRAINPIPE_S3_ENDPOINT": "minio:9000"}, "minio:9000", True),
        (
            {"TRAINPIPE_S3_ENDPOINT": "minio:9000", "TRAINPIPE_S3_SECURE": "false"},
            "minio:9000",
            False,
        ),
        (
            {"TRAINPIPE_S3_ENDPOINT": "minio:9000", "TRAINPIPE_S3_SECURE": "TRUE"},
            "minio:9000",
            True,
        ),
        # the scheme of the endpoint wins over TRAINPIPE_S3_SECURE
        ({"TRAINPIPE_S3_ENDPOINT": "http://m:1", "TRAINPIPE_S3_SECURE": "true"}, "m:1", False),
        ({"AWS_ENDPOINT_URL": "http://aws-ep:9000"}, "aws-ep:9000", False),
        ({"MINIO_ENDPOINT": "minio-ep:9000"}, "minio-ep:9000", True),
        (
            {"TRAINPIPE_S3_ENDPOINT": "http://a:1", "AWS_ENDPOINT_URL": "http://b:2"},
            "a:1",
            False,
        ),
        ({"AWS_ENDPOINT_URL": "http://b:2", "MINIO_ENDPOINT": "c:3"}, "b:2", False),
        ({"TRAINPIPE_S3_ENDPOINT": "", "MINIO_ENDPOINT": "c:3"}, "c:3", True),
    ],
)
def test_endpoint_and_tls(env: dict[str, str], host: str, secure: bool) -> None:
    settings = s3_settings_from_env(env)
    assert (settings.host, settings.secure) == (host, secure)
    assert settings.endpoint == f"{'https' if secure else 'http'}://{host}"
    url = _signed_url(s3_client_from_env({**env, "AWS_REGION": "us-east-1"}))
    assert (url.scheme, url.netloc) == ("https" if secure else "http", host)


def test_region() -> None:
    env = {"TRAINPIPE_S3_ENDPOINT": "m:1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert s3_settings_from_env(env).region == "eu-west-1"
    env["AWS_REGION"] = "us-west-2"
    assert s3_settings_from_env(env).region == "us-west-2"
    env.update(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY=SECRET)
    credential = parse_qs(_signed_url(s3_client_from_env(env)).query)["X-Amz-Credential"][0]
    assert "/us-west-2/s3/" in credential
    assert s3_settings_from_env({"TRAINPIPE_S3_ENDPOINT": "m:1"}).region is None


@pytest.mark.parametrize(
    ("env", "access_key"),
    [
        ({"AWS_ACCESS_KEY_ID": "aws-key", "AWS_SECRET_ACCESS_KEY": SECRET}, "aws-key"),
        ({"MINIO_ACCESS_KEY": "minio-key", "MINIO_SECRET_KEY": SECRET}, "minio-key"),
        (
            {
                "AWS_ACCESS_KEY_ID": "aws-key",
                "AWS_SECRET_ACCESS_KEY": SECRET,
                "MINIO_ACCESS_KEY": "minio-key",
                "MINIO_SECRET_KEY": "other",
            },
            "aws-key",
        ),
    ],
)
def test_credentials(env: dict[str, str], access_key: str) -> None:
    full_env = {"TRAINPIPE_S3_ENDPOINT": "m:1", "AWS_REGION": "us-east-1", **env}
    settings = s3_settings_from_env(full_env)
    assert settings.access_key == access_key
    assert settings.secret_key == SECRET
    assert SECRET not in repr(settings)
    query = parse_qs(_signed_url(s3_client_from_env(full_env)).query)
    assert query["X-Amz-Credential"][0].startswith(f"{access_key}/")


def test_anonymous_without_credentials() -> None:
    settings = s3_settings_from_env({"TRAINPIPE_S3_ENDPOINT": "m:1", "AWS_REGION": "us-east-1"})
    assert settings.access_key is None and settings.identity() == "no credentials (anonymous)"
    assert "X-Amz-Credential" not in _signed_url(s3_client(settings)).query


@pytest.mark.parametrize(
    ("key", "shown"),
    [("AKIAIOSFODNN7EXAMPLE", "AKIA..."), ("minio", "mi..."), ("ab", "a..."), ("a", "...")],
)
def test_identity_shows_at_most_four_characters_of_the_key(key: str, shown: str) -> None:
    settings = S3Settings(
        host="m:1", secure=False, access_key=key, secret_key=SECRET, key_variable="AWS_X"
    )
    assert settings.identity() == f"AWS_X={shown}"
    assert SECRET not in settings.identity()


def test_missing_endpoint_says_what_to_set() -> None:
    with pytest.raises(StorageError) as info:
        s3_client_from_env({"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ACCESS_KEY_ID": "k"})
    message = str(info.value)
    for name in ("TRAINPIPE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT"):
        assert name in message
    assert SECRET not in message


def test_open_store_without_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRAINPIPE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StorageError, match="TRAINPIPE_S3_ENDPOINT"):
        open_store("s3://bucket/x")


def test_half_credentials_is_an_error() -> None:
    with pytest.raises(StorageError, match="AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID"):
        s3_client_from_env({"TRAINPIPE_S3_ENDPOINT": "m:1", "AWS_SECRET_ACCESS_KEY": SECRET})
    with pytest.raises(StorageError) as info:
        s3_client_from_env({"TRAINPIPE_S3_ENDPOINT": "m:1", "MINIO_SECRET_KEY": SECRET})
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://host:21",
        "http://host:9000/path",
        "http://",
        "http://user:s3cr3t@h:1",
        "user:s3cr3t@h:1",
    ],
)
def test_bad_endpoint(endpoint: str) -> None:
    with pytest.raises(StorageError, match="TRAINPIPE_S3_ENDPOINT") as info:
        s3_client_from_env({"TRAINPIPE_S3_ENDPOINT": endpoint})
    assert "s3cr3t" not in str(info.value)


def test_bad_secure_flag() -> None:
    with pytest.raises(StorageError, match="TRAINPIPE_S3_SECURE"):
        s3_client_from_env({"TRAINPIPE_S3_ENDPOINT": "m:1", "TRAINPIPE_S3_SECURE": "maybe"})


def _settings() -> S3Settings:
    return s3_settings_from_env(
        {
            "TRAINPIPE_S3_ENDPOINT": "http://minio.example:9000",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": "us-east-1",
        }
    )


def _client() -> Minio:
    return s3_client(_settings())


def test_store_basics_and_repr_hide_credentials() -> None:
    store = S3Store("models", "/team//runs/", settings=_settings())
    assert store.uri == "s3://models/team/runs"
    assert store.uri_for("a/b") == "s3://models/team/runs/a/b"
    assert store.endpoint == "http://minio.example:9000"
    assert store.local_path("a") is None
    text = repr(store)
    assert "s3://models/team/runs" in text and "minio.example:9000" in text
    assert SECRET not in text and "AKIAEXAMPLE" not in text
    assert store.child("x").uri == "s3://models/team/runs/x"


def test_invalid_bucket_is_rejected() -> None:
    with pytest.raises(StorageError, match="Bad_Bucket"):
        S3Store("Bad_Bucket", client=_client())


def _s3_error(code: str, message: str) -> S3Error:
    return S3Error(None, code, message, "/r", "req", "host", "models", "k")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NoSuchBucket", ["NoSuchBucket", "create bucket 'models'", "registry.uri"]),
        ("AccessDenied", ["AccessDenied", "check the credentials", "policy"]),
        ("SignatureDoesNotMatch", ["SignatureDoesNotMatch", "check the credentials"]),
        ("InvalidAccessKeyId", ["InvalidAccessKeyId", "check the credentials"]),
        ("NoSuchKey", ["does not exist"]),
        ("SlowDown", ["SlowDown", f"message with {SECRET}".replace(SECRET, "***")]),
    ],
)
def test_s3_error_messages(monkeypatch: pytest.MonkeyPatch, code: str, expected: list[str]) -> None:
    client = _client()
    store = S3Store("models", "p", client=client, settings=_settings())

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise _s3_error(code, f"message with {SECRET}")

    monkeypatch.setattr(client, "get_object", boom)
    with pytest.raises(StorageError) as info:
        store.read_bytes("k.bin")
    message = str(info.value)
    assert "s3://models/p/k.bin" in message
    assert "http://minio.example:9000" in message
    for fragment in expected:
        assert fragment in message
    assert SECRET not in message
    assert "AKIAEXAMPLE" not in message


def test_an_injected_client_without_settings_is_described_as_such() -> None:
    store = S3Store("models", "p", client=_client())
    assert store.endpoint == "<injected client>" and "injected client" in repr(store)


def test_the_store_reads_no_private_attribute_of_its_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Construction, repr, children and error messages use only minio's public API.

    The contract suite over S3 (tests/integration/test_s3_store.py) runs every store
    operation against a server through the same guard.
    """
    proxy = PublicApiOnly(_client())
    store = S3Store("models", "p", client=cast(Minio, proxy), settings=_settings())
    assert "minio.example:9000" in repr(store.child("c"))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise _s3_error("SlowDown", f"message with {SECRET}")

    monkeypatch.setattr(proxy, "get_object", boom)
    with pytest.raises(StorageError, match="SlowDown") as info:
        store.read_bytes("k.bin")
    assert SECRET not in str(info.value)
    assert proxy.private_reads == []

"""Store URI parsing and joining."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainpipe.errors import StorageError
from trainpipe.storage.uri import StoreURI, is_remote_uri, join_uri, parse_uri

pytestmark = pytest.mark.unit


def test_absolute_local_path() -> None:
    assert parse_uri("/data/runs") == StoreURI(scheme="file", path="/data/runs")


def test_relative_local_path_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_uri("runs/exp1") == StoreURI(scheme="file", path=str(tmp_path / "runs" / "exp1"))
    assert parse_uri(".").path == str(tmp_path)
    assert parse_uri("a/../b/").path == str(tmp_path / "b")


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_uri("~/runs").path == str(tmp_path / "runs")


def test_local_path_with_colon_is_a_path() -> None:
    assert parse_uri("/data/run:1").path == "/data/run:1"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///abs/path", "/abs/path"),
        ("file://localhost/abs/path", "/abs/path"),
        ("file:///abs/with%20space/", "/abs/with space"),
        ("FILE:///x", "/x"),
    ],
)
def test_file_uri(uri: str, path: str) -> None:
    assert parse_uri(uri) == StoreURI(scheme="file", path=path)


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://bucket/runs/exp1", "bucket", "runs/exp1"),
        ("s3://bucket/runs/exp1/", "bucket", "runs/exp1"),
        ("s3://my.bucket-01//a//b", "my.bucket-01", "a/b"),
        ("minio://bucket/pre", "bucket", "pre"),
        ("MINIO://models", "models", ""),
        ("S3://abc/x", "abc", "x"),
    ],
)
def test_s3_uri(uri: str, bucket: str, prefix: str) -> None:
    parsed = parse_uri(uri)
    assert parsed == StoreURI(scheme="s3", bucket=bucket, prefix=prefix)
    assert parsed.is_remote


def test_canonical_str() -> None:
    assert str(parse_uri("minio://b-1/x/y/")) == "s3://b-1/x/y"
    assert str(parse_uri("s3://b-1")) == "s3://b-1"
    assert str(parse_uri("file:///a/b")) == "/a/b"


def test_store_uri_is_frozen() -> None:
    parsed = parse_uri("s3://bucket/x")
    with pytest.raises(AttributeError):
        parsed.bucket = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("minio://", "no bucket"),
        ("gs://bucket/x", "unknown scheme 'gs://'"),
        ("http://host/x", "unknown scheme 'http://'"),
        ("hdfs://nn/x", "unknown scheme"),
        ("s3://Bucket/x", "lowercase"),
        ("s3://my_bucket", "lowercase"),
        ("s3://ab", "3 to 63"),
        ("s3://" + "a" * 64, "3 to 63"),
        ("s3://-bucket", "start and end"),
        ("s3://bucket-", "start and end"),
        ("s3://my..bucket", "'..'"),
        ("s3://my.-bucket", "'..'"),
        ("s3://192.168.1.10", "IP address"),
        ("s3://xn--bucket", "reserves"),
        ("s3://bucket-s3alias", "reserves"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/./b", "'.'"),
        ("s3://bucket/x?versionId=1", "query"),
        ("file://relative/path", "absolute path"),
        ("file://host/abs", "absolute path"),
    ],
)
def test_rejected_uris(uri: str, why: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_uri(uri)
    message = str(info.value)
    assert repr(uri.strip()) in message or repr(uri) in message
    assert why in message
    assert "s3://bucket/prefix" in message and "minio://bucket/prefix" in message
    assert "file:///abs/path" in message


def test_rejected_uri_hides_userinfo() -> None:
    with pytest.raises(StorageError) as info:
        parse_uri("s3://AKIAKEY:supersecret@bucket/x")
    assert "supersecret" not in str(info.value)
    assert "AKIAKEY" not in str(info.value)


@pytest.mark.parametrize(
    ("uri", "remote"),
    [
        ("s3://bucket/x", True),
        ("minio://bucket", True),
        ("/abs", False),
        ("rel/path", False),
        ("file:///abs", False),
    ],
)
def test_is_remote_uri(uri: str, remote: bool) -> None:
    assert is_remote_uri(uri) is remote


def test_is_remote_uri_rejects_bad_uri() -> None:
    with pytest.raises(StorageError):
        is_remote_uri("gs://bucket")


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("s3://bkt/runs", ("exp1", "model/"), "s3://bkt/runs/exp1/model"),
        ("s3://bkt/runs/", ("/exp1/",), "s3://bkt/runs/exp1"),
        ("s3://bkt", ("a/b", "c"), "s3://bkt/a/b/c"),
        ("minio://bkt/p", ("x",), "minio://bkt/p/x"),
        ("/data/runs", ("exp1", "m.json"), "/data/runs/exp1/m.json"),
        ("rel", ("x",), "rel/x"),
        ("file:///data", ("x",), "file:///data/x"),
        ("file:///", ("x",), "file:///x"),
        ("s3://bkt/p", (), "s3://bkt/p"),
        ("s3://bkt/p", ("", "./"), "s3://bkt/p"),
    ],
)
def test_join_uri(base: str, parts: tuple[str, ...], expected: str) -> None:
    assert join_uri(base, *parts) == expected


def test_join_uri_round_trips_through_parse(tmp_path: Path) -> None:
    joined = join_uri(str(tmp_path), "a", "b")
    assert parse_uri(joined).path == os.path.join(str(tmp_path), "a", "b")
    assert parse_uri(join_uri("s3://bkt/p", "q")).prefix == "p/q"


@pytest.mark.parametrize("part", ["..", "a/../b", "../x"])
def test_join_uri_rejects_dotdot(part: str) -> None:
    with pytest.raises(StorageError, match=r"'\.\.'"):
        join_uri("s3://bucket/p", part)


def test_join_uri_rejects_bad_base() -> None:
    with pytest.raises(StorageError, match="gs://"):
        join_uri("gs://b", "x")

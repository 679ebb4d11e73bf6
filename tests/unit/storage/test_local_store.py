"""LocalStore: the shared object-store contract plus local-only behaviour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage_contract import ObjectStoreContract
from trainpipe.errors import StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.local import TEMP_PREFIX, LocalStore

pytestmark = pytest.mark.unit


class TestLocalStore(ObjectStoreContract):
    """Runs the contract over a LocalStore in a fresh temporary directory."""

    has_local_paths = True

    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return LocalStore(tmp_path / "store")

    def break_writes(self, store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
        def half_then_fail(self: LocalStore, fd: int, data: bytes) -> None:
            os.write(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(LocalStore, "_write_temp", half_then_fail)


def test_failed_write_leaves_no_temp_files_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("d/k", b"old")

    def fail(self: LocalStore, fd: int, data: bytes) -> None:
        os.write(fd, data[:3])
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(LocalStore, "_write_temp", fail)
    with pytest.raises(StorageError, match=r"cannot write .*d/k: Input/output error"):
        store.write_bytes("d/k", b"new content")
    assert sorted(os.listdir(tmp_path / "d")) == ["k"]
    assert (tmp_path / "d" / "k").read_bytes() == b"old"


def test_directory_is_created_on_first_write(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = LocalStore(root)
    assert not root.exists()
    assert store.list() == []
    assert not store.exists("k")
    assert not root.exists()
    store.write_text("k", "v")
    assert (root / "k").read_text() == "v"


def test_root_is_absolute_and_uri_is_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStore("rel/dir")
    assert store.root == tmp_path / "rel" / "dir"
    assert store.uri == str(tmp_path / "rel" / "dir")
    assert store.uri_for("a/b") == str(tmp_path / "rel" / "dir" / "a" / "b")
    assert store.local_path("a/b") == tmp_path / "rel" / "dir" / "a" / "b"
    assert repr(store) == f"LocalStore({str(tmp_path / 'rel' / 'dir')!r})"
    assert store == LocalStore(tmp_path / "rel" / "dir")


def test_list_skips_leftover_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("a/k", b"1")
    (tmp_path / "a" / f"{TEMP_PREFIX}k.deadbeef").write_bytes(b"partial")
    assert store.list() == ["a/k"]


def test_written_files_respect_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        LocalStore(tmp_path).write_bytes("k", b"1")
    finally:
        os.umask(old)
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o644


def test_read_a_directory_is_an_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("dir/k", b"1")
    with pytest.raises(StorageError, match="is a directory"):
        store.read_bytes("dir")
    store.delete("dir")  # not an object: left alone
    assert store.list() == ["dir/k"]


def test_write_under_a_file_is_an_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("f", b"1")
    with pytest.raises(StorageError, match=r"cannot write .*f/g"):
        store.write_bytes("f/g", b"2")


def test_open_store_local_forms(tmp_path: Path) -> None:
    for uri in [str(tmp_path), f"file://{tmp_path}"]:
        store = open_store(uri)
        assert isinstance(store, LocalStore)
        assert store.root == tmp_path
    open_store(str(tmp_path)).write_bytes("x", b"1")
    assert open_store(f"file://{tmp_path}").read_bytes("x") == b"1"


def test_open_store_rejects_bad_uri() -> None:
    with pytest.raises(StorageError, match="gs://"):
        open_store("gs://bucket/x")

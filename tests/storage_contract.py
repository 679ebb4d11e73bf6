"""The behavioural contract every :class:`trainpipe.storage.ObjectStore` must honour.

Reuse it by subclassing and providing the ``store`` fixture (an empty store)::

    class TestMyStore(ObjectStoreContract):
        @pytest.fixture
        def store(self, tmp_path): return MyStore(tmp_path)

Override :meth:`ObjectStoreContract.break_writes` to let the atomic-write test inject a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainpipe.errors import StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.uri import join_uri

INVALID_KEYS = ["", "/abs/key", "../escape", "a/../b", "a/..", "a//b", "a/", "./a"]


class ObjectStoreContract:
    """Contract tests; each ``Test*`` subclass defines a ``store`` fixture (an empty store)."""

    #: True when ``store.local_path`` returns real paths (local stores), False for remote ones.
    has_local_paths: bool = False

    def break_writes(self, store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make the next ``write_bytes`` on ``store`` fail part-way; skip when unsupported."""
        pytest.skip("this store gives no way to inject a write failure")

    # -- basics --------------------------------------------------------------------------------

    def test_is_an_object_store(self, store: ObjectStore) -> None:
        assert isinstance(store, ObjectStore)
        assert isinstance(store.uri, str) and store.uri

    def test_empty_store_lists_nothing(self, store: ObjectStore) -> None:
        assert store.list() == []
        assert not store.exists("anything")

    def test_bytes_round_trip(self, store: ObjectStore) -> None:
        data = bytes(range(256)) * 4
        store.write_bytes("blob.bin", data)
        assert store.read_bytes("blob.bin") == data

    def test_empty_bytes_round_trip(self, store: ObjectStore) -> None:
        store.write_bytes("empty", b"")
        assert store.read_bytes("empty") == b""
        assert store.exists("empty")

    def test_large_bytes_round_trip(self, store: ObjectStore) -> None:
        data = bytes(range(251)) * (6 * 1024 * 1024 // 251 + 1)  # > 5 MiB, one S3 part
        store.write_bytes("big/blob.bin", data)
        assert store.read_bytes("big/blob.bin") == data

    def test_text_round_trip(self, store: ObjectStore) -> None:
        text = "héllo wörld ✓\nsecond line\n"
        store.write_text("notes/readme.txt", text)
        assert store.read_text("notes/readme.txt") == text
        assert store.read_bytes("notes/readme.txt") == text.encode("utf-8")

    def test_json_round_trip_and_format(self, store: ObjectStore) -> None:
        obj = {"b": [1, 2.5, None, True], "a": {"nested": "value"}, "c": "ü"}
        store.write_json("meta/run.json", obj)
        assert store.read_json("meta/run.json") == obj
        assert store.read_text("meta/run.json") == json.dumps(obj, indent=2, sort_keys=True) + "\n"

    def test_write_json_rejects_unserialisable(self, store: ObjectStore) -> None:
        with pytest.raises(StorageError, match=r"bad\.json"):
            store.write_json("bad.json", {"x": object()})
        assert not store.exists("bad.json")

    def test_read_json_rejects_garbage(self, store: ObjectStore) -> None:
        store.write_text("garbage.json", "{not json")
        with pytest.raises(StorageError, match=r"garbage\.json.*not valid JSON"):
            store.read_json("garbage.json")

    def test_overwrite(self, store: ObjectStore) -> None:
        store.write_bytes("k", b"first version, longer")
        store.write_bytes("k", b"second")
        assert store.read_bytes("k") == b"second"
        assert store.list() == ["k"]

    def test_exists(self, store: ObjectStore) -> None:
        store.write_bytes("dir/file.txt", b"x")
        assert store.exists("dir/file.txt")
        assert not store.exists("dir/other.txt")
        assert not store.exists("dir")  # a "directory" is not an object

    # -- listing -------------------------------------------------------------------------------

    def test_list_is_sorted_recursive_and_relative(self, store: ObjectStore) -> None:
        keys = ["z.txt", "a/d.txt", "ab.txt", "a/b/c.txt", "a/b/e/f.bin", "m/n"]
        for key in keys:
            store.write_bytes(key, key.encode())
        assert store.list() == sorted(keys)

    def test_list_prefix_is_a_directory(self, store: ObjectStore) -> None:
        for key in ["a/b/c.txt", "a/d.txt", "ab.txt", "abc/x"]:
            store.write_bytes(key, b"1")
        assert store.list("a") == ["a/b/c.txt", "a/d.txt"]
        assert store.list("a/") == ["a/b/c.txt", "a/d.txt"]
        assert store.list("a/b") == ["a/b/c.txt"]
        assert store.list("missing") == []
        assert store.list("ab.txt") == []

    def test_list_rejects_bad_prefix(self, store: ObjectStore) -> None:
        for prefix in ["../x", "/abs", "a/../b"]:
            with pytest.raises(StorageError, match="invalid"):
                store.list(prefix)

    # -- delete --------------------------------------------------------------------------------

    def test_delete(self, store: ObjectStore) -> None:
        store.write_bytes("a/x", b"1")
        store.write_bytes("a/y", b"2")
        store.delete("a/x")
        assert not store.exists("a/x")
        assert store.list() == ["a/y"]
        with pytest.raises(StorageError):
            store.read_bytes("a/x")

    def test_delete_missing_is_not_an_error(self, store: ObjectStore) -> None:
        store.delete("never/written")
        store.write_bytes("k", b"1")
        store.delete("k")
        store.delete("k")
        assert store.list() == []

    # -- errors and validation -----------------------------------------------------------------

    def test_size_and_byte_ranges(self, store: ObjectStore) -> None:
        data = bytes(range(256)) * 40
        store.write_bytes("blob.bin", data)
        assert store.size("blob.bin") == len(data)
        assert store.read_range("blob.bin", 0, 10) == data[:10]
        assert store.read_range("blob.bin", 1000, 517) == data[1000:1517]
        assert store.read_range("blob.bin", len(data) - 3, 100) == data[-3:]
        assert store.read_range("blob.bin", len(data), 5) == b""
        assert store.read_range("blob.bin", 7, 0) == b""
        with pytest.raises(ValueError, match="start >= 0"):
            store.read_range("blob.bin", -1, 5)
        missing = (lambda: store.size("no/such.bin"), lambda: store.read_range("no/such.bin", 0, 4))
        for call in missing:
            with pytest.raises(StorageError, match="does not exist") as info:
                call()
            assert "no/such.bin" in str(info.value)

    def test_missing_key_error_names_the_key(self, store: ObjectStore) -> None:
        with pytest.raises(StorageError) as info:
            store.read_bytes("no/such/key.bin")
        message = str(info.value)
        assert "no/such/key.bin" in message
        assert store.uri_for("no/such/key.bin") in message
        assert "does not exist" in message
        with pytest.raises(StorageError, match="does not exist"):
            store.read_text("no/such/key.txt")
        with pytest.raises(StorageError, match="does not exist"):
            store.read_json("no/such/key.json")

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_are_rejected(self, store: ObjectStore, key: str, tmp_path: Path) -> None:
        local = tmp_path / "f"
        local.write_bytes(b"x")
        calls = [
            lambda: store.read_bytes(key),
            lambda: store.write_bytes(key, b"x"),
            lambda: store.write_text(key, "x"),
            lambda: store.write_json(key, {}),
            lambda: store.exists(key),
            lambda: store.delete(key),
            lambda: store.upload_file(local, key),
            lambda: store.download_file(key, tmp_path / "out"),
            lambda: store.local_path(key),
            lambda: store.uri_for(key),
        ]
        for call in calls:
            with pytest.raises(StorageError, match="invalid object key") as info:
                call()
            assert repr(key) in str(info.value)
        assert store.list() == []
        assert not (tmp_path / "out").exists()

    # -- files and directories -----------------------------------------------------------------

    def test_upload_and_download_file(self, store: ObjectStore, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(b"payload" * 1000)
        store.upload_file(src, "files/src.bin")
        store.upload_file(str(src), "files/again.bin")
        assert store.read_bytes("files/src.bin") == src.read_bytes()
        dest = tmp_path / "deep" / "er" / "dest.bin"
        store.download_file("files/again.bin", dest)
        assert dest.read_bytes() == src.read_bytes()
        assert sorted(p.name for p in dest.parent.iterdir()) == ["dest.bin"]  # no temp left

    def test_download_overwrites_local_file(self, store: ObjectStore, tmp_path: Path) -> None:
        store.write_bytes("k", b"new")
        dest = tmp_path / "dest"
        dest.write_bytes(b"old content")
        store.download_file("k", dest)
        assert dest.read_bytes() == b"new"

    def test_upload_missing_local_file(self, store: ObjectStore, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match=r"nope\.bin"):
            store.upload_file(tmp_path / "nope.bin", "k")
        assert store.list() == []

    def test_download_missing_key(self, store: ObjectStore, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match=r"missing\.bin.*does not exist"):
            store.download_file("missing.bin", tmp_path / "sub" / "out.bin")
        assert not (tmp_path / "sub" / "out.bin").exists()

    def test_upload_and_download_dir(self, store: ObjectStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        (src / "sub" / "deeper").mkdir(parents=True)
        (src / "a.txt").write_text("a")
        (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
        (src / "sub" / "deeper" / "c.json").write_text("{}")
        keys = store.upload_dir(src, "model/v1")
        expected = ["model/v1/a.txt", "model/v1/sub/b.bin", "model/v1/sub/deeper/c.json"]
        assert keys == expected
        assert store.list() == expected
        store.write_bytes("model/v10/other", b"not part of v1")

        out = tmp_path / "out"
        assert store.download_dir("model/v1", out) == expected
        got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert got == ["a.txt", "sub/b.bin", "sub/deeper/c.json"]
        assert (out / "sub" / "b.bin").read_bytes() == b"\x00\x01"

    def test_upload_dir_to_root(self, store: ObjectStore, tmp_path: Path) -> None:
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "x").write_text("x")
        assert store.upload_dir(tmp_path / "d") == ["x"]
        out = tmp_path / "out"
        assert store.download_dir("", out) == ["x"]
        assert (out / "x").read_text() == "x"

    def test_upload_missing_dir(self, store: ObjectStore, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="not an existing directory"):
            store.upload_dir(tmp_path / "missing", "p")

    def test_download_empty_prefix_is_an_error(self, store: ObjectStore, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="no objects"):
            store.download_dir("nothing/here", tmp_path / "out")

    # -- child stores --------------------------------------------------------------------------

    def test_child_store(self, store: ObjectStore) -> None:
        child = store.child("runs/exp1")
        assert isinstance(child, ObjectStore)
        assert child.uri == join_uri(store.uri, "runs/exp1")
        child.write_json("metrics.json", {"loss": 0.5})
        assert store.read_json("runs/exp1/metrics.json") == {"loss": 0.5}
        assert store.list() == ["runs/exp1/metrics.json"]
        assert child.list() == ["metrics.json"]
        assert child.exists("metrics.json")
        assert child.uri_for("metrics.json") == store.uri_for("runs/exp1/metrics.json")

    def test_nested_child_and_trailing_slash(self, store: ObjectStore) -> None:
        grandchild = store.child("a/").child("b")
        grandchild.write_bytes("k", b"v")
        assert store.list() == ["a/b/k"]
        assert store.child("a").list("b") == ["b/k"]
        grandchild.delete("k")
        assert store.list() == []

    def test_child_rejects_bad_prefix(self, store: ObjectStore) -> None:
        for prefix in ["", "../up", "/abs", "a/../b"]:
            with pytest.raises(StorageError):
                store.child(prefix)

    def test_local_path(self, store: ObjectStore) -> None:
        store.write_bytes("p/k.bin", b"data")
        path = store.local_path("p/k.bin")
        if self.has_local_paths:
            assert path is not None
            assert path.is_absolute()
            assert path.read_bytes() == b"data"
        else:
            assert path is None

    # -- atomicity -----------------------------------------------------------------------------

    def test_failed_write_keeps_old_content(
        self, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.write_bytes("state.json", b'{"v": 1}')
        self.break_writes(store, monkeypatch)
        with pytest.raises(StorageError, match=r"state\.json"):
            store.write_bytes("state.json", b'{"v": 2, "padding": "' + b"x" * 100_000 + b'"}')
        with pytest.raises(StorageError):
            store.write_bytes("fresh.json", b"never fully written")
        monkeypatch.undo()
        assert store.read_bytes("state.json") == b'{"v": 1}'
        assert store.list() == ["state.json"]
        assert not store.exists("fresh.json")

    # -- create-if-absent ----------------------------------------------------------------------

    def test_put_if_absent_creates_once(self, store: ObjectStore) -> None:
        assert store.put_if_absent("claims/1", b"first") is True
        assert store.put_if_absent("claims/1", b"second") is False
        assert store.read_bytes("claims/1") == b"first"
        assert store.list("claims") == ["claims/1"]

    def test_put_if_absent_has_exactly_one_winner_under_contention(
        self, store: ObjectStore
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def claim(i: int) -> bool:
            return store.put_if_absent("claims/race", str(i).encode())

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(claim, range(16)))
        assert results.count(True) == 1
        winner = results.index(True)
        assert store.read_bytes("claims/race") == str(winner).encode()

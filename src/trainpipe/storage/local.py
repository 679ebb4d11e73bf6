"""An object store backed by a local directory."""

from __future__ import annotations

import builtins
import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from trainpipe.errors import StorageError
from trainpipe.storage.base import (
    BaseStore,
    check_range,
    join_key,
    normalize_prefix,
    validate_key,
)

__all__ = ["TEMP_PREFIX", "LocalStore", "atomic_write_file"]

#: Name prefix of the temporary files writes go through; :meth:`LocalStore.list` skips them.
TEMP_PREFIX = ".trainpipe-tmp-"
_CHUNK = 1024 * 1024


def _temp_path(target: Path) -> Path:
    return target.with_name(f"{TEMP_PREFIX}{target.name}.{uuid.uuid4().hex}")


def atomic_write_file(target: Path, write: Callable[[int], None]) -> None:
    """Create ``target`` atomically: ``write(fd)`` fills a temp file next to it, then rename.

    The parent directory is created. On any failure the temp file is removed and the previous
    content of ``target`` (if any) is left untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            write(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LocalStore(BaseStore):
    """An object store in a local directory; keys map to files below ``root``.

    The directory is created on first write. Writes go to a temp file in the target directory
    and are renamed into place, so readers never see partial objects.
    """

    def __init__(self, root: str | Path) -> None:
        """Root the store at ``root`` (made absolute; it need not exist yet)."""
        self.root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        self.uri = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalStore) and other.root == self.root

    def __hash__(self) -> int:
        return hash(("LocalStore", self.root))

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _write_temp(self, fd: int, data: bytes) -> None:
        """Write ``data`` into the open temp file ``fd`` (a seam for failure-injection tests)."""
        _write_all(fd, data)

    def local_path(self, key: str) -> Path:
        """The filesystem path of ``key`` (which may not exist yet)."""
        return self._path(key)

    def read_bytes(self, key: str) -> bytes:
        """Return the content of ``key``; a missing key raises :class:`StorageError`."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist (no object {key!r} in {self.uri})") from None
        except IsADirectoryError:
            raise StorageError(
                f"{path} is a directory, not an object (use list({key!r}) to see its keys)"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def size(self, key: str) -> int:
        """The length of ``key``'s file in bytes."""
        path = self._path(key)
        try:
            if path.is_dir():
                raise StorageError(f"{path} is a directory, not an object")
            return path.stat().st_size
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist (no object {key!r} in {self.uri})") from None

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key``'s file from offset ``start`` (fewer at its end)."""
        check_range(start, length)
        path = self._path(key)
        try:
            with path.open("rb") as file:
                file.seek(start)
                return file.read(length)
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist (no object {key!r} in {self.uri})") from None
        except IsADirectoryError:
            raise StorageError(f"{path} is a directory, not an object") from None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically create or replace ``key`` (temp file in the same directory + rename)."""
        path = self._path(key)
        payload = bytes(data)
        try:
            atomic_write_file(path, lambda fd: self._write_temp(fd, payload))
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if absent: the complete temp file is hard-linked into place, and
        ``link`` fails atomically when the target exists (POSIX, including NFS v3+)."""
        path = self._path(key)
        payload = bytes(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{uuid.uuid4().hex}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                self._write_temp(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        except OSError as exc:
            raise StorageError(f"cannot create {path}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def exists(self, key: str) -> bool:
        """True when a file is stored at ``key``."""
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> builtins.list[str]:
        """All keys under the ``prefix`` directory (recursively), relative to the root, sorted.

        In-flight temp files of concurrent writes are never listed.
        """
        prefix = normalize_prefix(prefix)
        base = self.root.joinpath(*prefix.split("/")) if prefix else self.root
        if not base.is_dir():
            return []
        keys: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                keys.append(join_key(prefix, rel))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key (or a directory) is left alone."""
        path = self._path(key)
        if path.is_dir():
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror or exc}") from exc

    def upload_file(self, local_path: str | Path, key: str) -> None:
        """Copy the local file ``local_path`` to ``key`` atomically."""
        target = self._path(key)
        source = Path(local_path)
        if not source.is_file():
            raise StorageError(f"cannot upload {source} to {target}: it is not an existing file")
        try:
            _copy_atomic(source, target)
        except OSError as exc:
            raise StorageError(
                f"cannot upload {source} to {target}: {exc.strerror or exc}"
            ) from exc

    def download_file(self, key: str, local_path: str | Path) -> None:
        """Copy ``key`` to ``local_path`` atomically, creating parent directories."""
        source = self._path(key)
        target = Path(local_path)
        if not source.is_file():
            raise StorageError(f"{source} does not exist (no object {key!r} in {self.uri})")
        try:
            _copy_atomic(source, target)
        except OSError as exc:
            raise StorageError(
                f"cannot download {source} to {target}: {exc.strerror or exc}"
            ) from exc

    def child(self, prefix: str) -> LocalStore:
        """A local store rooted at the ``prefix`` subdirectory."""
        prefix = normalize_prefix(prefix)
        if not prefix:
            raise StorageError("child() needs a non-empty prefix")
        return LocalStore(self.root.joinpath(*prefix.split("/")))


def _copy_atomic(source: Path, target: Path) -> None:
    def fill(fd: int) -> None:
        with source.open("rb") as src:
            while chunk := src.read(_CHUNK):
                _write_all(fd, chunk)

    atomic_write_file(target, fill)

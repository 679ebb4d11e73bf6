"""The object-store interface shared by the local and S3 implementations.

Keys are '/'-separated paths relative to the root of a store (``runs/exp1/metrics.json``). They
are validated before any I/O: empty keys, absolute keys, empty, ``.`` and ``..`` segments are
rejected with a :class:`StorageError` naming the key.
"""

from __future__ import annotations

import builtins
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from trainpipe.errors import StorageError

__all__ = ["BaseStore", "ObjectStore", "normalize_prefix", "validate_key"]


def validate_key(key: str) -> str:
    """Return ``key`` when it is a valid relative object key, else raise :class:`StorageError`."""
    if not isinstance(key, str) or not key:
        raise StorageError(f"invalid object key {key!r}: it must be a non-empty string")
    if key.startswith("/"):
        raise StorageError(f"invalid object key {key!r}: it must be relative, not absolute")
    if "\x00" in key:
        raise StorageError(f"invalid object key {key!r}: it must not contain NUL characters")
    for seg in key.split("/"):
        if seg == "..":
            raise StorageError(f"invalid object key {key!r}: '..' segments are not allowed")
        if seg in ("", "."):
            raise StorageError(
                f"invalid object key {key!r}: empty or '.' segments are not allowed "
                "(no '//', './' or trailing '/')"
            )
    return key


def normalize_prefix(prefix: str) -> str:
    """Validate a key prefix and strip its trailing slashes; ``""`` means the whole store."""
    if not isinstance(prefix, str):
        raise StorageError(f"invalid key prefix {prefix!r}: it must be a string")
    stripped = prefix.rstrip("/")
    if not stripped:
        if prefix:
            raise StorageError(f"invalid key prefix {prefix!r}: it must be relative, not absolute")
        return ""
    return validate_key(stripped)


def join_key(prefix: str, key: str) -> str:
    """Join a (normalized, possibly empty) prefix and a key with '/'."""
    return f"{prefix}/{key}" if prefix else key


def check_range(start: int, length: int) -> None:
    """Refuse a byte range that starts before the object or has a negative length."""
    if start < 0 or length < 0:
        raise ValueError(f"a byte range needs start >= 0 and length >= 0; got {start}, {length}")


@runtime_checkable
class ObjectStore(Protocol):
    """A flat key -> bytes store rooted at :attr:`uri` (a local directory or an S3 prefix)."""

    uri: str

    def uri_for(self, key: str) -> str:
        """The full URI (or local path) of ``key``, for messages and hand-offs."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """Return the content of ``key``; a missing key raises :class:`StorageError`."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically create or replace ``key``: readers never see a partial object."""
        ...

    def size(self, key: str) -> int:
        """The length of ``key``'s content in bytes; a missing key raises
        :class:`StorageError`."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from offset ``start`` (fewer at the end of the object),
        without reading the rest: how a Parquet file in a bucket is read one row group at a
        time."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if nothing is stored there; False when it already exists.

        Atomic across processes and machines: of many concurrent callers exactly one wins.
        """
        ...

    def read_text(self, key: str) -> str:
        """Return the UTF-8 text content of ``key``."""
        ...

    def write_text(self, key: str, text: str) -> None:
        """Atomically write ``text`` to ``key`` as UTF-8."""
        ...

    def read_json(self, key: str) -> Any:
        """Return the decoded JSON content of ``key``."""
        ...

    def write_json(self, key: str, obj: Any) -> None:
        """Atomically write ``obj`` to ``key`` as JSON (indent=2, sorted keys)."""
        ...

    def exists(self, key: str) -> bool:
        """True when an object is stored at ``key``."""
        ...

    def list(self, prefix: str = "") -> builtins.list[str]:
        """All keys under the ``prefix`` directory (recursively), relative to the root, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""
        ...

    def upload_file(self, local_path: str | Path, key: str) -> None:
        """Store the content of the local file ``local_path`` at ``key``."""
        ...

    def download_file(self, key: str, local_path: str | Path) -> None:
        """Write ``key`` to ``local_path`` atomically, creating parent directories."""
        ...

    def upload_dir(self, local_dir: str | Path, prefix: str = "") -> builtins.list[str]:
        """Upload every file under ``local_dir`` below ``prefix``; return the keys, sorted."""
        ...

    def download_dir(self, prefix: str, local_dir: str | Path) -> builtins.list[str]:
        """Download every key under ``prefix`` into ``local_dir``; return the keys, sorted."""
        ...

    def child(self, prefix: str) -> ObjectStore:
        """A store of the same kind rooted at ``prefix`` inside this one."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The filesystem path of ``key`` for local stores, None for remote ones."""
        ...


class BaseStore(ABC):
    """Shared implementation of :class:`ObjectStore`: subclasses provide the byte primitives.

    Text, JSON and directory transfers are built here on top of ``read_bytes``, ``write_bytes``,
    ``list``, ``upload_file`` and ``download_file``.
    """

    uri: str

    def uri_for(self, key: str) -> str:
        """The full URI (or local path) of ``key``."""
        validate_key(key)
        return f"{self.uri.rstrip('/')}/{key}"

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Return the content of ``key``; a missing key raises :class:`StorageError`."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically create or replace ``key``."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The length of ``key``'s content in bytes."""

    @abstractmethod
    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from offset ``start`` (fewer at the end)."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Atomically create ``key`` unless it exists; False when it already existed."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored at ``key``."""

    @abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """All keys under ``prefix`` (recursively), relative to the root, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""

    @abstractmethod
    def upload_file(self, local_path: str | Path, key: str) -> None:
        """Store the content of the local file ``local_path`` at ``key``."""

    @abstractmethod
    def download_file(self, key: str, local_path: str | Path) -> None:
        """Write ``key`` to ``local_path`` atomically, creating parent directories."""

    @abstractmethod
    def child(self, prefix: str) -> ObjectStore:
        """A store of the same kind rooted at ``prefix`` inside this one."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The filesystem path of ``key``, or None for remote stores."""

    def read_text(self, key: str) -> str:
        """Return the UTF-8 text content of ``key``."""
        data = self.read_bytes(key)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StorageError(f"{self.uri_for(key)} is not valid UTF-8 text: {exc}") from exc

    def write_text(self, key: str, text: str) -> None:
        """Atomically write ``text`` to ``key`` as UTF-8."""
        self.write_bytes(key, text.encode("utf-8"))

    def read_json(self, key: str) -> Any:
        """Return the decoded JSON content of ``key``."""
        text = self.read_text(key)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StorageError(f"{self.uri_for(key)} is not valid JSON: {exc}") from exc

    def write_json(self, key: str, obj: Any) -> None:
        """Atomically write ``obj`` to ``key`` as JSON (indent=2, sorted keys, final newline)."""
        validate_key(key)
        try:
            text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
        except (TypeError, ValueError) as exc:
            raise StorageError(f"cannot write {self.uri_for(key)} as JSON: {exc}") from exc
        self.write_text(key, text)

    def upload_dir(self, local_dir: str | Path, prefix: str = "") -> builtins.list[str]:
        """Upload every file under ``local_dir`` (recursively) below ``prefix``.

        Returns the keys written, sorted. A missing ``local_dir`` raises :class:`StorageError`.
        """
        prefix = normalize_prefix(prefix)
        root = Path(local_dir)
        if not root.is_dir():
            raise StorageError(f"cannot upload {root}: it is not an existing directory")
        files: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in filenames:
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                files.append((join_key(prefix, rel), path))
        files.sort()
        for key, path in files:
            self.upload_file(path, key)
        return [key for key, _ in files]

    def download_dir(self, prefix: str, local_dir: str | Path) -> builtins.list[str]:
        """Download every key under ``prefix`` into ``local_dir``, keeping the layout below it.

        Returns the keys downloaded, sorted. Nothing under ``prefix`` raises
        :class:`StorageError` (a wrong prefix should not look like an empty download).
        """
        prefix = normalize_prefix(prefix)
        keys = self.list(prefix)
        if not keys:
            where = self.uri_for(prefix) if prefix else self.uri
            raise StorageError(f"cannot download {where}: there are no objects under it")
        root = Path(local_dir)
        for key in keys:
            rel = key[len(prefix) + 1 :] if prefix else key
            self.download_file(key, root / rel)
        return keys

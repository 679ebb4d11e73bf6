"""The user's ``code:`` folder as one deterministic, content-addressed archive.

``trainpipe run``, ``submit``, ``train`` and ``tune`` pack the folder once (:func:`ship_code`):
the files in name order, with fixed times, owners and modes, in a gzip stream without a
timestamp, so the same sources always give the same bytes and the same digest. The archive goes
beside the registry (``<registry.uri>/code/sha256-<hex>.tar.gz``): every step and training pod can
already read that store, and a registered model needs its code long after the run's artifacts are
gone. The config passed on names the archive and its digest; readers fetch and verify it
(:mod:`trainpipe.usercode.activation`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trainpipe.errors import UserCodeError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri

__all__ = [
    "ARCHIVE_PREFIX",
    "MAX_CODE_BYTES",
    "CodeArchive",
    "archive_digest",
    "pack_code",
    "publish_code",
    "read_archive",
    "ship_code",
]

MAX_CODE_BYTES = 50 * 1024 * 1024
"""The largest ``code:`` folder trainpipe packs (files summed, before compression): code, not
data or weights, which belong in the artifact store."""
ARCHIVE_PREFIX = "code"
"""Where archives live under the registry root."""
_SKIPPED = {"__pycache__", ".git", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True, kw_only=True)
class CodeArchive:
    """A packed ``code:`` folder: where it is stored and its digest (``sha256:<hex>``)."""

    uri: str
    digest: str


def archive_digest(data: bytes) -> str:
    """``sha256:<hex>`` of the archive bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in _SKIPPED or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.is_file() and not path.name.endswith(_SKIPPED_SUFFIXES):
            found.append(path)
    return found


def _check_sources(folder: Path, files: list[Path]) -> None:
    total = sum(path.stat().st_size for path in files)
    if total > MAX_CODE_BYTES:
        largest = max(files, key=lambda path: path.stat().st_size)
        raise UserCodeError(
            f"code: folder {folder} holds {total / 2**20:.1f} MiB, over the "
            f"{MAX_CODE_BYTES // 2**20} MiB limit (largest: {largest.relative_to(folder)}, "
            f"{largest.stat().st_size / 2**20:.1f} MiB); keep data and weights in the artifact "
            "store and only code in the folder"
        )
    for path in files:
        if path.suffix != ".py":
            continue
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise UserCodeError(
                f"code: folder {folder}: {path.relative_to(folder)} line {exc.lineno} has a "
                f"syntax error: {exc.msg}; fix it before the run starts"
            ) from exc


def pack_code(folder: str | Path) -> bytes:
    """The deterministic ``.tar.gz`` of ``folder`` (caches, VCS and virtualenvs left out).

    Raises:
        UserCodeError: the folder is missing, holds no file, is over :data:`MAX_CODE_BYTES`, or
            a Python file in it does not compile (named with its line).
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise UserCodeError(
            f"code: folder {folder} does not exist (or is not a folder); set code: to the folder "
            "that holds your package (a relative path is relative to the config file)"
        )
    files = _files(folder)
    if not files:
        raise UserCodeError(
            f"code: folder {folder} is empty; point code: at the folder with your package"
        )
    _check_sources(folder, files)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in files:
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _split(uri: str) -> tuple[str, str]:
    parent, _, name = uri.rstrip("/").rpartition("/")
    return parent, name


def publish_code(data: bytes, registry_uri: str) -> CodeArchive:
    """Store the archive under ``<registry_uri>/code/`` by its digest (once) and name it."""
    digest = archive_digest(data)
    name = f"sha256-{digest.split(':', 1)[1]}.tar.gz"
    store = open_store(registry_uri).child(ARCHIVE_PREFIX)
    store.put_if_absent(name, data)
    return CodeArchive(uri=f"{registry_uri.rstrip('/')}/{ARCHIVE_PREFIX}/{name}", digest=digest)


def read_archive(archive: CodeArchive) -> bytes:
    """The archive's bytes, verified against its digest.

    Raises:
        UserCodeError: the archive is missing or its bytes do not have the recorded digest.
    """
    parent, name = _split(archive.uri)
    store = open_store(parent)
    if not store.exists(name):
        raise UserCodeError(
            f"the code archive {archive.uri} ({archive.digest}) is missing; run again with "
            "code: set to the folder so it is packed anew"
        )
    data = store.read_bytes(name)
    actual = archive_digest(data)
    if actual != archive.digest:
        raise UserCodeError(
            f"the code archive {archive.uri} has digest {actual}, not the recorded "
            f"{archive.digest}: it was changed after packing; run again to pack the code anew"
        )
    return data


def _download_folder(uri: str, into: Path) -> Path:
    store = open_store(uri)
    for key in store.list():
        target = into / key
        target.parent.mkdir(parents=True, exist_ok=True)
        store.download_file(key, target)
    return into


def ship_code(code: str, registry_uri: str) -> CodeArchive:
    """Pack the ``code:`` folder (a local path, or an S3 URI of a folder) and publish it."""
    if is_remote_uri(code):
        with tempfile.TemporaryDirectory(prefix="trainpipe-code-") as tmp:
            return publish_code(pack_code(_download_folder(code, Path(tmp))), registry_uri)
    return publish_code(pack_code(code), registry_uri)

"""Fetch a packed ``code:`` archive by digest and put it on ``sys.path`` before any import.

Archives are unpacked once per machine into a cache keyed by digest (``TRAINPIPE_CODE_CACHE``,
default ``~/.cache/trainpipe/code``): a folder with a ``pyproject.toml`` is installed with
``pip install --no-deps --target`` into the cache (never into the running environment), a plain
folder goes on the path as it is. Unpacking happens in a temporary folder renamed into place, so
a process killed halfway leaves nothing another process would trust.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.errors import UserCodeError
from trainpipe.usercode.archive import CodeArchive, read_archive, ship_code

__all__ = [
    "CACHE_ENV",
    "activate",
    "activate_code",
    "activate_recorded",
    "code_archive",
    "pack_config_code",
    "run_config",
]

CACHE_ENV = "TRAINPIPE_CODE_CACHE"


def _cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "trainpipe" / "code")


def code_archive(config: RunConfig) -> CodeArchive | None:
    """The archive the config names, or None when the code is in the image."""
    if not config.code_digest:
        return None
    return CodeArchive(uri=config.code, digest=config.code_digest)


def _unpack(archive: CodeArchive, target: Path) -> None:
    data = read_archive(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
    try:
        source = staging / "source"
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(source, filter="data")
        if (source / "pyproject.toml").is_file():
            _install(source, staging / "site", archive)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "source").is_dir():  # not another process that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(source: Path, site: Path, archive: CodeArchive) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise UserCodeError(
            f"installing the code archive {archive.uri} ({archive.digest}) failed: "
            f"{' / '.join(tail)}; check its pyproject.toml"
        )


def activate(archive: CodeArchive) -> Path:
    """Fetch, verify and unpack ``archive`` (once per machine) and put it first on sys.path."""
    target = _cache_root() / archive.digest.replace(":", "-")
    if not (target / "source").is_dir():
        _unpack(archive, target)
    path = target / "site" if (target / "site").is_dir() else target / "source"
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


def activate_code(config: RunConfig) -> Path | None:
    """Activate the config's code archive; None when it names none."""
    archive = code_archive(config)
    return activate(archive) if archive is not None else None


def activate_recorded(description: dict[str, Any]) -> Path | None:
    """Activate the archive a model's ``model.json`` recorded, if any."""
    code = description.get("code") or {}
    if not code.get("digest"):
        return None
    return activate(CodeArchive(uri=str(code["uri"]), digest=str(code["digest"])))


def run_config(config_json: str) -> RunConfig:
    """A component's config, with its code archive activated: parse, fetch, then import."""
    config = RunConfig.from_json(config_json)
    activate_code(config)
    return config


def pack_config_code(config: RunConfig) -> RunConfig:
    """The config with its ``code:`` folder packed and published once: ``code`` then names the
    archive and ``code_digest`` its digest. A config without code, or already packed, is
    returned as it is."""
    if not config.code or config.code_digest:
        return config
    archive = ship_code(config.code, config.registry.uri)
    packed = {"code": archive.uri, "code_digest": archive.digest}
    return config.with_overrides(packed, origin=f"code archive of {config.code}")

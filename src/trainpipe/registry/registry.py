"""A model registry on an ObjectStore: versions 1, 2, 3... per model name, immutable, with lineage.

Layout under the registry root::

    models/<name>/versions/<000001>/model.safetensors, model.json, labels.json, metrics.json
    models/<name>/versions/<000001>/lineage.json
    models/<name>/versions/<000001>/MANIFEST.json   sha256 of every file; written last

A version exists only once its ``MANIFEST.json`` is written, so an interrupted registration never
shows up as a version.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from trainpipe.errors import RegistryError, StorageError
from trainpipe.registry.names import validate_model_name
from trainpipe.storage import ObjectStore, open_store
from trainpipe.train.artifacts import MODEL_FILES

MANIFEST_KEY = "MANIFEST.json"
LINEAGE_KEY = "lineage.json"
_VERSION_DIR = re.compile(r"^(\d{6})/")


@dataclass(kw_only=True)
class ModelVersion:
    """One registered, immutable version of a model."""

    name: str
    version: int
    uri: str
    created: float
    files: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "created": self.created,
            "files": self.files,
            "metrics": self.metrics,
        }


class ModelRegistry:
    """Register and look up model versions on any ObjectStore (local directory or S3/MinIO)."""

    def __init__(self, store: ObjectStore):
        self.store = store

    @classmethod
    def open(cls, uri: str) -> ModelRegistry:
        """Open the registry rooted at a path or URI."""
        return cls(open_store(uri))

    def _versions_store(self, name: str) -> ObjectStore:
        return self.store.child(f"models/{validate_model_name(name)}/versions")

    def register(self, name: str, model_location: str, *, lineage: dict[str, Any]) -> ModelVersion:
        """Copy a trained model into the next version of ``name`` and record its lineage.

        Raises:
            RegistryError: the name is invalid, or the model location lacks a model file.
        """
        versions = self._versions_store(name)
        source = open_store(model_location)
        missing = [key for key in MODEL_FILES if not source.exists(key)]
        if missing:
            raise RegistryError(
                f"cannot register {model_location}: it lacks {missing}; register a model "
                "directory written by trainpipe train"
            )
        payload = {key: source.read_bytes(key) for key in MODEL_FILES}
        payload[LINEAGE_KEY] = _json_bytes(lineage)
        version = self._claim_next(versions)
        target = versions.child(f"{version:06d}")
        for key, data in payload.items():
            target.write_bytes(key, data)
        manifest = {
            "name": name,
            "version": version,
            "created": time.time(),
            "files": {key: hashlib.sha256(data).hexdigest() for key, data in payload.items()},
            "metrics": lineage.get("metrics", {}),
        }
        target.write_json(MANIFEST_KEY, manifest)
        return self._from_manifest(target, manifest)

    def _claim_next(self, versions: ObjectStore) -> int:
        """Claim the next free version number (a claim marker keeps it from being reused)."""
        taken = {int(m.group(1)) for key in versions.list() if (m := _VERSION_DIR.match(key))}
        version = max(taken, default=0) + 1
        claim = f"{version:06d}/.claim"
        if versions.exists(claim):
            raise RegistryError(f"version {version} is being registered concurrently; retry")
        versions.write_text(claim, str(time.time()))
        return version

    def list_models(self) -> list[str]:
        """Names of every model with at least one version."""
        names = set()
        for key in self.store.list("models"):
            parts = key.split("/")
            if len(parts) >= 5 and parts[4] == MANIFEST_KEY:
                names.add(parts[1])
        return sorted(names)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every complete version of ``name``, oldest first."""
        versions = self._versions_store(name)
        found = []
        for key in versions.list():
            match = _VERSION_DIR.match(key)
            if match and key.endswith("/" + MANIFEST_KEY):
                target = versions.child(match.group(1))
                found.append(self._from_manifest(target, target.read_json(MANIFEST_KEY)))
        return sorted(found, key=lambda v: v.version)

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """A version of ``name``; the latest when ``version`` is None."""
        versions = self.list_versions(name)
        if not versions:
            raise RegistryError(f"model {name!r} has no versions in registry {self.store.uri}")
        if version is None:
            return versions[-1]
        for item in versions:
            if item.version == version:
                return item
        known = ", ".join(str(v.version) for v in versions)
        raise RegistryError(f"model {name!r} has no version {version}; versions: {known}")

    def lineage(self, name: str, version: int) -> dict[str, Any]:
        """The lineage recorded with a version."""
        item = self.get(name, version)
        try:
            return open_store(item.uri).read_json(LINEAGE_KEY)
        except StorageError as exc:
            raise RegistryError(f"{name}:{version} has no readable lineage: {exc}") from exc

    @staticmethod
    def _from_manifest(target: ObjectStore, manifest: dict[str, Any]) -> ModelVersion:
        return ModelVersion(
            name=manifest["name"],
            version=int(manifest["version"]),
            uri=target.uri,
            created=float(manifest["created"]),
            files=dict(manifest["files"]),
            metrics=dict(manifest.get("metrics", {})),
        )


def _json_bytes(data: dict[str, Any]) -> bytes:
    import json

    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()

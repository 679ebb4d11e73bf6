"""A model registry on an ObjectStore: numbered immutable versions, aliases with history, lineage.

Layout under the registry root (a local directory or an ``s3://``/``minio://`` prefix)::

    models/<name>/versions/000001/.claim           claims the number (create-if-absent)
    models/<name>/versions/000001/model.safetensors, model.json, labels.json, metrics.json,
                                  model.onnx (parity-checked), lineage.json, MODEL_CARD.md
    models/<name>/versions/000001/MANIFEST.json    sha256 of every file; written last
    models/<name>/aliases/000000001.json           alias events: {"alias", "version", ...}

- **Versions** are claimed with ``put_if_absent`` on ``<n>/.claim``, trying ``max + 1`` upward,
  so concurrent registrations from many processes get distinct consecutive numbers and none is
  lost. A version is visible only once its ``MANIFEST.json`` exists; an interrupted upload leaves
  a claimed number without a manifest, which nothing lists and the next registration skips.
- **Aliases** (``champion``, ``challenger``, any name) are an append-only log of events, each
  created with ``put_if_absent`` under the next sequence number: an alias moves atomically, the
  newest event wins, and the log is its history (``rollback`` walks it back).
- **Integrity**: ``verify`` recomputes every file's sha256 against the manifest; ``load`` verifies
  first and loads weights only (safetensors), so a tampered version never loads.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trainpipe.errors import RegistryError, StorageError
from trainpipe.registry.content import MANIFEST_KEY
from trainpipe.registry.names import validate_model_name
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.train.model_files import MODEL_FILES

if TYPE_CHECKING:  # loading a model needs torch; listing and registering do not
    from trainpipe.train.artifacts import LoadedModel

LINEAGE_KEY = "lineage.json"
ONNX_KEY = "model.onnx"
CLAIM_KEY = ".claim"
_VERSION_DIR = re.compile(r"^(\d{6})/")
_EVENT = re.compile(r"^(\d{9})\.json$")
_REF = re.compile(r"^(?P<name>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[^:@]+))?$")


@dataclass(kw_only=True)
class ModelVersion:
    """One registered, immutable version of a model."""

    name: str
    version: int
    uri: str
    created: float
    files: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    same_model_as: list[int] = field(default_factory=list)
    """Set by :meth:`ModelRegistry.register` only: the earlier versions of the model whose
    model files (weights, description, labels, training metrics) are byte for byte the ones
    just registered (the same model directory registered again)."""

    @property
    def ref(self) -> str:
        """``NAME:VERSION``."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "created": self.created,
            "files": self.files,
            "metrics": self.metrics,
            "aliases": self.aliases,
        }


@dataclass(frozen=True)
class ModelRef:
    """``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a model reference; the name (and alias) are validated."""
        match = _REF.match(text.strip())
        if not match:
            raise RegistryError(
                f"{text!r} is not a model reference: use NAME, NAME:VERSION or NAME@ALIAS"
            )
        name = validate_model_name(match["name"])
        alias = match["alias"]
        if alias is not None:
            validate_model_name(alias, origin="alias")
        return cls(
            name=name, version=int(match["version"]) if match["version"] else None, alias=alias
        )


class ModelRegistry:
    """Register, look up, verify, alias and load model versions on any ObjectStore."""

    def __init__(self, store: ObjectStore):
        self.store = store

    @classmethod
    def open(cls, uri: str) -> ModelRegistry:
        """Open the registry rooted at a path or URI."""
        return cls(open_store(uri))

    def _versions(self, name: str) -> ObjectStore:
        return self.store.child(f"models/{validate_model_name(name)}/versions")

    def _events(self, name: str) -> ObjectStore:
        return self.store.child(f"models/{validate_model_name(name)}/aliases")

    # -- registering ----------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model_location: str,
        *,
        lineage: dict[str, Any],
        extra_files: dict[str, bytes] | None = None,
        onnx: Literal["optional", "required"] = "optional",
    ) -> ModelVersion:
        """Copy a trained model into the next version of ``name``, with lineage and model card.

        Everything is read and checked before a number is claimed, so bad input costs nothing.
        The ONNX export is parity-checked; one that fails is left out, its reason recorded in
        the lineage (``onnx``) and the model card, unless ``onnx="required"``. A model whose
        files an earlier version holds byte for byte is registered all the same (a person may
        mean it); the returned version names those in ``same_model_as``.

        Raises:
            RegistryError: the name is invalid, the model location lacks a model file, or the
                model does not export to ONNX while ``onnx="required"``.
        """
        from trainpipe.registry.content import manifest_for, model_card

        versions = self._versions(name)
        source = open_store(model_location)
        missing = [key for key in MODEL_FILES if not source.exists(key)]
        if missing:
            raise RegistryError(
                f"cannot register {model_location}: it lacks {missing}; register a model "
                "directory written by trainpipe train"
            )
        payload = {key: source.read_bytes(key) for key in MODEL_FILES}
        same_model_as = self.versions_with_files(name, manifest_for(payload))
        exported = _onnx_with_parity(model_location)
        if isinstance(exported, bytes):
            payload[ONNX_KEY] = exported
            onnx_record: dict[str, Any] = {"exported": True}
        elif onnx == "required":
            raise RegistryError(
                f"cannot register {model_location}: {exported}; registry.onnx is required "
                "(make the model exportable, or set registry.onnx: optional to register it "
                "without ONNX)"
            )
        else:
            onnx_record = {"exported": False, "reason": exported}
        payload |= extra_files or {}
        version = self._claim_next(versions)
        lineage = {**lineage, "onnx": onnx_record, "registered_version": version}
        payload[LINEAGE_KEY] = _json_bytes(lineage)
        description = json.loads(payload["model.json"])
        payload["MODEL_CARD.md"] = model_card(
            name=name, version=version, description=description, lineage=lineage
        ).encode()
        target = versions.child(f"{version:06d}")
        for key, data in payload.items():
            target.write_bytes(key, data)
        manifest = {
            "name": name,
            "version": version,
            "created": time.time(),
            "files": manifest_for(payload),
            "metrics": lineage.get("metrics", {}),
        }
        target.write_json(MANIFEST_KEY, manifest)
        registered = self._from_manifest(target, manifest)
        registered.same_model_as = same_model_as
        return registered

    def versions_with_files(self, name: str, digests: dict[str, str]) -> list[int]:
        """The versions of ``name`` whose manifest records every file of ``digests`` (key to
        sha256) with the same digest, oldest first; none for an unknown model."""
        return [
            item.version
            for item in self.list_versions(name)
            if all(item.files.get(key) == digest for key, digest in digests.items())
        ]

    def _claim_next(self, versions: ObjectStore) -> int:
        """Claim the lowest free number above every version seen, atomically."""
        taken = {int(m.group(1)) for key in versions.list() if (m := _VERSION_DIR.match(key))}
        version = max(taken, default=0) + 1
        while not versions.put_if_absent(
            f"{version:06d}/{CLAIM_KEY}", _json_bytes({"claimed": time.time()})
        ):
            version += 1
        return version

    # -- reading --------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Names of every model with at least one complete version."""
        names = set()
        for key in self.store.list("models"):
            parts = key.split("/")
            if len(parts) == 5 and parts[2] == "versions" and parts[4] == MANIFEST_KEY:
                names.add(parts[1])
        return sorted(names)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every complete version of ``name``, oldest first, with the aliases pointing at it."""
        versions = self._versions(name)
        aliases = self.aliases(name)
        found = []
        for key in versions.list():
            match = _VERSION_DIR.match(key)
            if match and key == f"{match.group(1)}/{MANIFEST_KEY}":
                target = versions.child(match.group(1))
                item = self._from_manifest(target, target.read_json(MANIFEST_KEY))
                item.aliases = sorted(a for a, v in aliases.items() if v == item.version)
                found.append(item)
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

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS`` reference points at."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if ref.alias is None:
            return self.get(ref.name, ref.version)
        aliases = self.aliases(ref.name)
        if ref.alias not in aliases:
            known = ", ".join(sorted(aliases)) or "none"
            raise RegistryError(f"model {ref.name!r} has no alias {ref.alias!r}; aliases: {known}")
        return self.get(ref.name, aliases[ref.alias])

    def lineage(self, name: str, version: int) -> dict[str, Any]:
        """The lineage recorded with a version."""
        item = self.get(name, version)
        try:
            return open_store(item.uri).read_json(LINEAGE_KEY)
        except StorageError as exc:
            raise RegistryError(f"{name}:{version} has no readable lineage: {exc}") from exc

    # -- aliases --------------------------------------------------------------------------------

    def alias_events(self, name: str) -> list[dict[str, Any]]:
        """Every alias event of ``name``, oldest first."""
        events = self._events(name)
        return [
            {**events.read_json(key), "seq": int(m.group(1))}
            for key in events.list()
            if (m := _EVENT.match(key))
        ]

    def aliases(self, name: str) -> dict[str, int]:
        """Where every alias of ``name`` points now (removed aliases are absent)."""
        current: dict[str, int] = {}
        for event in self.alias_events(name):
            if event.get("version") is None:
                current.pop(event["alias"], None)
            else:
                current[event["alias"]] = int(event["version"])
        return current

    def set_alias(
        self, name: str, alias: str, version: int | None, *, action: str = "set", reason: str = ""
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (None removes it), atomically, recording the event."""
        validate_model_name(alias, origin="alias")
        if version is not None:
            self.get(name, version)  # the version must exist
        events = self._events(name)
        previous = self.aliases(name).get(alias)
        seq = max((int(m.group(1)) for k in events.list() if (m := _EVENT.match(k))), default=0)
        event = {
            "alias": alias,
            "version": version,
            "previous": previous,
            "action": action,
            "reason": reason,
            "time": time.time(),
        }
        while True:
            seq += 1
            if events.put_if_absent(f"{seq:09d}.json", _json_bytes(event)):
                return {**event, "seq": seq}

    def promote(
        self, name: str, version: int, *, alias: str = "champion", reason: str = ""
    ) -> dict[str, Any]:
        """Make ``version`` the ``alias`` (champion by default)."""
        return self.set_alias(name, alias, version, action="promote", reason=reason)

    def rollback(self, name: str, *, alias: str = "champion", reason: str = "") -> dict[str, Any]:
        """Point ``alias`` back at the version it had before its current one."""
        history = [e for e in self.alias_events(name) if e["alias"] == alias]
        if not history or history[-1].get("version") is None:
            raise RegistryError(f"model {name!r} has no alias {alias!r} to roll back")
        current = history[-1]["version"]
        earlier = [e["version"] for e in history if e.get("version") not in (None, current)]
        if not earlier:
            raise RegistryError(
                f"{name}@{alias} has pointed only at version {current}: nothing to roll back to"
            )
        return self.set_alias(
            name,
            alias,
            earlier[-1],
            action="rollback",
            reason=reason or f"rolled back from version {current}",
        )

    # -- integrity and loading ------------------------------------------------------------------

    def verify(self, ref: str | ModelRef) -> list[str]:
        """Problems found by recomputing every file's sha256 (empty: the version is intact)."""
        from trainpipe.registry.content import verify_files

        item = self.resolve(ref)
        return verify_files(open_store(item.uri), item.files)

    def load(self, ref: str | ModelRef) -> LoadedModel:
        """Verify, then load a version for inference (weights only: nothing is unpickled)."""
        item = self.resolve(ref)
        problems = self.verify(ModelRef(name=item.name, version=item.version))
        if problems:
            raise RegistryError(
                f"{item.ref} failed verification and was not loaded: {'; '.join(problems)}"
            )
        from trainpipe.train.artifacts import load_model

        return load_model(item.uri)

    def download(self, ref: str | ModelRef, destination: str | Path) -> ModelVersion:
        """Verify a version and copy its files into a local directory."""
        item = self.resolve(ref)
        problems = self.verify(ModelRef(name=item.name, version=item.version))
        if problems:
            raise RegistryError(f"{item.ref} failed verification: {'; '.join(problems)}")
        source = open_store(item.uri)
        for key in [*item.files, MANIFEST_KEY]:
            source.download_file(key, Path(destination) / key)
        return item

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


def load(
    name_or_ref: str, version_or_alias: int | str | None = None, *, store: str = "runs/registry"
) -> LoadedModel:
    """Load a registered model for inference: ``load("digits-cnn", "champion")``, ``load("m", 3)``.

    The version is verified against its manifest first; only safetensors weights are read.
    """
    if version_or_alias is None:
        ref = ModelRef.parse(name_or_ref)
    elif isinstance(version_or_alias, int) or str(version_or_alias).isdigit():
        ref = ModelRef(name=validate_model_name(name_or_ref), version=int(version_or_alias))
    else:
        ref = ModelRef.parse(f"{name_or_ref}@{version_or_alias}")
    return ModelRegistry.open(store).load(ref)


def _onnx_with_parity(model_location: str) -> bytes | str:
    """The model as ONNX, checked against PyTorch on seeded sample inputs before it is stored
    (with :func:`check_parity`'s default tolerance, relative to the outputs' magnitude); or why
    it could not be exported or does not match."""
    import torch

    from trainpipe.registry.onnx_export import check_parity, export_onnx
    from trainpipe.train.artifacts import load_model

    model = load_model(model_location)
    try:
        onnx_bytes = export_onnx(model)
    except RegistryError as exc:
        return str(exc)
    except Exception as exc:  # the exporter's errors have no common type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"the ONNX export failed: {type(exc).__name__}: {first}"
    generator = torch.Generator().manual_seed(0)
    width, vocabulary = model.preprocess.width, model.preprocess.vocabulary
    if vocabulary:  # token ids, carried as floats
        samples = torch.randint(0, len(vocabulary), (32, width), generator=generator).float()
        samples[:, width // 2 :] = 0.0  # and padding
    else:
        samples = torch.randn(32, width, generator=generator)
    try:
        check_parity(model, onnx_bytes, samples)
    except RegistryError as exc:
        return str(exc)
    return onnx_bytes


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()

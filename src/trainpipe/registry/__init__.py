"""The model registry: immutable numbered versions with lineage, on a directory or MinIO/S3."""

from __future__ import annotations

from trainpipe.registry.lineage import build_lineage, code_version, package_versions
from trainpipe.registry.names import validate_model_name
from trainpipe.registry.registry import ModelRef, ModelRegistry, ModelVersion, load

__all__ = [
    "ModelRef",
    "ModelRegistry",
    "ModelVersion",
    "build_lineage",
    "code_version",
    "load",
    "package_versions",
    "validate_model_name",
]

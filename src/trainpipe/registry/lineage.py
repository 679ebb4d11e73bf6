"""Lineage: what produced a model version, recorded beside it for reproducibility."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import trainpipe

TRACKED_PACKAGES = ("torch", "kfp", "optuna", "minio", "numpy", "pandas", "scikit-learn")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on (absent ones are skipped)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def code_version() -> str:
    """``TRAINPIPE_CODE_VERSION`` (set in images), the git commit of a source checkout, or the
    package version."""
    if os.environ.get("TRAINPIPE_CODE_VERSION"):
        return os.environ["TRAINPIPE_CODE_VERSION"]
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():  # an installed package: any enclosing repo is not ours
        return f"trainpipe=={trainpipe.__version__}"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"git:{sha}" if sha else f"trainpipe=={trainpipe.__version__}"


def build_lineage(
    *,
    config: dict[str, Any],
    data_hash: str,
    metrics: dict[str, Any],
    pipeline_run_id: str = "",
    tuning: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The lineage document of a model version."""
    return {
        "config": config,
        "data_hash": data_hash,
        "split_seed": config.get("seed"),
        "metrics": metrics,
        "pipeline_run_id": pipeline_run_id,
        "tuning": tuning or {},
        "code_version": code_version(),
        "image": os.environ.get("TRAINPIPE_IMAGE", ""),
        "trainpipe_version": trainpipe.__version__,
        "python": platform.python_version(),
        "packages": package_versions(),
    }

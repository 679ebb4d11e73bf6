"""Helpers for data tests: configs for a source, CSV files, the files a stage wrote."""

from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig


def make_config(source: str | Path, **data: Any) -> RunConfig:
    """A run config reading ``source`` (``task=`` picks the task, the rest go to ``data``)."""
    task = data.pop("task", "classification")
    return RunConfig.from_dict({"task": task, "data": {"source": str(source), **data}})


def write_csv(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    """Write ``text`` (or raw bytes) to a file under ``tmp_path``."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def files_under(path: Path) -> list[Path]:
    """Every file below ``path`` (none when it does not exist)."""
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []

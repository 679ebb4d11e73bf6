"""Whether ingest streams a source or reads it into memory, and why.

A CSV or Parquet file larger than ``data.stream_threshold_mb`` is streamed (bounded memory:
:func:`trainpipe.data.stream.ingest_csv_stream` and ``ingest_parquet_stream``) unless a setting
needs whole columns, a Parquet file has columns that are not numbers, or the source is not one
file. :func:`file_mode` and :func:`source_mode` decide;
the :class:`IngestMode` they return goes into ``stats.json`` as ``ingest_mode``, and its
:meth:`~IngestMode.notice` is the line ingest prints when a source above the threshold is read
into memory all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.data.columns import plan_columns
from trainpipe.data.file_formats import FileFormat, file_format
from trainpipe.data.sources import BUILTIN_PREFIX, glob_matches, is_glob
from trainpipe.data.stream_moments import STREAM_POLICIES
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = ["IngestMode", "column_obstacles", "file_mode", "setting_obstacles", "source_mode"]

_FORMAT_NAMES = {"parquet": "Parquet", "jsonl": "JSON Lines", "excel": "an Excel workbook"}


@dataclass(frozen=True, kw_only=True)
class IngestMode:
    """How ingest reads its source, why, and the numbers the choice rests on."""

    mode: Literal["stream", "memory"]
    reason: str
    size_bytes: int | None
    """The source's size on disk (a glob: its local files together); None where unknown."""
    threshold_mb: int
    """``data.stream_threshold_mb`` at the time."""

    @property
    def above_threshold(self) -> bool:
        """Whether the source is known to be larger than the threshold."""
        return self.size_bytes is not None and self.size_bytes > self.threshold_mb * 2**20

    def notice(self, display: str) -> str | None:
        """The line to print when a source above the threshold is read into memory, else None."""
        if self.mode != "memory" or not self.above_threshold:
            return None
        assert self.size_bytes is not None
        return (
            f"ingest: {display} ({_size(self.size_bytes)}) is above data.stream_threshold_mb "
            f"({self.threshold_mb} MiB) but is read into memory: {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``stats.json``."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "size_bytes": self.size_bytes,
            "threshold_mb": self.threshold_mb,
        }


def file_mode(
    config: RunConfig, fmt: FileFormat, size_bytes: int, path: Path | None = None
) -> IngestMode:
    """The mode for one local file (an object-store file once downloaded) of ``size_bytes``.

    It is streamed when it is larger than ``data.stream_threshold_mb``, is CSV or Parquet
    (whose feature columns, read from the file at ``path``, are all numbers) and no setting
    needs whole columns in memory; the reason names every obstacle.
    """
    threshold = config.data.stream_threshold_mb
    if size_bytes <= threshold * 2**20:
        return IngestMode(
            mode="memory",
            reason=f"{_size(size_bytes)} is within data.stream_threshold_mb ({threshold} MiB)",
            size_bytes=size_bytes,
            threshold_mb=threshold,
        )
    obstacles = _stream_obstacles(config, fmt)
    if fmt.kind == "parquet" and path is not None:
        from trainpipe.data.stream_parquet import parquet_obstacles

        obstacles += parquet_obstacles([path], config.data.label, config.data.drop)
    if obstacles:
        return IngestMode(
            mode="memory",
            reason="; ".join(obstacles),
            size_bytes=size_bytes,
            threshold_mb=threshold,
        )
    return IngestMode(
        mode="stream",
        reason=f"a {_FORMAT_NAMES.get(fmt.kind, 'CSV')} file above data.stream_threshold_mb "
        f"({threshold} MiB)",
        size_bytes=size_bytes,
        threshold_mb=threshold,
    )


def source_mode(config: RunConfig, source: str) -> IngestMode:
    """The mode for a source that is not one file: ``builtin:NAME`` (memory) or a glob.

    A glob of Parquet shards (local or in a bucket) larger together than
    ``data.stream_threshold_mb`` is streamed as one table when no setting needs whole columns
    and every feature column of every shard is a number; any other glob is read into memory.
    A builtin's size is unknown (None).
    """
    threshold = config.data.stream_threshold_mb
    if source.startswith(BUILTIN_PREFIX):
        return IngestMode(
            mode="memory",
            reason="a builtin dataset, small and shipped in memory",
            size_bytes=None,
            threshold_mb=threshold,
        )
    if not is_glob(source):
        raise ValueError(f"source_mode is for builtin datasets and globs, got {source!r}")
    matches = glob_matches(source)
    size = sum(_file_size(match) for match in matches)
    kinds = {file_format(match, config.data.format).kind for match in matches}
    if kinds != {"parquet"}:
        return IngestMode(
            mode="memory",
            reason="a glob over several files (streaming reads one CSV file, or Parquet shards)",
            size_bytes=size,
            threshold_mb=threshold,
        )
    if size <= threshold * 2**20:
        return IngestMode(
            mode="memory",
            reason=f"{len(matches)} Parquet files of {_size(size)}, within "
            f"data.stream_threshold_mb ({threshold} MiB)",
            size_bytes=size,
            threshold_mb=threshold,
        )
    from trainpipe.data.stream_parquet import parquet_obstacles

    obstacles = _stream_obstacles(config, file_format(matches[0], config.data.format))
    obstacles += parquet_obstacles(matches, config.data.label, config.data.drop)
    if obstacles:
        return IngestMode(
            mode="memory", reason="; ".join(obstacles), size_bytes=size, threshold_mb=threshold
        )
    return IngestMode(
        mode="stream",
        reason=f"{len(matches)} Parquet files above data.stream_threshold_mb ({threshold} MiB), "
        "streamed as one table in name order",
        size_bytes=size,
        threshold_mb=threshold,
    )


def _file_size(file: str) -> int:
    """The size of a local file or of an object in a bucket."""
    if not is_remote_uri(file):
        return Path(file).stat().st_size
    uri = parse_uri(file)
    parent, _, key = uri.prefix.rpartition("/")
    return open_store(f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}").size(key)


def _stream_obstacles(config: RunConfig, fmt: FileFormat) -> list[str]:
    """Why a file above the threshold cannot be streamed: the format and each setting."""
    found = []
    if fmt.kind not in ("csv", "parquet"):
        found.append(
            f"{_FORMAT_NAMES[fmt.kind]} is read whole (streaming reads CSV and Parquet only)"
        )
    return found + setting_obstacles(config)


def setting_obstacles(config: RunConfig) -> list[str]:
    """Why a source above the threshold cannot be streamed whatever its format: each setting
    that needs the whole table in memory."""
    data = config.data
    found = []
    if data.categorical:
        found.append(
            f"data.categorical {data.categorical} needs the in-memory ingest (streaming reads "
            "numeric features only)"
        )
    if data.text:
        found.append(
            f"data.text {data.text!r} needs the in-memory ingest (streaming reads numeric "
            "features only)"
        )
    chosen = {"data.features": data.features, "data.roles": data.roles}
    for key, value in chosen.items():
        if value:
            found.append(
                f"{key} needs the in-memory ingest (streaming reads every column as a number)"
            )
    if config.split.group_by:
        found.append(
            f"split.group_by {config.split.group_by!r} needs the in-memory ingest (streaming "
            "reads every column as a numeric feature and keeps no group column)"
        )
    if config.split.order_by:
        found.append(
            f"split.order_by {config.split.order_by!r} needs the in-memory ingest (streaming "
            "reads every column as a numeric feature and keeps no time column)"
        )
    if data.duplicate_keys:
        found.append(
            f"data.duplicate_keys {data.duplicate_keys} needs the in-memory ingest (streaming "
            "drops exact duplicate rows only)"
        )
    if data.missing not in STREAM_POLICIES:
        found.append(
            f"data.missing {data.missing!r} needs whole columns (streaming supports "
            f"{', '.join(STREAM_POLICIES)})"
        )
    return found


def column_obstacles(head: pd.DataFrame, config: RunConfig) -> list[str]:
    """Why a CSV file whose first rows are ``head`` cannot be streamed: the columns that the
    in-memory ingest would read as something other than plain numbers (ids, dates, categories,
    text, numbers with words or signs among them), which streaming would read as numeric
    features or fail on. Empty when the label is missing or the columns cannot be planned:
    the ingest then says why."""
    if config.data.label not in head.columns:
        return []
    try:
        plan = plan_columns(head, config, display="")
    except DataError:
        return []
    others = [
        f"{d.column!r} ({d.role}: {d.reason})"
        for d in plan.decisions
        if d.role != "numeric" or not d.feature or d.missing_tokens or d.number_format
    ]
    if not others:
        return []
    shown = "; ".join(others[:5]) + (f"; and {len(others) - 5} more" if len(others) > 5 else "")
    return [
        f"its first {len(head):,} rows hold columns that are no plain numbers, {shown} "
        "(streaming reads every column as a numeric feature; to stream the file, list such "
        "columns in data.drop)"
    ]


def _size(size_bytes: int) -> str:
    """``size_bytes`` for people: ``812 bytes``, ``3.4 KiB``, ``517.0 MiB``, ``2.1 GiB``."""
    if size_bytes < 2**10:
        return f"{size_bytes} bytes"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    raise AssertionError("unreachable: sizes of 1 KiB and more have a unit")

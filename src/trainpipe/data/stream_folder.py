"""The file-folder side of the streaming ingest: an image or audio folder decoded a chunk of
files at a time into record batches.

A folder whose decoded table would exceed ``data.stream_threshold_mb`` (files x values per file
x 8 bytes) is not held in memory: :class:`FolderSource` gives the streaming ingest's pass
(:mod:`trainpipe.data.stream`) what a CSV or Parquet file gives it, the column names and record
batches in file order, decoding the files with the same decoders and worker processes as the
in-memory read (:func:`~trainpipe.data.class_folders.decoded_rows`). What reading found (files
per class, skipped files, sizes) is counted on the way, for the statistics' ``image`` or
``audio`` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from trainpipe.config import RunConfig
from trainpipe.data.class_folders import (
    Decoder,
    FolderReport,
    RowBlock,
    class_folder_files,
    decode_files,
    decoded_rows,
)
from trainpipe.data.ingest_mode import IngestMode, setting_obstacles
from trainpipe.data.manifest import Manifest
from trainpipe.storage.base import ObjectStore

__all__ = ["BATCH_FILES", "FolderSource", "decoded_bytes", "folder_plan", "manifest_plan"]

BATCH_FILES = 1024
"""Files decoded into one record batch."""


def decoded_bytes(files: int, columns: int) -> int:
    """The size of the table a folder of ``files`` files of ``columns`` values decodes to, as
    ingest holds it (float64)."""
    return files * columns * 8


@dataclass
class FolderSource:
    """An image or audio folder to stream: its files, decoder and columns; ``statistics`` makes
    the kind's statistics entry from what the last pass counted."""

    files: Sequence[tuple[str, ObjectStore, str]]
    display: str
    kind: str
    decode: Decoder
    feature_columns: list[str]
    label: str
    bad_files: str
    workers: int
    statistics: Callable[[FolderReport], dict[str, Any]]
    report: FolderReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = FolderReport(kind=self.kind)

    @property
    def batch_files(self) -> int:
        """Files decoded into one record batch (:data:`BATCH_FILES`)."""
        return BATCH_FILES

    def columns(self) -> list[str]:
        """The value columns, then the label."""
        return [*self.feature_columns, self.label]

    def batches(
        self, columns: list[str], *, label: str, numeric: Sequence[str]
    ) -> Generator[pa.RecordBatch, None, None]:
        """The decoded files, :data:`BATCH_FILES` at a time, the label (the class folder's
        name) as text; each pass counts afresh.

        Raises:
            DataError: as the in-memory read (a file that does not decode, none that does).
        """
        self.report = FolderReport(kind=self.kind)
        size = self.batch_files
        rows = RowBlock(size)
        labels: list[str] = []
        for name, row in decoded_rows(
            self.files, source=self.display, decode=self.decode, bad_files=self.bad_files,
            report=self.report, workers=self.workers,
        ):  # fmt: skip
            rows.add(row)
            labels.append(name)
            if rows.count == size:
                yield self._batch(rows, labels)
                rows, labels = RowBlock(size), []
        if rows.count:
            yield self._batch(rows, labels)

    def _batch(self, rows: RowBlock, labels: list[str]) -> pa.RecordBatch:
        assert rows.block is not None
        block = rows.block[: rows.count]
        arrays = [pa.array(block[:, j]) for j in range(block.shape[1])]
        arrays.append(pa.array(labels, type=pa.string()))
        return pa.RecordBatch.from_arrays(arrays, names=self.columns())

    def stats(self) -> dict[str, Any]:
        """The statistics entry of the last pass."""
        return self.statistics(self.report)

    def read_whole(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Every file decoded into one table in memory, and the statistics entry (the folder
        that is not streamed; its files are the ones already listed).

        Raises:
            DataError: a file does not decode (``bad_files: fail``) or none does.
        """
        self.report = FolderReport(kind=self.kind)
        frame, _ = decode_files(
            self.files, source=self.display, decode=self.decode, columns=self.feature_columns,
            label=self.label, bad_files=self.bad_files, report=self.report, workers=self.workers,
        )  # fmt: skip
        return frame, self.stats()


def folder_plan(config: RunConfig) -> tuple[FolderSource, IngestMode] | None:
    """``data.source`` as an image or audio folder, and whether ingest streams it (its
    :class:`IngestMode`, with the decoded size and why); None for any other source. A folder
    is streamed when its decoded table (:func:`decoded_bytes`) exceeds
    ``data.stream_threshold_mb`` and no setting needs the whole table in memory.

    Raises:
        DataError: the folder's class folders are missing or empty, or ``model.image_shape``
            does not fit an image folder (naming them).
    """
    from functools import partial

    from trainpipe.data.audio_folder import (
        AUDIO_SUFFIXES,
        audio_columns,
        audio_statistics,
        decode_audio,
        is_audio_folder,
    )
    from trainpipe.data.image_folder import (
        IMAGE_SUFFIXES,
        check_image_shape,
        decode_image,
        image_statistics,
        is_image_folder,
        pixel_columns,
    )

    data, source = config.data, config.data.source
    decode: Decoder
    statistics: Callable[[FolderReport], dict[str, Any]]
    if is_image_folder(source):
        shape = list(config.model.image_shape)
        check_image_shape(source, shape)
        kind, suffixes, columns = "image", IMAGE_SUFFIXES, pixel_columns(shape)
        decode = partial(decode_image, image_shape=shape)
        statistics = partial(image_statistics, image_shape=shape)
    elif is_audio_folder(source):
        kind, suffixes, columns = "audio", AUDIO_SUFFIXES, audio_columns(data.audio)
        decode = partial(decode_audio, audio=data.audio)
        statistics = partial(audio_statistics, audio=data.audio)
    else:
        return None
    files = class_folder_files(source, suffixes=suffixes, kind=kind)
    return _planned(config, files, kind, decode, columns, statistics, f"an {kind} folder")


def manifest_plan(config: RunConfig, manifest: Manifest) -> tuple[FolderSource, IngestMode] | None:
    """A manifest of image or audio files as :func:`folder_plan` plans a folder (streamed when
    its decoded table exceeds ``data.stream_threshold_mb``); None for a manifest of texts."""
    if manifest.kind not in ("image", "audio"):
        return None
    return _planned(
        config, manifest.files, manifest.kind, manifest.decode, manifest.columns,
        manifest.statistics, f"a manifest of {manifest.kind} files",
    )  # fmt: skip


def _planned(
    config: RunConfig,
    files: Sequence[tuple[str, ObjectStore, str]],
    kind: str,
    decode: Decoder,
    columns: list[str],
    statistics: Callable[[FolderReport], dict[str, Any]],
    what: str,
) -> tuple[FolderSource, IngestMode]:
    data = config.data
    size = decoded_bytes(len(files), len(columns))
    threshold = data.stream_threshold_mb
    obstacles = setting_obstacles(config)
    described = f"{what}, {len(files):,} files, {size / 2**20:,.0f} MiB decoded"
    if size <= threshold * 2**20:
        mode = IngestMode(mode="memory", reason=f"{described}, one row per file",
                          size_bytes=size, threshold_mb=threshold)  # fmt: skip
    elif obstacles:
        mode = IngestMode(mode="memory", reason="; ".join(obstacles), size_bytes=size,
                          threshold_mb=threshold)  # fmt: skip
    else:
        mode = IngestMode(
            mode="stream",
            reason=f"{described}, above data.stream_threshold_mb ({threshold} MiB)",
            size_bytes=size,
            threshold_mb=threshold,
        )
    folder = FolderSource(
        files=files, display=data.source, kind=kind, decode=decode, feature_columns=columns,
        label=data.label, bad_files=data.bad_files, workers=data.decode_workers,
        statistics=statistics,
    )  # fmt: skip
    return folder, mode

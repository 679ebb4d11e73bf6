"""Files to table rows by a dataset's ``files`` descriptor (the schema's, saved with the model).

Ingest decodes an image, audio or text folder or manifest with one decoder per kind; the
descriptor (:func:`files_descriptor`) records which and with what settings, so that
:func:`decoder_for` gives back the same decoder wherever the rows must be made again: a manifest
at ingest, or ``trainpipe predict`` scoring a folder of new files with a registered model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.config.data import AudioConfig
from trainpipe.data.audio_folder import AUDIO_SUFFIXES, audio_columns, decode_audio
from trainpipe.data.class_folders import Decoder, rows_table
from trainpipe.data.image_folder import IMAGE_SUFFIXES, decode_image, pixel_columns
from trainpipe.data.text_folder import TEXT_COLUMN, TEXT_SUFFIXES, decode_text
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.base import ObjectStore

__all__ = ["SUFFIXES", "decoder_for", "files_descriptor", "rows_from_files"]

SUFFIXES: dict[str, frozenset[str]] = {
    "image": IMAGE_SUFFIXES,
    "audio": AUDIO_SUFFIXES,
    "text": TEXT_SUFFIXES,
}
"""The file suffixes of each kind (compared in lower case)."""


def files_descriptor(kind: str, config: RunConfig) -> dict[str, Any]:
    """How rows of ``kind`` are decoded under ``config`` (the dataset schema's ``files``)."""
    if kind == "image":
        return {"kind": "image", "image_shape": list(config.model.image_shape)}
    if kind == "audio":
        return {"kind": "audio", "audio": asdict(config.data.audio)}
    return {"kind": "text", "column": TEXT_COLUMN}


def decoder_for(files: dict[str, Any]) -> tuple[Decoder, list[str]]:
    """The decoder and the columns of the rows that ``files`` describes."""
    kind = files.get("kind")
    if kind == "image":
        shape = list(files["image_shape"])
        return partial(decode_image, image_shape=shape), pixel_columns(shape)
    if kind == "audio":
        audio = AudioConfig(**files["audio"])
        return partial(decode_audio, audio=audio), audio_columns(audio)
    if kind == "text":
        return decode_text, [str(files.get("column", TEXT_COLUMN))]
    raise DataError(f"unknown kind of files {kind!r}; expected image, audio or text")


def rows_from_files(
    files: dict[str, Any], paths: Sequence[Path | tuple[ObjectStore, str]]
) -> pd.DataFrame:
    """The rows of ``paths`` (local paths, or ``(store, key)`` pairs) decoded as the training
    files were (``files``: the descriptor).

    Raises:
        DataError: a file cannot be read or does not decode (naming it).
    """
    decode, columns = decoder_for(files)
    rows = []
    for path in paths:
        if isinstance(path, Path):
            data, shown = path.read_bytes(), str(path)
        else:
            store, key = path
            shown = store.uri_for(key)
            try:
                data = store.read_bytes(key)
            except StorageError as exc:
                raise DataError(f"cannot read {shown} ({exc})") from exc
        rows.append(decode(data, shown)[0])
    return rows_table(rows, columns)

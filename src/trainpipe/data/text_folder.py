"""Texts kept as files, a folder per class: ``reviews/pos/*.txt``, ``reviews/neg/*.txt``.

Each UTF-8 ``.txt`` file becomes one row whose ``text`` column holds the file's content (the
label is the subfolder's name, :mod:`trainpipe.data.class_folders` lists and validates the
folders, locally or under an ``s3://`` prefix); the text pipeline then trains on it as on a text
column of a table (``data.text: text``). A file that is not UTF-8 is refused, naming it and the
first bad byte (or skipped and counted with ``data.bad_files: skip``); the statistics list the
files per class, their lengths in characters and words, and the empty files.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from trainpipe.data.class_folders import has_class_folders, read_class_folders, spread
from trainpipe.errors import DataError

__all__ = ["TEXT_COLUMN", "TEXT_SUFFIXES", "decode_text", "is_text_folder", "read_text_folder"]

TEXT_SUFFIXES = frozenset({".txt"})
TEXT_COLUMN = "text"
"""The column a text folder's files become; set ``data.text`` to it."""


def is_text_folder(source: str) -> bool:
    """True for a local folder or object-store prefix whose visible subfolders hold .txt files."""
    return has_class_folders(source, TEXT_SUFFIXES)


def decode_text(data: bytes, path: str) -> tuple[str, dict[str, Any]]:
    """One file's bytes as its text (a leading byte-order mark dropped) and its lengths.

    Raises:
        DataError: the bytes are not UTF-8 (naming ``path`` and where the first bad byte is).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
            "save it as UTF-8"
        ) from exc
    return text, {"characters": len(text), "words": len(text.split())}


def read_text_folder(
    source: str, *, label: str, bad_files: str = "fail"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read every .txt file of ``source``'s class folders into one row of ``text``; return the
    table and the statistics' ``text_files`` entry.

    Raises:
        DataError: a class folder has no .txt files, or (``bad_files: fail``) a file is not
            UTF-8; the message names it.
    """
    frame, report = read_class_folders(
        source,
        suffixes=TEXT_SUFFIXES,
        kind="text",
        decode=decode_text,
        columns=[TEXT_COLUMN],
        label=label,
        bad_files=bad_files,
    )
    found = report.decoded
    return frame, {
        **report.to_dict(),
        "characters": spread([info["characters"] for info in found]),
        "words": spread([info["words"] for info in found]),
        "empty_files": sum(info["characters"] == 0 for info in found),
    }

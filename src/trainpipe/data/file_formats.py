"""What format a data file is in, and how a CSV file is read.

:func:`file_format` names a file's format by ``data.format`` or its suffix; for CSV, its
:class:`FileFormat` carries the ``data.csv`` settings (delimiter, decimal mark, header, comment
lines, lines before the header, extra missing-value texts, encoding) to every reader: the
in-memory one (:func:`trainpipe.data.sources.read_file`, pandas), the streaming one
(:mod:`trainpipe.data.stream_csv`, pyarrow) and the plain tables a component is given
(:mod:`trainpipe.data.table_input`). With ``data.csv.delimiter: auto`` the header line of each
file may choose the delimiter, and with ``data.csv.decimal: auto`` its first data lines the
decimal mark (:func:`resolve_format`); a choice the file made is printed
(:meth:`FileFormat.notice`) and recorded (:meth:`FileFormat.describe`).

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
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal, Protocol

import pyarrow as pa

from trainpipe.config.data import CsvConfig
from trainpipe.errors import DataError

__all__ = [
    "ACCEPTED_SUFFIXES",
    "CSV_DELIMITERS",
    "FORMATS",
    "SUFFIXES",
    "FileFormat",
    "FormatKind",
    "delimiter_name",
    "encoding_error",
    "file_format",
    "header_hint",
    "header_line",
    "header_line_hint",
    "headerless_names",
    "open_csv_bytes",
    "resolve_format",
    "utf8_family",
]

FormatKind = Literal["csv", "parquet", "jsonl", "excel"]

FORMATS: tuple[FormatKind, ...] = ("csv", "parquet", "jsonl", "excel")
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
    ".xlsx": "excel",
    ".xlsm": "excel",
}
"""The format ``data.format: auto`` reads for each file suffix (compared in lower case); a text
format may also end in ``.gz`` (gzip-compressed: ``data.csv.gz``). ``.tsv`` is tab-separated."""

COMPRESSED_SUFFIX = ".gz"

ACCEPTED_SUFFIXES = (
    ".csv, .tsv, .txt or none (CSV), .parquet or .pq (Parquet), .jsonl or .ndjson (JSON Lines), "
    ".xlsx or .xlsm (Excel); the text formats also gzip-compressed (.csv.gz)"
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
    sheet: str = ""
    """The worksheet of an Excel workbook to read (``data.sheet``; empty: the first one)."""
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
    trailing_delimiter: bool | None = None
    """Whether every data line ends with a delimiter after its last field (one field more than
    the header, empty), which the readers then ignore; None until :func:`resolve_format` has
    looked."""
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
            "trailing_delimiter": bool(self.trailing_delimiter),
            **({"note": self.note} if self.note else {}),
        }

    def notice(self, display: str) -> str | None:
        """The line printed when the file chose the delimiter or the decimal mark, or a setting
        may be missing (:attr:`note`), else None."""
        parts = []
        if self.delimiter_sniffed:
            parts.append(
                f"read as {delimiter_name(self.delimiter)}-separated: {self.delimiter_reason}; "
                "set data.csv.delimiter to read it otherwise"
            )
        if self.decimal_sniffed:
            parts.append(
                f"numbers read with a decimal comma: {self.decimal_reason}; set "
                "data.csv.decimal: '.' to read them otherwise"
            )
        if self.trailing_delimiter:
            parts.append(
                f"every data line ends with a {delimiter_name(self.delimiter)} after its last "
                "field, one field more than the header: that empty field is ignored"
            )
        if self.note:
            parts.append(self.note)
        return f"[trainpipe] {display}: " + "; ".join(parts) if parts else None


def file_format(
    source: str, fmt: str = "auto", csv: CsvConfig | None = None, *, sheet: str = ""
) -> FileFormat:
    """The format of the file ``source`` (a path or URI): ``fmt`` (``data.format``) unless it is
    ``auto``, else the one its suffix names (:data:`SUFFIXES`); a CSV file is read as ``csv``
    (``data.csv``, default settings when None) says, an Excel workbook's ``sheet``
    (``data.sheet``; empty: its first).

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
        if suffix == ".xls":
            raise DataError(
                f"data.source {source!r}: a .xls workbook (Excel 97-2003) is not read; save it "
                "as .xlsx or CSV"
            )
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
    if kind in ("parquet", "excel") and compressed:
        raise DataError(
            f"data.source {source!r}: a {'Parquet file' if kind == 'parquet' else 'workbook'} "
            "compresses its contents itself and cannot be read gzip-compressed; decompress it "
            "(gunzip) or write it without the .gz"
        )
    if kind == "excel":
        return FileFormat(kind=kind, sheet=sheet)
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
    """``fmt`` for the local file ``path`` settled by its first lines: under
    ``data.csv.delimiter: auto``, when the header line (the first line after the
    ``skip_rows`` lines that is neither empty nor a comment) lacks the suffix's delimiter and
    holds exactly one other of :data:`CSV_DELIMITERS` (outside quotes), that one; under
    ``data.csv.decimal: auto``, a decimal comma where the data lines hold only those; and
    whether every data line ends with a delimiter. Formats already settled (their
    ``trailing_delimiter`` known), and other formats, come back unchanged.

    Raises:
        DataError: the header line calls for a comma delimiter while ``data.csv.decimal`` is a
            comma too (naming both settings and the file).
    """
    if fmt.kind != "csv" or fmt.trailing_delimiter is not None:
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
            held = delimiter_name(default)
            reason = f"its {line} holds {held}s (data.csv.delimiter: auto)"
        elif len(others) == 1:
            chosen = others[0]
            reason = (
                f"its {line} holds no {delimiter_name(default)} but "
                f"{delimiter_name(chosen)}s (data.csv.delimiter: auto)"
            )
    if chosen == "," and fmt.decimal == ",":
        raise DataError(
            f"data file {display}: data.csv.decimal ',' needs a delimiter other than a comma, "
            "but data.csv.delimiter: auto reads this file as comma-separated (its header line "
            f"{found[0][:60] if found else ''!r} holds commas); set data.csv.delimiter to its "
            "separator (';'), or data.csv.decimal: '.'"
        )
    first_data = 1 if fmt.header else 0
    lines = [line for line, _ in leading[first_data:]]
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
        trailing_delimiter=fmt.header and _trailing_delimiter(leading, chosen),
        note=_decimal_comma_note(lines, chosen, decimal),
    )


def _trailing_delimiter(leading: Sequence[tuple[str, int]], delimiter: str) -> bool:
    """Whether the data lines after the header line (the first of ``leading``) all hold one
    field more than the header, and that last field is empty (quotes aside)."""
    if len(leading) < 2:
        return False
    fields = [_QUOTED.sub("", line).split(delimiter) for line, _ in leading]
    width = len(fields[0])
    return all(len(row) == width + 1 and not row[-1].strip() for row in fields[1:])


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


def delimiter_name(delimiter: str) -> str:
    """The delimiter's name in messages: ``comma``, ``semicolon``, ``tab``, ``pipe``."""
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
        f" The header was read as one column holding {delimiter_name(delimiter)}s: the file "
        f"looks {delimiter_name(delimiter)}-separated{among}; set "
        f'data.csv.delimiter: "{escaped}" (or auto)'
    )


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


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

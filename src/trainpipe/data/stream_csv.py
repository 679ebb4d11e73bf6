"""The CSV side of the streaming ingest: the header, then record batches parsed ahead of use.

:func:`read_header` reads the column names with the same parser as the data;
:func:`record_batches` yields the file's record batches, the number columns parsed as float64 by
pyarrow on a background thread (:func:`read_ahead`). At the first cell pyarrow cannot parse it
falls back to reading text and :func:`to_float` converts each batch, naming the row and value of
a cell that is not a number. Every reading error becomes a :class:`DataError` naming the file
(:func:`read_error`), with the byte and line of the first invalid UTF-8 byte where that is the
problem.

The ``data.csv`` settings come on the file's :class:`~trainpipe.data.file_formats.FileFormat`, with
its delimiter already settled (:func:`~trainpipe.data.file_formats.resolve_format`), and map onto
pyarrow's options: the delimiter, the decimal mark, the encoding (pyarrow transcodes through
Python's codec), the extra missing-value texts (``null_values``, beside pandas' defaults) and the
lines before the header (``skip_rows``, counted by
:func:`~trainpipe.data.file_formats.header_line`, empty lines included). pyarrow has no comment
option: the bytes it parses come through :func:`~trainpipe.data.file_formats.open_csv_bytes`, which
drops comment lines as the in-memory reader's stream does.
"""

from __future__ import annotations

import contextlib
import csv
import queue
import threading
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from trainpipe.data.file_formats import (
    FileFormat,
    encoding_error,
    header_hint,
    header_line,
    header_line_hint,
    headerless_names,
    open_csv_bytes,
    utf8_family,
)
from trainpipe.errors import DataError

__all__ = [
    "NA_VALUES",
    "CsvFile",
    "read_ahead",
    "read_error",
    "read_header",
    "record_batches",
    "to_float",
    "validate_header",
]

NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
"""Cell texts read as missing: the defaults of :func:`pandas.read_csv`."""

_READ_AHEAD = 2
"""Parsed batches the reader thread may hold beyond the one being cleaned."""
_END = object()

_HEADER_BLOCK = 1 << 16
"""Bytes parsed to read the header (more when a header or first row is longer)."""

_TRAILING = "\x00trailing"
"""The name the empty field after a trailing delimiter gets, so the reader can skip it."""

_READ_ERRORS = (pa.ArrowInvalid, UnicodeDecodeError, OSError)
"""What pyarrow raises on a file it cannot read, decode or parse."""


@dataclass(frozen=True)
class CsvFile:
    """A CSV file to stream and how to read it.

    ``display`` is the name error messages give it (its URI when it is a downloaded copy),
    ``block_size`` pyarrow's block size (the CSV bytes parsed into one record batch; it must
    exceed the longest line), ``fmt`` the format (delimiter settled, gzip compression and the
    other ``data.csv`` settings).
    """

    path: Path
    display: str
    block_size: int = 4 << 20
    fmt: FileFormat = field(default_factory=lambda: FileFormat(kind="csv"))

    def open(self) -> contextlib.AbstractContextManager[BinaryIO]:
        """The bytes the parser reads: decompressed, without comment lines."""
        return open_csv_bytes(self.path, self.fmt)

    def open_raw(self) -> pa.NativeFile:
        """The file's bytes, decompressed where it is compressed (comment lines kept)."""
        return pa.input_stream(str(self.path), compression="gzip" if self.fmt.compressed else None)

    @cached_property
    def lines_before_header(self) -> int:
        """Lines of :meth:`open`'s stream before the header: ``skip_rows`` and empty lines."""
        found = header_line(self.path, self.fmt)
        return self.fmt.skip_rows if found is None else found[1]


def _read_options(
    file: CsvFile, block_size: int, column_names: list[str] | None = None
) -> pacsv.ReadOptions:
    options: dict[str, Any] = {"block_size": block_size, "use_threads": True}
    if not utf8_family(file.fmt.encoding):
        options["encoding"] = file.fmt.encoding
    skip = file.lines_before_header
    if column_names is None:  # the names from the header line, or f0, f1, ... without one
        return pacsv.ReadOptions(
            skip_rows=skip, autogenerate_column_names=not file.fmt.header, **options
        )
    header = 1 if file.fmt.header else 0
    if file.fmt.trailing_delimiter:  # the empty last field gets a name, and is not converted
        column_names = [*column_names, _TRAILING]
    return pacsv.ReadOptions(column_names=column_names, skip_rows=skip + header, **options)


def read_header(file: CsvFile) -> list[str]:
    """The column names, read by the same parser as the data (a file without a header line:
    ``data.csv.columns``, else ``column_1`` ...).

    Only a small first block is parsed (the whole ``block_size`` when the header is longer).

    Raises:
        DataError: the file is empty, not UTF-8, unreadable or not CSV.
    """
    if file.fmt.trailing_delimiter:  # pyarrow would refuse its rows' extra field
        found = header_line(file.path, file.fmt)
        if found is not None:
            return next(csv.reader([found[0]], delimiter=file.fmt.delimiter))
    for size in dict.fromkeys((min(file.block_size, _HEADER_BLOCK), file.block_size)):
        try:
            with _open_reader(file, _read_options(file, size)) as reader:
                names = list(reader.schema.names)
            if file.fmt.header:
                return names
            return headerless_names(file.fmt, len(names), display=file.display)
        except _READ_ERRORS as exc:
            if size < file.block_size and "straddl" in str(exc):
                continue
            raise read_error(exc, file) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


def validate_header(columns: Sequence[str], label: str, display: str) -> None:
    """The label is a column, column names are unique, and there is a feature besides the label.

    Raises:
        DataError: naming the file and the columns at fault; where the header looks misread (a
            comment line, another delimiter), what to set in ``data.csv``
            (:func:`~trainpipe.data.file_formats.header_hint`).
    """
    if label not in columns:
        raise DataError(
            f"{display}: label column {label!r} not found; columns are: {', '.join(columns[:20])}"
            f"{' ...' if len(columns) > 20 else ''}. Set data.label to one of them."
            + header_hint(columns, label)
        )
    dupes = sorted(name for name, count in Counter(columns).items() if count > 1)
    if dupes:
        raise DataError(f"{display}: duplicate column names {dupes}; rename them")
    if len(columns) < 2:
        raise DataError(f"{display}: no feature columns besides the label {label!r}")


@contextlib.contextmanager
def _open_reader(
    file: CsvFile, read: pacsv.ReadOptions, convert: pacsv.ConvertOptions | None = None
) -> Iterator[pacsv.CSVStreamingReader]:
    with (
        file.open() as stream,
        pacsv.open_csv(
            stream,
            read_options=read,
            parse_options=pacsv.ParseOptions(delimiter=file.fmt.delimiter),
            convert_options=convert,
        ) as reader,
    ):
        yield reader


def _open_typed(
    file: CsvFile, columns: list[str], numeric: Sequence[str], include: list[str]
) -> contextlib.AbstractContextManager[pacsv.CSVStreamingReader]:
    """A reader of the ``include`` columns (among all the file's ``columns``), the
    ``numeric`` ones as float64 and the others as text."""
    convert = pacsv.ConvertOptions(
        include_columns=include,
        column_types={c: pa.float64() if c in numeric else pa.string() for c in include},
        null_values=[*NA_VALUES, *file.fmt.missing_values],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        decimal_point=file.fmt.decimal,
    )
    return _open_reader(file, _read_options(file, file.block_size, columns), convert)


def record_batches(
    file: CsvFile,
    columns: list[str],
    *,
    numeric: Sequence[str],
    include: list[str] | None = None,
) -> Generator[pa.RecordBatch, None, None]:
    """The record batches of ``file`` (whose columns are ``columns``) after its header: the
    ``include`` columns (default: all), in that order, the ``numeric`` ones as float64.

    pyarrow parses the ``numeric`` columns as float64 (the fast path). At the first cell it
    cannot parse (a typo, surrounding blanks, true/false) it stops without saying where; the file
    is then opened again with every column as text, the rows already yielded are skipped, and
    the rest comes as text, for :func:`to_float` to convert per batch: it reads what it can and
    names the row of what it cannot. The caller must be done with a batch before it asks for the
    next one, so that the rows yielded are the rows processed.

    Raises:
        DataError: the file cannot be read, decoded or parsed (:func:`read_error`).
    """
    try:
        yield from _batches(file, columns, numeric, columns if include is None else include)
    except _READ_ERRORS as exc:
        raise read_error(exc, file) from exc


def _batches(
    file: CsvFile, columns: list[str], numeric: Sequence[str], include: list[str]
) -> Generator[pa.RecordBatch, None, None]:
    done = 0
    try:
        # open_csv parses the first block already
        with (
            _open_typed(file, columns, numeric, include) as reader,
            contextlib.closing(read_ahead(reader)) as batches,
        ):
            for batch in batches:
                yield batch
                done += batch.num_rows
        return
    except pa.ArrowInvalid as exc:
        if not _is_conversion_error(exc):
            raise
    skipped = 0
    commas = [include.index(c) for c in numeric] if file.fmt.decimal == "," else []
    with (
        _open_typed(file, columns, [], include) as reader,
        contextlib.closing(read_ahead(reader)) as batches,
    ):
        for batch in batches:
            if skipped + batch.num_rows <= done:
                skipped += batch.num_rows
                continue
            part = batch.slice(done - skipped) if skipped < done else batch
            yield _decimal_points(part, commas) if commas else part
            skipped = done


def _decimal_points(batch: pa.RecordBatch, indices: Sequence[int]) -> pa.RecordBatch:
    """``batch`` with the decimal commas of the text columns at ``indices`` made points, for
    :func:`to_float` (which parses points) to read ``1,5`` as pyarrow's typed path does."""
    arrays = list(batch.columns)
    for i in indices:
        arrays[i] = pc.replace_substring(arrays[i], ",", ".")
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _is_conversion_error(exc: BaseException) -> bool:
    """True for pyarrow's error on a cell that does not parse as the column's type."""
    return isinstance(exc, pa.ArrowInvalid) and "CSV conversion error" in str(exc)


def read_error(exc: BaseException, file: CsvFile) -> DataError:
    """Turn a pyarrow/decoding error into a DataError naming the file (and the bad byte)."""
    text, display = str(exc), file.display
    if not utf8_family(file.fmt.encoding) and isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex()
        return DataError(encoding_error(display, file.fmt.encoding, f"byte 0x{bad}"))
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text:
        where = _first_invalid_utf8(file)
        at = f"byte {where[0]}, line {where[1]}" if where else "an invalid byte"
        return DataError(encoding_error(display, file.fmt.encoding, at))
    if "Empty CSV file" in text:
        return DataError(f"data file {display} is empty: it has no header and no rows")
    if "straddl" in text:
        return DataError(
            f"data file {display} has a line longer than the block size ({file.block_size} bytes); "
            "pass a larger block_size"
        )
    if isinstance(exc, OSError):
        return DataError(f"data file {display} cannot be read: {exc}")
    hint = header_line_hint(file.path, file.fmt)
    return DataError(
        f"data file {display} cannot be parsed as CSV: {text}" + (f".{hint}" if hint else "")
    )


def _first_invalid_utf8(file: CsvFile, chunk: int = 1 << 20) -> tuple[int, int] | None:
    """The byte offset and 1-based line of the first byte that is not valid UTF-8, if any.

    Offsets count the decompressed text of a compressed file (``.gz``), as the parser reads it.
    """
    offset, lines, carry = 0, 1, b""
    with file.open_raw() as fh:
        while True:
            block = fh.read(chunk)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                good, carry = len(data), b""
            except UnicodeDecodeError as exc:
                if block and exc.reason == "unexpected end of data" and exc.end == len(data):
                    good, carry = exc.start, data[exc.start :]  # a character cut by the chunk
                else:
                    return offset + exc.start, lines + data.count(b"\n", 0, exc.start)
            lines += data.count(b"\n", 0, good)
            offset += good
            if not block:
                return None


def read_ahead(
    reader: pacsv.CSVStreamingReader, depth: int = _READ_AHEAD
) -> Generator[pa.RecordBatch, None, None]:
    """The batches of ``reader``, parsed by a background thread at most ``depth`` batches ahead.

    pyarrow's streaming CSV reader parses on the calling thread (without the GIL); parsing on a
    thread of its own overlaps it with the cleaning and writing of earlier batches. A reading
    error is raised here, in order; closing the generator stops and joins the thread (close it
    before the reader).
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in reader:
                if not put(batch):
                    return
        except BaseException as exc:
            put(exc)
        else:
            put(_END)

    thread = threading.Thread(target=produce, name="trainpipe-csv-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def to_float(values: pa.Array, name: str, first_row: int, display: str, *, what: str) -> np.ndarray:
    """A column as float64 (nulls become NaN); text is converted, naming a non-numeric value.

    ``first_row`` is the 0-based data row of the column's first value, ``what`` the rule the
    error message states (e.g. "features must be numbers").

    Raises:
        DataError: a value is not a number; the message names the column, value and data row.
    """
    if values.type == pa.float64():
        converted = values
    else:
        try:
            converted = pc.cast(values, pa.float64())
        except pa.ArrowInvalid:
            lenient = _lenient_text(values)
            try:
                converted = pc.cast(lenient, pa.float64())
            except pa.ArrowInvalid:
                row = _first_unparsable(lenient)
                raise DataError(
                    f"{display}: column {name!r} has a non-numeric value "
                    f"{values[row].as_py()!r} at data row {first_row + row + 1}; {what} "
                    "(fix the value or drop the column)"
                ) from None
    return np.asarray(converted.to_numpy(zero_copy_only=False), dtype=np.float64)


def _lenient_text(values: pa.Array) -> pa.Array:
    """Trim whitespace, read blanks as missing and true/false (any case) as 1/0."""
    trimmed = pc.utf8_trim_whitespace(values)
    lowered = pc.utf8_lower(trimmed)
    text = pc.if_else(
        pc.equal(lowered, "true"),
        "1",
        pc.if_else(pc.equal(lowered, "false"), "0", trimmed),
    )
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), text)


def _first_unparsable(values: pa.Array) -> int:
    """Index of the first value that does not cast to float64 (one exists); a bisection."""
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(values.slice(lo, mid - lo), pa.float64())
        except pa.ArrowInvalid:
            hi = mid
        else:
            lo = mid
    return lo

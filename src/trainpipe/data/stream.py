"""Streaming CSV ingest: validate, clean and write a CSV of any size in bounded memory.

:func:`ingest_csv_stream` is the streaming counterpart of :func:`trainpipe.data.ingest.ingest` for
CSV files too large to load at once. It reads the file with :func:`pyarrow.csv.open_csv` one
record batch (about ``block_size`` bytes of CSV) at a time and, in one pass over the batches:

* validates the header (the label is present, column names are unique, there are features);
* coerces every feature to float64; a non-numeric value raises :class:`DataError` naming the
  column, the value and its 1-based data row (counted from the running row offset);
* drops rows without a label, then exact duplicate rows (see below), then applies the missing
  value policy (``drop`` or ``fail`` in-stream; ``mean`` takes a second pass);
* accumulates per-column count, missing, sum, sum of squared deviations, min and max for the
  statistics, and the classes and their counts (classification);
* appends the cleaned batch to a Parquet file with :class:`pyarrow.parquet.ParquetWriter`.

pyarrow parses the feature columns straight to float64 on a background thread, two batches
ahead of the cleaning. Should it meet a cell it cannot parse, the rest of the file is read as
text and converted per batch, which is slower but names the row (see :meth:`_Scan._batches`).

**Memory** does not grow with the file: pyarrow reads up to 32 blocks of raw CSV ahead of its
parser, and a few parsed batches, 64 MiB of cleaned rows waiting for their Parquet row group and
the duplicate filter (8 bytes per distinct row) come on top. Measured peak resident memory,
imports included, on a 2- and a 4-million-row file alike: about 0.7 GiB with the default 4 MiB
blocks, 1.2 GiB with 16 MiB blocks (smaller blocks also parse faster: they fit the CPU caches).

The output has the layout :func:`~trainpipe.data.dataset.write_dataset` writes (``data.parquet``,
``schema.json``, with pandas' Arrow schema, and ``stats.json``), so
:func:`~trainpipe.data.dataset.read_dataset` and the later stages read it unchanged. The Parquet
file is written to a temporary file and moved into place only after every check has passed; on
any error nothing is left at the output. ``stats.json`` holds ``source``, ``rows_in``, ``rows``,
``columns``, ``label_missing_dropped``, ``duplicates_dropped``, ``missing_rows_dropped``,
``missing_values``, ``features`` (``mean``, ``std``, ``min``, ``max``, ``histogram``),
``class_balance`` (classification), ``anomalies`` and ``data_hash``. As in the in-memory ingest,
the data is validated against ``data.schema`` or the baseline's schema and checked for drift
against the baseline's statistics (``data.baseline``), a ``fail`` anomaly stops the ingest before
anything is committed, and ``data_schema.json`` and ``statistics.html`` are written for the next
run; :mod:`trainpipe.data.stream_checks` keeps what those checks need batch by batch (histograms
come from a seeded sample of 50,000 rows).

Differences from the in-memory ingest, all by design:

* **Duplicates** are found with 64-bit hashes of the cleaned rows, kept in sorted ``uint64``
  runs: 8 bytes per distinct row (16 MB for two million rows, plus a transient copy while two runs
  merge), instead of the whole table. Two different rows share a hash with probability about
  2**-64 (~5e-20) per pair, so wrongly dropping a row among ``n`` distinct rows has odds of about
  ``n**2 / 2**65`` (~1e-7 for two million rows). As in pandas, NaN equals NaN and -0.0 equals 0.0.
* **Missing values**: ``drop`` and ``fail`` work in one pass; ``mean`` reads the file twice (the
  first pass computes the column means of the de-duplicated rows, the second fills and writes);
  ``median`` and ``mode`` need whole columns and raise :class:`DataError`.
* **Labels** are read as text, exactly as written in the file: a classification label ``1`` is
  the class ``"1"`` even where pandas would have parsed the column as floats (``"1.0"``) because
  some labels are missing. Duplicate detection compares labels as text too.
* **Booleans and blanks**: feature cells are trimmed of surrounding whitespace and
  ``true``/``false`` (any case) read as 1.0/0.0, per value rather than per column (such cells
  switch the reading to the slower text path from their batch on).
* **The data hash** (``schema.json`` ``data_hash`` and ``stats.json``) is a SHA-256 over the
  written columns, computed incrementally; it does not depend on ``block_size`` but it is not
  equal to :func:`~trainpipe.data.dataset.frame_hash` of the same table, which needs the whole
  frame. Compare hashes only between datasets written by the same path.
* The first problem found in file order is reported: for example ``fail`` stops at the first
  missing value, before an all-missing column further right would be noticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trainpipe.config import RunConfig
from trainpipe.data.dataset import DATA_KEY, SCHEMA_KEY, STATS_KEY, Schema
from trainpipe.data.ingest import (
    DATA_SCHEMA_KEY,
    STATS_HTML_KEY,
    IngestResult,
    _natural_key,
    expectations,
    raise_on_failures,
)
from trainpipe.data.report import statistics_html
from trainpipe.data.stream_checks import StreamChecks
from trainpipe.errors import DataError
from trainpipe.storage import ObjectStore, open_store
from trainpipe.storage.local import TEMP_PREFIX

__all__ = ["NA_VALUES", "STREAM_POLICIES", "ingest_csv_stream"]

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

STREAM_POLICIES = ("drop", "mean", "fail")
"""The ``data.missing`` policies the streaming ingest supports."""

_ROW_GROUP_BYTES = 64 << 20
"""Cleaned batches are buffered up to about this many bytes, then written as one row group."""

_READ_AHEAD = 2
"""Parsed batches the reader thread may hold beyond the one being cleaned."""
_END = object()

_HEADER_BLOCK = 1 << 16
"""Bytes parsed to read the header (more when a header or first row is longer)."""

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def ingest_csv_stream(
    config: RunConfig, path: Path, output: str, *, block_size: int = 4 << 20
) -> IngestResult:
    """Ingest the CSV file ``path`` into the dataset location ``output``, streaming.

    ``config.data`` supplies the label, ``missing`` and ``drop_duplicates`` settings and
    ``config.task`` the task; ``config.data.source`` is not read (``path`` is; a ``.tsv`` file
    is tab-separated). ``block_size`` is pyarrow's block size, the CSV bytes parsed into one
    record batch: memory grows with it (see the module docstring) and it must exceed the
    longest line of the file.

    Returns the schema and statistics, which are also written to ``output`` as ``schema.json``
    and ``stats.json`` beside ``data.parquet``.

    Raises:
        DataError: the file is missing, empty, not UTF-8 or not parseable as CSV; it lacks the
            label column; a feature (or a regression label) has a non-numeric value; a column has
            no values; missing values meet ``data.missing: fail``; ``data.missing`` is median or
            mode; no rows are left; or (classification) fewer than two classes remain. Nothing is
            written to ``output`` then.
        ValueError: ``block_size`` is not positive.
    """
    path = Path(path)
    display = str(path)
    policy = config.data.missing
    if policy not in STREAM_POLICIES:
        raise DataError(
            f"{display}: data.missing {policy!r} needs whole columns in memory, which streaming "
            f"ingest does not hold; set data.missing to drop (or {', '.join(STREAM_POLICIES)}), "
            "or use ingest without streaming (trainpipe.data.ingest.ingest)"
        )
    if block_size < 1:
        raise ValueError(f"block_size must be a positive number of bytes, got {block_size}")
    if not path.is_file():
        raise DataError(f"data file {display} does not exist; check the path")
    if path.stat().st_size == 0:
        raise DataError(f"data file {display} is empty: it has no header and no rows")
    columns = _read_header(path, block_size, display)
    label = config.data.label
    _validate_header(columns, label, display)
    expected, baseline_stats = expectations(config)
    checks = StreamChecks(
        [c for c in columns if c != label],
        label,
        classification=config.task == "classification",
        expected=expected,
        baseline_stats=baseline_stats,
        seed=config.seed,
    )
    fill = None
    if policy == "mean":
        first = _Scan(config, path, columns, block_size, display, sink=None)
        first.run()
        first.finish_checks()
        fill = first.moments.means()
    store = open_store(output)
    sink = _ParquetSink(store, _writer_schema(columns, label, config.task))
    try:
        scan = _Scan(
            config, path, columns, block_size, display, sink=sink, fill=fill, checks=checks
        )
        scan.run()
        classes = scan.finish_checks()
        anomalies = checks.anomalies(classes)
        raise_on_failures(anomalies, display)
        sink.close()
        schema = Schema(
            label=label,
            task=config.task,
            features=scan.features,
            classes=classes,
            data_hash=scan.data_hash(classes),
        )
        stats = scan.stats(classes)
        stats["anomalies"] = [a.to_dict() for a in anomalies]
        for name, hist in checks.histograms().items():
            stats["features"][name]["histogram"] = hist
        stats["data_hash"] = schema.data_hash
        sink.commit()
    except BaseException:
        sink.discard()
        raise
    store.write_json(SCHEMA_KEY, schema.to_dict())
    store.write_json(DATA_SCHEMA_KEY, checks.inferred_schema(classes, stats["features"]).to_dict())
    store.write_text(STATS_HTML_KEY, statistics_html(stats, title=f"Data statistics: {display}"))
    store.write_json(STATS_KEY, stats)
    return IngestResult(schema=schema, stats=stats)


# --- reading ---------------------------------------------------------------------------------


def _read_options(block_size: int, column_names: list[str] | None = None) -> pacsv.ReadOptions:
    if column_names is None:
        return pacsv.ReadOptions(block_size=block_size, use_threads=True)
    return pacsv.ReadOptions(
        block_size=block_size, use_threads=True, column_names=column_names, skip_rows=1
    )


def _parse_options(path: Path) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")


def _read_header(path: Path, block_size: int, display: str) -> list[str]:
    """The column names, read by the same parser as the data.

    Only a small first block is parsed (the whole ``block_size`` when the header is longer).
    """
    for size in dict.fromkeys((min(block_size, _HEADER_BLOCK), block_size)):
        try:
            with pacsv.open_csv(
                path, read_options=_read_options(size), parse_options=_parse_options(path)
            ) as reader:
                return list(reader.schema.names)
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
            if size < block_size and "straddl" in str(exc):
                continue
            raise _read_error(exc, path, display, block_size) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


def _validate_header(columns: list[str], label: str, display: str) -> None:
    if label not in columns:
        raise DataError(
            f"{display}: label column {label!r} not found; columns are: {', '.join(columns[:20])}"
            f"{' ...' if len(columns) > 20 else ''}. Set data.label to one of them"
        )
    dupes = sorted(name for name, count in Counter(columns).items() if count > 1)
    if dupes:
        raise DataError(f"{display}: duplicate column names {dupes}; rename them")
    if len(columns) < 2:
        raise DataError(f"{display}: no feature columns besides the label {label!r}")


def _open_reader(
    path: Path, columns: list[str], block_size: int, numeric: list[str]
) -> pacsv.CSVStreamingReader:
    """A reader of the ``numeric`` columns as float64 and of the others as text."""
    convert = pacsv.ConvertOptions(
        column_types={c: pa.float64() if c in numeric else pa.string() for c in columns},
        null_values=list(NA_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return pacsv.open_csv(
        path,
        read_options=_read_options(block_size, columns),
        parse_options=_parse_options(path),
        convert_options=convert,
    )


def _is_conversion_error(exc: BaseException) -> bool:
    """True for pyarrow's error on a cell that does not parse as the column's type."""
    return isinstance(exc, pa.ArrowInvalid) and "CSV conversion error" in str(exc)


def _read_error(exc: BaseException, path: Path, display: str, block_size: int) -> DataError:
    """Turn a pyarrow/decoding error into a DataError naming the file (and the bad byte)."""
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text:
        where = _first_invalid_utf8(path)
        at = f" (byte {where[0]}, line {where[1]})" if where else ""
        return DataError(f"data file {display} is not UTF-8 text{at}: re-encode it as UTF-8")
    if "Empty CSV file" in text:
        return DataError(f"data file {display} is empty: it has no header and no rows")
    if "straddl" in text:
        return DataError(
            f"data file {display} has a line longer than the block size ({block_size} bytes); "
            "pass a larger block_size"
        )
    if isinstance(exc, OSError):
        return DataError(f"data file {display} cannot be read: {exc}")
    return DataError(f"data file {display} cannot be parsed as CSV: {text}")


def _first_invalid_utf8(path: Path, chunk: int = 1 << 20) -> tuple[int, int] | None:
    """The byte offset and 1-based line of the first byte that is not valid UTF-8, if any."""
    offset, lines, carry = 0, 1, b""
    with path.open("rb") as fh:
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


def _read_ahead(
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


def _to_float(
    values: pa.Array, name: str, first_row: int, display: str, *, what: str
) -> np.ndarray:
    """A column as float64 (nulls become NaN); text is converted, naming a non-numeric value."""
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


# --- duplicates ------------------------------------------------------------------------------


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, in place: a bijection of uint64 with full avalanche."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _row_hashes(
    values: np.ndarray, gaps: np.ndarray | None, codes: np.ndarray | None
) -> np.ndarray:
    """64-bit hashes of the rows of ``values`` (columns x rows) and the label ``codes``.

    ``gaps`` is the NaN mask of ``values`` (None: no NaN; computed when ``codes`` is None and the
    label is part of ``values``). Equal rows hash equal with NaN == NaN and -0.0 == 0.0, as
    :meth:`pandas.DataFrame.duplicated` compares them.
    """
    canonical = values + 0.0  # -0.0 + 0.0 is +0.0
    if gaps is None and codes is None:
        gaps = np.isnan(canonical)
    if gaps is not None:
        canonical[gaps] = np.nan  # one NaN bit pattern
    bits = canonical.view(np.uint64)
    hashes = np.full(values.shape[1], _SEED, dtype=np.uint64)
    for column in bits:
        hashes ^= column
        _mix(hashes)
    if codes is not None:
        hashes ^= codes.astype(np.uint64)
        _mix(hashes)
    return hashes


class _SeenRows:
    """The set of row hashes seen so far: sorted ``uint64`` runs, 8 bytes per distinct row.

    Runs are merged like a binary counter (a run is merged into the one before it while that one
    is at most twice as long), so there are O(log n) runs and each hash is copied O(log n) times.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def first_seen(self, hashes: np.ndarray) -> np.ndarray:
        """Mark the hashes never seen before (the first of equal ones) and remember them."""
        unique, first = np.unique(hashes, return_index=True)
        fresh = np.ones(len(unique), dtype=bool)
        for run in self._runs:
            where = np.minimum(np.searchsorted(run, unique), len(run) - 1)
            fresh &= run[where] != unique
        keep = np.zeros(len(hashes), dtype=bool)
        keep[first[fresh]] = True
        new = unique[fresh]
        if len(new):
            self._runs.append(new)
            while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
                last = self._runs.pop()
                merged = np.concatenate((self._runs.pop(), last))
                merged.sort(kind="stable")  # two sorted runs: a linear merge
                self._runs.append(merged)
        return keep


# --- statistics ------------------------------------------------------------------------------


class _Moments:
    """Per-column count, sum, sum of squared deviations (Chan's merge), min and max.

    Squared deviations are merged rather than a raw sum of squares, which loses every digit of
    the variance when the mean is large compared with the spread.
    """

    def __init__(self, width: int) -> None:
        self.count = np.zeros(width, dtype=np.int64)
        self.total = np.zeros(width)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.low = np.full(width, np.inf)
        self.high = np.full(width, -np.inf)

    def update(self, values: np.ndarray, gaps: np.ndarray | None) -> None:
        """Add a batch of values (columns x rows) whose NaN mask is ``gaps`` (None: no NaN)."""
        if values.shape[1] == 0:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            if gaps is None:
                count = np.full(values.shape[0], values.shape[1], dtype=np.int64)
                total = values.sum(axis=1)
                mean = total / count
                deviation = values - mean[:, None]
                low, high = values.min(axis=1), values.max(axis=1)
            else:
                present = ~gaps
                count = present.sum(axis=1)
                total = np.where(present, values, 0.0).sum(axis=1)
                mean = total / count
                deviation = np.where(present, values - mean[:, None], 0.0)
                low = np.where(present, values, np.inf).min(axis=1)
                high = np.where(present, values, -np.inf).max(axis=1)
            m2 = np.einsum("ij,ij->i", deviation, deviation)
            merged = self.count + count
            delta = mean - self.mean
            grew = count > 0
            self.mean = np.where(grew, self.mean + delta * count / merged, self.mean)
            self.m2 = np.where(grew, self.m2 + m2 + delta**2 * self.count * count / merged, self.m2)
        self.count = merged
        self.total += total
        self.low = np.minimum(self.low, low)
        self.high = np.maximum(self.high, high)

    def means(self) -> np.ndarray:
        """Column means (NaN for a column without values)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / self.count, np.nan)

    def describe(self, column: int) -> dict[str, float]:
        """The ``{mean, std, min, max}`` ingest reports for one column (population std)."""
        if self.count[column] == 0:
            return {
                "mean": float("nan"),
                "std": float("nan"),
                "min": float("nan"),
                "max": float("nan"),
            }
        return {
            "mean": float(self.total[column] / self.count[column]),
            "std": float(np.sqrt(self.m2[column] / self.count[column])),
            "min": float(self.low[column]),
            "max": float(self.high[column]),
        }


# --- one pass --------------------------------------------------------------------------------


class _Rows:
    """The rows of one batch still kept, column-major, with what is known about them.

    ``values`` holds the features (columns x rows), ``gaps`` its NaN mask (None when there is no
    missing value), ``positions`` the rows' 0-based positions in the batch, ``codes`` the class
    codes (classification) and ``target`` the label values (regression).
    """

    def __init__(self, values: np.ndarray, gaps: np.ndarray | None, positions: np.ndarray) -> None:
        self.values = values
        self.gaps = gaps
        self.positions = positions
        self.codes: np.ndarray | None = None
        self.target: np.ndarray | None = None

    @property
    def count(self) -> int:
        """The number of rows kept."""
        return len(self.positions)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true."""
        if mask.all():
            return
        # compress() returns C-contiguous columns; values[:, mask] would be column-strided
        self.values = self.values.compress(mask, axis=1)
        if self.gaps is not None:
            self.gaps = self.gaps.compress(mask, axis=1)
        self.positions = self.positions[mask]
        if self.codes is not None:
            self.codes = self.codes[mask]
        if self.target is not None:
            self.target = self.target[mask]

    def hashes(self) -> np.ndarray:
        """64-bit hashes of the rows: features, then the label."""
        if self.target is None:
            return _row_hashes(self.values, self.gaps, self.codes)
        keyed = np.vstack((self.values, self.target))
        return _row_hashes(keyed, None, None)


class _Scan:
    """One pass over the file: clean every batch, update the statistics, hand rows to a sink."""

    def __init__(
        self,
        config: RunConfig,
        path: Path,
        columns: list[str],
        block_size: int,
        display: str,
        *,
        sink: _ParquetSink | None,
        fill: np.ndarray | None = None,
        checks: StreamChecks | None = None,
    ) -> None:
        self.config = config
        self.path = path
        self.columns = columns
        self.block_size = block_size
        self.display = display
        self.sink = sink
        self.fill = fill
        self.checks = checks
        self.label = config.data.label
        self.classification = config.task == "classification"
        self.features = [c for c in columns if c != self.label]
        self.feature_index = [columns.index(c) for c in self.features]
        self.label_index = columns.index(self.label)
        width = len(self.features)
        self.moments = _Moments(width)
        self.present_raw = np.zeros(width, dtype=np.int64)
        self.missing = np.zeros(width, dtype=np.int64)
        self.rows_in = 0
        self.rows = 0
        self.label_missing = 0
        self.duplicates = 0
        self.missing_rows = 0
        self.seen = _SeenRows() if config.data.drop_duplicates else None
        self.codes: dict[str, int] = {}
        self.class_counts = np.zeros(0, dtype=np.int64)
        self.digests = [hashlib.sha256() for _ in range(width + 1)]

    def run(self) -> None:
        """Read and process every batch of the file."""
        try:
            with contextlib.closing(self._batches()) as batches:
                for batch in batches:
                    self._process(batch)
                    self.rows_in += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
            raise _read_error(exc, self.path, self.display, self.block_size) from exc

    def _batches(self) -> Generator[pa.RecordBatch, None, None]:
        """The record batches of the file, the numbers parsed by pyarrow while it can.

        pyarrow parses the number columns as float64 (the fast path). At the first cell it cannot
        parse (a typo, surrounding blanks, true/false) it stops without saying where; the file is
        then opened again with every column as text, the rows already processed are skipped
        unprocessed, and the rest is converted per batch by :func:`_to_float`, which reads what
        it can and names the row of what it cannot.
        """
        numeric = self.features if self.classification else self.columns
        try:
            # open_csv parses the first block already
            with (
                _open_reader(self.path, self.columns, self.block_size, numeric) as reader,
                contextlib.closing(_read_ahead(reader)) as batches,
            ):
                for batch in batches:
                    yield batch  # self.rows_in counts it once it is processed
            return
        except pa.ArrowInvalid as exc:
            if not _is_conversion_error(exc):
                raise
        done, skipped = self.rows_in, 0
        with (
            _open_reader(self.path, self.columns, self.block_size, []) as reader,
            contextlib.closing(_read_ahead(reader)) as batches,
        ):
            for batch in batches:
                if skipped + batch.num_rows <= done:
                    skipped += batch.num_rows
                    continue
                yield batch.slice(done - skipped) if skipped < done else batch
                skipped = done

    def _process(self, batch: pa.RecordBatch) -> None:
        n, start = batch.num_rows, self.rows_in
        if n == 0:
            return
        values = np.empty((len(self.features), n))
        for j, index in enumerate(self.feature_index):
            values[j] = _to_float(
                batch.column(index),
                self.features[j],
                start,
                self.display,
                what="features must be numbers",
            )
        gaps = np.isnan(values)
        gap_counts = gaps.sum(axis=1)
        self.present_raw += n - gap_counts
        kept = _Rows(values, gaps if gap_counts.any() else None, np.arange(n))
        raw_label = batch.column(self.label_index)
        if self.classification:
            has_label = np.asarray(raw_label.is_valid().to_numpy(zero_copy_only=False))
            kept.keep(has_label)
            kept.codes = self._label_codes(raw_label.filter(pa.array(has_label)))
        else:
            kept.target = _to_float(
                raw_label, self.label, start, self.display, what="a regression label is a number"
            )
            has_label = ~np.isnan(kept.target)
            kept.keep(has_label)
        self.label_missing += n - kept.count
        if self.seen is not None and kept.count:
            before = kept.count
            kept.keep(self.seen.first_seen(kept.hashes()))
            self.duplicates += before - kept.count
        if kept.gaps is not None:
            self._handle_missing(kept, start)
        self.moments.update(kept.values, kept.gaps)
        if self.checks is not None:
            self.checks.update(kept.values, kept.target)
        self.rows += kept.count
        if kept.codes is not None:
            counts = np.bincount(kept.codes, minlength=len(self.codes))
            counts[: len(self.class_counts)] += self.class_counts
            self.class_counts = counts
        if self.sink is not None and kept.count:
            self._write(kept, raw_label)

    def _label_codes(self, labels: pa.Array) -> np.ndarray:
        """Global class codes (in order of first appearance) of non-null labels."""
        encoded = pc.dictionary_encode(labels)
        lookup = np.array(
            [self.codes.setdefault(v, len(self.codes)) for v in encoded.dictionary.to_pylist()],
            dtype=np.int64,
        )
        indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return lookup[indices] if len(lookup) else indices

    def _handle_missing(self, kept: _Rows, start: int) -> None:
        """Count the missing values of the kept rows and apply ``data.missing`` to them."""
        assert kept.gaps is not None
        self.missing += kept.gaps.sum(axis=1)
        incomplete = np.asarray(kept.gaps.any(axis=0))
        policy = self.config.data.missing
        if policy == "fail":
            first = int(np.argmax(incomplete))
            column = self.features[int(np.argmax(kept.gaps[:, first]))]
            raise DataError(
                f"{self.display}: column {column!r} has missing values (first at data row "
                f"{start + int(kept.positions[first]) + 1}) and data.missing is 'fail'; choose "
                "drop or mean (median and mode need ingest without streaming)"
            )
        if policy == "drop":
            self.missing_rows += int(incomplete.sum())
            kept.keep(~incomplete)
            kept.gaps = None
        elif self.fill is not None:  # mean, second pass
            kept.values = np.where(kept.gaps, self.fill[:, None], kept.values)
            gaps = np.isnan(kept.values)
            kept.gaps = gaps if gaps.any() else None

    def _write(self, kept: _Rows, raw_label: pa.Array) -> None:
        """Append the kept rows to the sink and to the content hash."""
        assert self.sink is not None
        arrays: list[pa.Array] = [pa.array(column) for column in kept.values]
        for digest, column in zip(self.digests, kept.values, strict=False):
            digest.update(np.ascontiguousarray(column).data)
        if kept.codes is not None:
            labels = raw_label.take(pa.array(kept.positions)).cast(pa.large_string())
            self.digests[-1].update(kept.codes.astype(np.int64).data)
        else:
            assert kept.target is not None
            labels = pa.array(kept.target)
            self.digests[-1].update(np.ascontiguousarray(kept.target).data)
        arrays.insert(self.label_index, labels)
        self.sink.write(pa.RecordBatch.from_arrays(arrays, schema=self.sink.schema))

    def finish_checks(self) -> list[str]:
        """The end-of-file checks of ingest, in its order; returns the sorted class names."""
        if self.rows_in == 0:
            raise DataError(f"data file {self.display} has a header but no rows")
        empty = [c for c, n in zip(self.features, self.present_raw, strict=True) if n == 0]
        if empty:
            raise DataError(
                f"{self.display}: column {empty[0]!r} has no values (all missing); "
                "drop it from the data"
            )
        if self.rows == 0:
            raise DataError(
                f"{self.display}: no rows left after cleaning ({self.rows_in} rows read)"
            )
        if not self.classification:
            return []
        present = [c for c, code in self.codes.items() if self.class_counts[code] > 0]
        classes = sorted(present, key=_natural_key)
        if len(classes) < 2:
            raise DataError(
                f"{self.display}: label column {self.label!r} has a single class {classes!r}; "
                "classification needs at least two"
            )
        return classes

    def data_hash(self, classes: list[str]) -> str:
        """SHA-256 over the column names and types, the class codes and every written column."""
        digest = hashlib.sha256()
        header = {
            "columns": self.columns,
            "label": self.label,
            "task": self.config.task,
            "codes": list(self.codes) if classes else [],
        }
        digest.update(json.dumps(header, sort_keys=True).encode())
        for part in self.digests:
            digest.update(part.digest())
        return digest.hexdigest()

    def stats(self, classes: list[str]) -> dict[str, Any]:
        """The statistics in the shape :func:`trainpipe.data.ingest.ingest` writes."""
        stats: dict[str, Any] = {
            "source": self.display,
            "rows_in": self.rows_in,
            "rows": self.rows,
            "columns": len(self.features) + 1,
            "label_missing_dropped": self.label_missing,
            "duplicates_dropped": self.duplicates,
            "missing_rows_dropped": self.missing_rows,
            "missing_values": {c: int(n) for c, n in zip(self.features, self.missing, strict=True)},
            "features": {c: self.moments.describe(j) for j, c in enumerate(self.features)},
        }
        if classes:
            stats["class_balance"] = {c: int(self.class_counts[self.codes[c]]) for c in classes}
        return stats


# --- writing ---------------------------------------------------------------------------------


def _writer_schema(columns: list[str], label: str, task: str) -> pa.Schema:
    """The Arrow schema pandas writes for the in-memory ingest's frame (with pandas metadata)."""
    empty = pd.DataFrame(
        {
            c: pd.Series([], dtype="str" if c == label and task == "classification" else "float64")
            for c in columns
        }
    )
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    if task == "classification":
        index = schema.get_field_index(label)
        schema = schema.set(index, pa.field(label, pa.large_string()))
    return schema


def _dictionary_columns(table: pa.Table, sample: int = 10_000) -> list[str]:
    """The columns worth dictionary encoding: text, and numbers whose first rows repeat.

    Parquet writers try a dictionary for every column by default and give it up only after
    hashing a megabyte of distinct values, which costs several times the rest of the write for
    continuous features. The values written are the same either way; only the encoding differs.
    """
    chosen = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if not pa.types.is_floating(field.type):
            chosen.append(field.name)
            continue
        head = np.asarray(column.slice(0, sample).to_numpy())
        if len(np.unique(head)) <= len(head) // 2:
            chosen.append(field.name)
    return chosen


class _ParquetSink:
    """Parquet written batch by batch to a temp file that becomes ``data.parquet`` on commit.

    For a local store the temp file lies beside the target (a hidden name the store never lists)
    and is renamed into place; for a remote store it lies in a local temp directory and is
    uploaded. :meth:`discard` removes it and any directory created for it.
    """

    def __init__(self, store: ObjectStore, schema: pa.Schema) -> None:
        self.store = store
        self.schema = schema
        self.target = store.local_path(DATA_KEY)
        self.path: Path | None = None
        self._created: list[Path] = []
        self._tempdir: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_bytes = 0

    def _open(self, first: pa.Table) -> pq.ParquetWriter:
        if self.target is not None:
            parent = self.target.parent
            while not parent.exists():
                self._created.append(parent)
                parent = parent.parent
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = self.target.with_name(f"{TEMP_PREFIX}{self.target.name}.{uuid.uuid4().hex}")
        else:
            self._tempdir = Path(tempfile.mkdtemp(prefix="trainpipe-stream-"))
            self.path = self._tempdir / DATA_KEY
        return pq.ParquetWriter(
            str(self.path), self.schema, use_dictionary=_dictionary_columns(first)
        )

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch``; write the buffer as one row group once it is large enough."""
        self._pending.append(batch)
        self._pending_bytes += batch.nbytes
        if self._pending_bytes >= _ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        if self._writer is None:
            self._writer = self._open(table)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """Write what is buffered and close the file (still under its temp name)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> None:
        """Move the finished file into place as ``data.parquet``."""
        if self.path is None:
            raise DataError("internal error: no Parquet data was written")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.target is not None:
            os.replace(self.path, self.target)
        else:
            self.store.upload_file(self.path, DATA_KEY)
            self._remove_tempdir()
        self.path = None

    def discard(self) -> None:
        """Remove the temp file and the directories made for it; the output is left untouched."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._pending = []
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None
        for directory in self._created:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()
        self._remove_tempdir()

    def _remove_tempdir(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

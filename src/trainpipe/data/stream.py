"""Streaming CSV ingest: validate, clean and write a CSV of any size in bounded memory.

:func:`ingest_csv_stream` is the streaming counterpart of :func:`trainpipe.data.ingest.ingest` for
CSV files too large to load at once. It reads the file with :func:`pyarrow.csv.open_csv` one
record batch (about ``block_size`` bytes of CSV) at a time and, in one pass over the batches:

* validates the header (the label is present, column names are unique, there are features)
  and leaves out the columns ``data.drop`` names;
* coerces every feature to float64; a non-numeric value raises :class:`DataError` naming the
  column, the value and its 1-based data row (counted from the running row offset);
* drops rows without a label, then exact duplicate rows (see below), then applies the missing
  value policy (``drop``, ``constant`` or ``fail`` in-stream; ``mean`` takes a second pass);
* accumulates per-column count, missing, sum, sum of squared deviations, min and max for the
  statistics, and the classes and their counts (classification);
* appends the cleaned batch to a Parquet file with :class:`pyarrow.parquet.ParquetWriter`.

pyarrow parses the feature columns straight to float64 on a background thread, two batches
ahead of the cleaning. Should it meet a cell it cannot parse, the rest of the file is read as
text and converted per batch, which is slower but names the row.

The parts, each in a module of its own: the CSV reader (:mod:`trainpipe.data.stream_csv`), the
duplicate filter (:mod:`trainpipe.data.stream_dedupe`), the column statistics and the missing
value policy (:mod:`trainpipe.data.stream_moments`), the schema and drift checks
(:mod:`trainpipe.data.stream_checks`) and the atomic Parquet output
(:mod:`trainpipe.data.stream_sink`). This module holds :func:`ingest_csv_stream` and the pass
over the file that drives them.

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
* **Missing values**: ``drop``, ``constant`` and ``fail`` work in one pass; ``mean`` reads the
  file twice (the first pass computes the column means of the de-duplicated rows, the second
  fills and writes); ``median`` and ``mode`` need whole columns and raise :class:`DataError`
  (:func:`trainpipe.data.ingest.ingest` reads such a file into memory instead).
* **Labels** are read as text, as written in the file but for surrounding blanks (trimmed and
  counted, as in memory): a classification label ``1`` is the class ``"1"`` even where pandas
  would have parsed the column as floats (``"1.0"``) because some labels are missing. Duplicate
  detection compares labels as text too.
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
import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.data.columns import ColumnPlan
from trainpipe.data.dataset import SCHEMA_KEY, STATS_KEY, Schema
from trainpipe.data.expectations import expectations, raise_on_failures
from trainpipe.data.file_formats import file_format, resolve_format
from trainpipe.data.ingest_mode import IngestMode, setting_obstacles
from trainpipe.data.ingest_result import (
    DATA_SCHEMA_KEY,
    STATS_HTML_KEY,
    IngestResult,
    class_order,
    label_notes,
)
from trainpipe.data.report import statistics_html
from trainpipe.data.row_accounting import RowAccount
from trainpipe.data.stream_checks import StreamChecks
from trainpipe.data.stream_csv import (
    NA_VALUES,
    CsvFile,
    read_header,
    record_batches,
    to_float,
    validate_header,
)
from trainpipe.data.stream_dedupe import SeenRows, row_hashes
from trainpipe.data.stream_folder import FolderSource
from trainpipe.data.stream_moments import STREAM_POLICIES, MissingValues, Moments, check_policy
from trainpipe.data.stream_parquet import ParquetSource
from trainpipe.data.stream_sink import ParquetSink, writer_schema
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri

__all__ = [
    "NA_VALUES",
    "STREAM_POLICIES",
    "BatchSource",
    "ingest_csv_stream",
    "ingest_folder_stream",
    "ingest_parquet_stream",
]


def ingest_csv_stream(
    config: RunConfig,
    path: Path,
    output: str,
    *,
    block_size: int = 4 << 20,
    display: str | None = None,
    mode: IngestMode | None = None,
) -> IngestResult:
    """Ingest the CSV file ``path`` into the dataset location ``output``, streaming.

    ``config.data`` supplies the label, ``format``, ``csv``, ``missing``, ``fill_value`` and
    ``drop_duplicates`` settings and ``config.task`` the task; ``config.data.source`` is not read
    (``path`` is; its suffix says whether it is tab-separated or gzip-compressed, see
    :func:`~trainpipe.data.file_formats.file_format`, and its header line may choose the delimiter;
    how it was read is recorded in the statistics as ``csv``). ``block_size`` is pyarrow's
    block size, the CSV bytes parsed into one record batch: memory grows with it (see the
    module docstring) and it must exceed the longest line of the file. ``display`` names the
    file in messages and statistics (default: ``path``; ingest passes the URI of a downloaded
    copy), and ``mode`` is recorded as the statistics' ``ingest_mode`` (default: streamed
    because called directly).

    Returns the schema and statistics, which are also written to ``output`` as ``schema.json``
    and ``stats.json`` beside ``data.parquet``.

    Raises:
        DataError: the file is missing, empty, not text in ``data.csv.encoding`` or not
            parseable as CSV (or its header calls for a comma delimiter with a decimal comma); it
            lacks the label column; a feature (or a regression label) has a non-numeric value; a
            column has no values; missing values meet ``data.missing: fail``; ``data.missing``
            is median or mode; the file is not read as CSV (``data.format`` or its suffix); no
            rows are left; or (classification) fewer than two classes remain. Nothing is
            written to ``output`` then.
        ValueError: ``block_size`` is not positive.
    """
    path = Path(path)
    display = display or str(path)
    if block_size < 1:
        raise ValueError(f"block_size must be a positive number of bytes, got {block_size}")
    size = _checked_size(path, display)
    fmt = file_format(display, config.data.format, config.data.csv)
    if fmt.kind != "csv":
        raise DataError(
            f"{display}: streaming ingest reads CSV files, but this one is read as {fmt.kind} "
            "(data.format or its suffix); use trainpipe.data.ingest.ingest"
        )
    fmt = resolve_format(path, fmt, display=display)
    notice = fmt.notice(display)
    if notice:
        print_line(notice)
    file = _CsvSource(CsvFile(path, display, block_size, fmt))
    return _ingest_stream(
        config,
        file,
        output,
        mode=mode or _direct(config, size, "ingest_csv_stream"),
        extra=lambda: {"csv": fmt.describe()},
    )


def ingest_parquet_stream(
    config: RunConfig,
    files: Path | Sequence[str],
    output: str,
    *,
    display: str | None = None,
    mode: IngestMode | None = None,
) -> IngestResult:
    """Ingest Parquet ``files`` (one local file, or a glob's shards: local paths or ``s3://``
    URIs, as one table in their order) into ``output``, streaming, as :func:`ingest_csv_stream`
    ingests a CSV file: a row group at a time (:mod:`trainpipe.data.stream_parquet`), every
    feature read as a number, the label as text (an integer as its digits).

    Raises:
        DataError: as :func:`ingest_csv_stream` (a file is not Parquet, a row group cannot be
            read, or the shards' columns differ, instead of the CSV parsing errors). Nothing is
            written to ``output`` then.
    """
    names = [str(files)] if isinstance(files, Path) else [str(f) for f in files]
    display = display or names[0]
    size = sum(_checked_size(Path(n), n) for n in names if not is_remote_uri(n))
    source = ParquetSource(tuple(names), display)
    return _ingest_stream(
        config, source, output, mode=mode or _direct(config, size, "ingest_parquet_stream")
    )


def ingest_folder_stream(
    config: RunConfig,
    source: FolderSource,
    output: str,
    *,
    mode: IngestMode,
    files: dict[str, Any],
) -> IngestResult:
    """Ingest an image or audio folder into ``output``, streaming: its files decoded a chunk at
    a time (:mod:`trainpipe.data.stream_folder`) through the pass a CSV file goes through;
    ``files`` is the schema's descriptor of how rows were decoded.

    Raises:
        DataError: as the in-memory folder read (a file that does not decode, naming it) and
            as :func:`ingest_csv_stream`. Nothing is written to ``output`` then.
    """
    return _ingest_stream(
        config, source, output, mode=mode, files=files,
        extra=lambda: {source.kind: source.stats()},
    )  # fmt: skip


def _kept(columns: list[str], drop: Sequence[str], display: str) -> list[str]:
    """The columns the stream reads: all but ``data.drop``'s, each of which the file must have.

    Raises:
        DataError: ``data.drop`` names a column the file lacks.
    """
    unknown = [name for name in drop if name not in columns]
    if unknown:
        raise DataError(
            f"{display}: data.drop names {unknown}, which the data lacks; columns are: "
            f"{', '.join(columns[:20])}{' ...' if len(columns) > 20 else ''}"
        )
    kept = [name for name in columns if name not in drop]
    if len(kept) < 2:
        raise DataError(
            f"{display}: data.drop leaves no feature column besides the label; drop fewer columns"
        )
    return kept


def _checked_size(path: Path, display: str) -> int:
    if not path.is_file():
        raise DataError(f"data file {display} does not exist; check the path")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"data file {display} is empty: it has no header and no rows")
    return size


def _direct(config: RunConfig, size: int, function: str) -> IngestMode:
    return IngestMode(
        mode="stream",
        reason=f"{function} was called directly",
        size_bytes=size,
        threshold_mb=config.data.stream_threshold_mb,
    )


class BatchSource(Protocol):
    """What the pass reads: a file's columns and its record batches, in file order."""

    @property
    def display(self) -> str:
        """The name messages and the statistics give the file."""
        ...

    @property
    def kind(self) -> str:
        """What the statistics call the source's columns (``CSV``, ``Parquet``)."""
        ...

    def columns(self) -> list[str]:
        """The column names, in file order."""
        ...

    def batches(
        self, columns: list[str], *, label: str, numeric: Sequence[str]
    ) -> Generator[pa.RecordBatch, None, None]:
        """The record batches; ``numeric`` columns may come as numbers, the label as text
        unless it is among them."""
        ...


@dataclass(frozen=True)
class _CsvSource:
    """A CSV file as a :class:`BatchSource`."""

    file: CsvFile

    @property
    def display(self) -> str:
        return self.file.display

    @property
    def kind(self) -> str:
        return "CSV"

    @functools.cached_property
    def _header(self) -> list[str]:
        return read_header(self.file)

    def columns(self) -> list[str]:
        return list(self._header)

    def batches(
        self, columns: list[str], *, label: str, numeric: Sequence[str]
    ) -> Generator[pa.RecordBatch, None, None]:
        return record_batches(self.file, self._header, numeric=numeric, include=columns)


def _ingest_stream(
    config: RunConfig,
    source: BatchSource,
    output: str,
    *,
    mode: IngestMode,
    files: dict[str, Any] | None = None,
    extra: Callable[[], dict[str, Any]] | None = None,
) -> IngestResult:
    """The streaming ingest of ``source``: one pass (two with ``data.missing: mean``).
    ``files``: the schema's descriptor of rows decoded from files; ``extra()``: what reading
    the source found, joined to the statistics after the pass."""
    display = source.display
    check_policy(config.data.missing, display)
    ignored = setting_obstacles(config)
    if ignored:
        raise DataError(
            f"{display}: the streaming ingest cannot honour these settings: "
            + "; ".join(ignored)
            + ". Ingest it with trainpipe.data.ingest.ingest, which reads it into memory"
        )
    columns = source.columns()
    label = config.data.label
    validate_header(columns, label, display)
    columns = _kept(columns, config.data.drop, display)
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
    if config.data.missing == "constant":
        fill = np.full(len(columns) - 1, config.data.fill_value)
    elif config.data.missing == "mean":
        first = _Scan(config, source, columns, sink=None)
        first.run()
        first.finish_checks()
        fill = first.moments.means()
    store = open_store(output)
    sink = ParquetSink(store, writer_schema(columns, label, config.task))
    try:
        scan = _Scan(config, source, columns, sink=sink, fill=fill, checks=checks)
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
            files=dict(files or {}),
        )
        stats = scan.stats(classes)
        stats.update(extra() if extra is not None else {})
        stats["anomalies"] = [a.to_dict() for a in anomalies]
        for name, hist in checks.histograms().items():
            stats["features"][name]["histogram"] = hist
        stats["data_hash"] = schema.data_hash
        stats["ingest_mode"] = mode.to_dict()
        sink.commit()
    except BaseException:
        sink.discard()
        raise
    store.write_json(SCHEMA_KEY, schema.to_dict())
    store.write_json(DATA_SCHEMA_KEY, checks.inferred_schema(classes, stats["features"]).to_dict())
    store.write_text(STATS_HTML_KEY, statistics_html(stats, title=f"Data statistics: {display}"))
    store.write_json(STATS_KEY, stats)
    return IngestResult(schema=schema, stats=stats)


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
            return row_hashes(self.values, self.gaps, self.codes)
        keyed = np.vstack((self.values, self.target))
        return row_hashes(keyed, None, None)


class _Scan:
    """One pass over the file: clean every batch, update the statistics, hand rows to a sink."""

    def __init__(
        self,
        config: RunConfig,
        source: BatchSource,
        columns: list[str],
        *,
        sink: ParquetSink | None,
        fill: np.ndarray | None = None,
        checks: StreamChecks | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.columns = columns
        self.display = source.display
        self.sink = sink
        self.checks = checks
        self.label = config.data.label
        self.classification = config.task == "classification"
        self.features = [c for c in columns if c != self.label]
        self.feature_index = [columns.index(c) for c in self.features]
        self.label_index = columns.index(self.label)
        width = len(self.features)
        self.moments = Moments(width)
        self.missing = MissingValues(config.data.missing, self.features, self.display, fill=fill)
        self.present_raw = np.zeros(width, dtype=np.int64)
        self.rows_in = 0
        self.rows = 0
        self.label_missing = 0
        self.duplicates = 0
        self.seen = SeenRows() if config.data.drop_duplicates else None
        self.codes: dict[str, int] = {}
        self.labels_trimmed = 0
        self.label_example = ""
        self.class_counts = np.zeros(0, dtype=np.int64)
        self.digests = [hashlib.sha256() for _ in range(width + 1)]

    def run(self) -> None:
        """Read and process every batch of the file.

        A scan for classification parses the features as numbers and keeps the label as text;
        for regression it parses every column as numbers.
        """
        numeric = self.features if self.classification else self.columns
        batches = self.source.batches(self.columns, label=self.label, numeric=numeric)
        with contextlib.closing(batches):
            for batch in batches:
                self._process(batch)
                self.rows_in += batch.num_rows

    def _process(self, batch: pa.RecordBatch) -> None:
        n, start = batch.num_rows, self.rows_in
        if n == 0:
            return
        values = np.empty((len(self.features), n))
        for j, index in enumerate(self.feature_index):
            values[j] = to_float(
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
        if self.classification and (
            pa.types.is_string(raw_label.type) or pa.types.is_large_string(raw_label.type)
        ):
            raw_label = self._trimmed(raw_label)
        if self.classification:
            has_label = np.asarray(raw_label.is_valid().to_numpy(zero_copy_only=False))
            kept.keep(has_label)
            kept.codes = self._label_codes(raw_label.filter(pa.array(has_label)))
        else:
            kept.target = to_float(
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
            keep, kept.values, kept.gaps = self.missing.apply(
                kept.values, kept.gaps, kept.positions, start
            )
            if keep is not None:
                kept.keep(keep)
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

    def _trimmed(self, labels: pa.Array) -> pa.Array:
        """Class labels without surrounding blanks, as in memory; counted, the first kept."""
        trimmed = pc.utf8_trim_whitespace(labels)
        changed = pc.fill_null(pc.not_equal(labels, trimmed), False)
        count = pc.sum(changed).as_py() or 0
        if count and not self.labels_trimmed:
            self.label_example = labels.filter(changed)[0].as_py()
        self.labels_trimmed += count
        return trimmed

    def _label_codes(self, labels: pa.Array) -> np.ndarray:
        """Global class codes (in order of first appearance) of non-null labels."""
        encoded = pc.dictionary_encode(labels)
        lookup = np.array(
            [self.codes.setdefault(v, len(self.codes)) for v in encoded.dictionary.to_pylist()],
            dtype=np.int64,
        )
        indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return lookup[indices] if len(lookup) else indices

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
        classes = class_order(present)
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

    def account(self) -> RowAccount:
        """Where the rows read went, rule by rule, in the order the rules ran."""
        account = RowAccount(rows_in=self.rows_in)
        account.remove("label_missing", self.label_missing)
        account.remove("duplicate_rows", self.duplicates)
        account.remove("missing_values", self.missing.rows_dropped)
        if account.rows_out != self.rows:
            raise AssertionError(
                f"stream row accounting is off: {account.to_dict()} but {self.rows} rows written"
            )
        return account

    def stats(self, classes: list[str]) -> dict[str, Any]:
        """The statistics in the shape :func:`trainpipe.data.ingest.ingest` writes."""
        stats: dict[str, Any] = {
            "source": self.display,
            "rows_in": self.rows_in,
            "rows": self.rows,
            "columns": len(self.features) + 1,
            "label_missing_dropped": self.label_missing,
            "duplicates_dropped": self.duplicates,
            "missing_rows_dropped": self.missing.rows_dropped,
            "row_accounting": self.account().to_dict(),
            "column_roles": dataclasses.replace(
                ColumnPlan.numeric(
                    self.features, f"a streamed {self.source.kind} column, read as a number"
                ),
                dropped=tuple(self.config.data.drop),
            ).to_dict(),
            "missing_values": {
                c: int(n) for c, n in zip(self.features, self.missing.counts, strict=True)
            },
            "features": {c: self.moments.describe(j) for j, c in enumerate(self.features)},
        }
        if classes:
            stats["class_balance"] = {c: int(self.class_counts[self.codes[c]]) for c in classes}
            labels = label_notes(self.labels_trimmed, self.label_example, classes)
            if labels:
                stats["labels"] = labels
        return stats

"""The ``data`` and ``split`` sections: where the data comes from, how ingest cleans it, and the
fractions held out."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from trainpipe.config.model import ModelConfig
from trainpipe.config.problems import Problems

__all__ = [
    "AudioConfig",
    "ColumnRole",
    "CsvConfig",
    "DataConfig",
    "LeakCheck",
    "MissingPolicy",
    "SplitConfig",
]

MissingPolicy = Literal["drop", "mean", "median", "mode", "constant", "fail"]
ColumnRole = Literal["numeric", "categorical", "date", "text", "id"]
"""What a column is to ingest: a ``numeric`` feature, a ``categorical`` one (one-hot encoded),
a ``date`` (split into numeric parts), free ``text``, or an ``id`` (not a feature; an id that
repeats keeps its rows in one split)."""
LeakCheck = Literal["fail", "warn"]


@dataclass(kw_only=True)
class AudioConfig:
    """How an audio folder's WAV files become rows (:mod:`trainpipe.data.audio_folder`)."""

    sample_rate: int = 16000
    """Every file is resampled to this rate (Hz)."""
    seconds: float = 1.0
    """Every clip is cut or zero-padded to this duration (from its start)."""
    features: Literal["log_mel", "waveform"] = "log_mel"
    """``log_mel``: a log-mel spectrogram ``[n_mels, frames]`` (25 ms Hann windows every 10 ms),
    for ``model.kind: cnn`` with ``model.image_shape: [1, n_mels, frames]``; ``waveform``: the
    samples themselves."""
    n_mels: int = 32

    def check(self, problems: Problems) -> None:
        """A positive rate, duration and mel band count; at least one window per clip."""
        need = problems.need
        need(self.sample_rate >= 1000, "data.audio.sample_rate", ">= 1000", self.sample_rate)
        need(self.seconds > 0, "data.audio.seconds", "> 0", self.seconds)
        need(1 <= self.n_mels <= 256, "data.audio.n_mels", "in [1, 256]", self.n_mels)
        if self.sample_rate >= 1000 and self.seconds > 0:
            need(
                self.seconds >= 0.025,
                "data.audio.seconds",
                ">= 0.025 (one 25 ms window)",
                self.seconds,
            )


_LINE_BREAKS = ("\n", "\r")


@dataclass(kw_only=True)
class CsvConfig:
    """How CSV files are read (:class:`~trainpipe.data.file_formats.FileFormat`): every CSV source,
    in memory or streamed, and the plain tables a component is given."""

    delimiter: str = "auto"
    """The field separator, one character (``";"``, ``"|"``, ``"\\t"`` in double quotes for a
    tab), or ``auto``: a comma (a tab for ``.tsv``), unless the header line has none of it and
    exactly one of ``,`` ``;`` tab ``|``, which is then used; that choice is printed and recorded
    in ``stats.json`` (``csv``)."""
    decimal: Literal["auto", ".", ","] = "auto"
    """The decimal mark of numbers: ``,`` for ``1,5`` (then the delimiter cannot be a comma),
    ``.``, or ``auto``: a point, unless the file is not comma-separated and its first data lines
    hold numbers with a decimal comma (``14,23``) and none with a point; that choice is printed
    and recorded in ``stats.json`` (``csv``)."""
    comment: str = ""
    """One character: a line that starts with it is skipped, before and after the header
    (whole lines only: a ``#`` inside a line is data); empty: no comment lines."""
    skip_rows: int = 0
    """Lines at the start of the file skipped before the header (whatever they hold)."""
    missing_values: list[str] = field(default_factory=list)
    """Cell texts read as missing besides pandas' defaults (``NA``, ``null``, ``NaN``, empty,
    ...), e.g. ``[unknown, "?", "-"]``; such cells then follow ``data.missing``. They apply to
    every column, the label included (a row whose label reads as missing is dropped, counted)."""
    encoding: str = "utf-8"
    """The text encoding, a Python codec name: ``utf-8`` (a byte-order mark is skipped),
    ``latin-1``, ``cp1252``, ..."""
    header: bool = True
    """Whether the file's first line (after ``skip_rows`` and comment lines) names the columns.
    ``false`` for a file of data lines only (as UCI's ``.data`` files are): the columns are
    named by ``columns``, else ``column_1``, ``column_2``, ..."""
    columns: list[str] = field(default_factory=list)
    """The column names of a file without a header line (``header: false``), one per field,
    in order; empty: ``column_1``, ``column_2``, ..."""

    def check(self, problems: Problems) -> None:
        """One character where one is asked for, a known codec, and settings that agree."""
        need = problems.need
        one_char = "auto or one character such as ';', '|' or a tab (\"\\t\" in double quotes)"
        delimiter_ok = need(
            self.delimiter == "auto" or _one_char(self.delimiter, '"'),
            "data.csv.delimiter",
            one_char,
            self.delimiter,
        )
        need(
            self.comment == "" or (_one_char(self.comment, '"') and not self.comment.isspace()),
            "data.csv.comment",
            "empty or one character that starts a comment line, such as '#'",
            self.comment,
        )
        need(
            self.skip_rows >= 0,
            "data.csv.skip_rows",
            ">= 0 (lines before the header)",
            self.skip_rows,
        )
        for i, token in enumerate(self.missing_values):
            need(
                not any(ch in token for ch in _LINE_BREAKS),
                f"data.csv.missing_values[{i}]",
                "a cell text without line breaks",
                token,
            )
        need(
            not self.columns or not self.header,
            "data.csv.columns",
            "empty while data.csv.header is true (the header line names the columns); set "
            "data.csv.header: false for a file without a header line",
            self.columns,
            also=["data.csv.header"],
        )
        named = [str(c).strip() for c in self.columns]
        need(
            all(named) and len(set(named)) == len(named),
            "data.csv.columns",
            "names that are not empty and not repeated",
            self.columns,
        )
        encoding_ok = need(
            _known_codec(self.encoding),
            "data.csv.encoding",
            "a Python codec name such as utf-8, latin-1 or cp1252",
            self.encoding,
        )
        if delimiter_ok:
            self._check_agreement(problems, encoding_ok=encoding_ok)

    def settings(self) -> str:
        """The settings that differ from the defaults, as ``key value`` pairs ("" for none)."""
        default = CsvConfig()
        return ", ".join(
            f"{f.name} {_shown(getattr(self, f.name))}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        )

    def _check_agreement(self, problems: Problems, *, encoding_ok: bool) -> None:
        need = problems.need
        advice = (
            ": with a decimal comma, set data.csv.delimiter to ';' (or auto, for a header "
            "without commas)"
            if self.decimal == ","
            else ""
        )
        need(
            self.decimal == "auto" or self.delimiter != self.decimal,
            "data.csv.decimal",
            f"another character than data.csv.delimiter ({self.delimiter!r}){advice}",
            self.decimal,
            also=["data.csv.delimiter"],
        )
        if self.comment:
            need(
                self.comment not in (self.delimiter, self.decimal),
                "data.csv.comment",
                "another character than data.csv.delimiter and data.csv.decimal",
                self.comment,
                also=["data.csv.delimiter", "data.csv.decimal"],
            )
        if encoding_ok and (self.comment or self.skip_rows):
            need(
                _ascii_compatible(self.encoding),
                "data.csv.encoding",
                "ASCII-compatible (utf-8, latin-1, cp1252, ...) with data.csv.comment or "
                "data.csv.skip_rows, which find lines by their bytes; convert the file to UTF-8",
                self.encoding,
                also=["data.csv.comment", "data.csv.skip_rows"],
            )


def _shown(value: Any) -> str:
    """A setting's value as the config writes it: ``false`` for a bool, else its repr."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _one_char(value: str, *refused: str) -> bool:
    return len(value) == 1 and value not in _LINE_BREAKS and value not in refused


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _ascii_compatible(name: str) -> bool:
    """Whether ASCII text has the same bytes in the codec ``name`` (UTF-8 with or without a
    byte-order mark does; UTF-16 does not)."""
    if codecs.lookup(name).name in ("utf-8", "utf-8-sig"):
        return True
    sample = "a,;|#\t\n"
    try:
        return sample.encode(name) == sample.encode("ascii")
    except UnicodeError:
        return False


@dataclass(kw_only=True)
class DataConfig:
    """Where the data comes from and how ingest cleans it."""

    source: str
    """A local path, an ``s3://``/``minio://`` URI, a glob over several files of the same header
    (``data/2026-*.csv``, ``s3://bucket/raw/*.parquet``), ``builtin:NAME``, or a local folder
    of class folders of PNG/JPEG images or WAV clips (:mod:`trainpipe.data.image_folder`,
    :mod:`trainpipe.data.audio_folder`)."""
    label: str = "target"
    format: Literal["auto", "csv", "parquet", "jsonl", "excel"] = "auto"
    """How files are read; ``auto`` goes by the suffix, in any case: ``.csv``, ``.txt`` or none
    (CSV), ``.tsv`` (tab-separated CSV), ``.parquet`` or ``.pq`` (Parquet), ``.jsonl`` or
    ``.ndjson`` (JSON Lines), ``.xlsx`` or ``.xlsm`` (Excel), each text format also
    gzip-compressed (``.csv.gz``). Another suffix is an error unless this names the format."""
    sheet: str = ""
    """The worksheet of an Excel workbook to read, by name; empty: the first (a workbook of
    several says which it read)."""
    csv: CsvConfig = field(default_factory=CsvConfig)
    """How CSV files are read: delimiter, decimal mark, comment lines, lines before the
    header, extra missing-value texts and the encoding (:class:`CsvConfig`)."""
    features: list[str] = field(default_factory=list)
    """The feature columns to use (empty: every column but the label and ``drop``). A column
    named here is a feature whatever its inferred role, except that ``roles`` still decides how
    it is encoded."""
    drop: list[str] = field(default_factory=list)
    """Columns to leave out before anything else reads them (they may hold anything)."""
    roles: dict[str, ColumnRole] = field(default_factory=dict)
    """Column roles that override the ones ingest infers (``numeric``, ``categorical``,
    ``date``, ``text``, ``id``); every inferred role and why is listed in the statistics."""
    day_first: bool | None = None
    """How date columns written as numbers (``03/04/2022``, ``3.4.22``) are read: ``true`` day
    first, ``false`` month first; unset, each column decides from its values (a first number
    above 12 is a day, a second one a month) and, where none says, reads month first and says
    so at ingest. Year-first dates (``2022-04-03``) are read as such either way."""
    missing: MissingPolicy = "drop"
    """What to do with missing feature values: ``drop`` the rows (counted), impute with the
    column's ``mean``, ``median`` or ``mode`` (a category column: its most frequent value),
    ``constant`` (``fill_value``; categories get "missing"), or ``fail``."""
    fill_value: float = 0.0
    """The value ``missing: constant`` fills numeric features with (categories get "missing")."""
    bad_files: Literal["fail", "skip"] = "fail"
    """An image or audio folder's file that does not decode (corrupt, truncated): ``fail``
    stops ingest naming it, ``skip`` leaves it out (counted and listed in the statistics)."""
    decode_workers: int = -1
    """Processes that decode an image or audio folder's (or manifest's) files at ingest: -1 one
    per CPU core this process may use, 0 none (decode in the ingest process). A folder of fewer
    than 256 files is always decoded in the ingest process; the statistics record how many
    decoded."""
    audio: AudioConfig = field(default_factory=AudioConfig)
    drop_duplicates: bool = False
    """Drop rows that repeat an earlier row exactly, label included (counted and shown). Off by
    default: in survey and panel tables identical rows are different respondents, and the split
    keeps identical feature rows together, so repeats cannot leak. Rows with the same features
    but another label are data, and never dropped by this."""
    text: str = ""
    """A free-text feature column (text classification): tokenized into lowercased words, mapped
    through a vocabulary fitted on the training split and fed to ``model.kind: transformer`` as
    ``max_tokens`` token ids; it must be the only feature besides the label."""
    vocab_size: int = 5000
    """Vocabulary size for ``text``, padding and unknown-word ids included."""
    max_tokens: int = 64
    """Words kept per text (longer texts are cut, shorter ones padded)."""
    categorical: list[str] = field(default_factory=list)
    """Feature columns holding categories: one-hot encoded with the categories of the training
    split (saved with the model; an unseen category encodes as all zeros)."""
    stream_threshold_mb: int = 512
    """CSV files larger than this (MiB on disk; an object-store file once downloaded) are
    ingested as a stream of record batches (bounded memory; statistics, duplicates, schema and
    drift checks in one pass). A larger source that cannot be streamed (JSON Lines, a glob
    of other files, columns that are no plain numbers and not in ``drop``, ``features``,
    ``roles``, ``categorical``, ``text``, ``duplicate_keys``, ``missing: median`` or ``mode``,
    ``split.group_by`` or ``split.order_by``) is read into memory with one printed line saying
    why; ``stats.json`` records the choice as ``ingest_mode``. A dataset whose
    ``data.parquet`` is larger is also split as a stream (a seeded hash of each row's features
    decides its split, or its time), and training streams its splits
    (``train.stream.mode: auto``)."""
    duplicate_keys: list[str] = field(default_factory=list)
    """Also drop rows whose values in these key columns repeat an earlier row's."""
    clip_quantile: float = 0.0
    """Clip every feature to its [q, 1-q] quantiles of the training split (0: no clipping);
    the bounds are saved with the model and applied at evaluation and inference."""
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Declared column schemas (``kind``, ``min``, ``max``, ``values``, ``nullable``) that the
    data must satisfy; empty: inferred on this run and saved for the next."""
    baseline: str = ""
    """A previous run's ingested dataset (path or URI): validate against its schema and flag
    drift of the feature distributions against its statistics."""

    def check(self, problems: Problems, *, model: ModelConfig) -> None:
        """Value rules of the data section, and what a text column asks of the model."""
        need = problems.need
        need(bool(self.source.strip()), "data.source", "a path, URI or builtin:NAME", "")
        need(bool(self.label.strip()), "data.label", "a column name", self.label)
        need(0 <= self.clip_quantile < 0.5, "data.clip_quantile", "in [0, 0.5)", self.clip_quantile)
        need(
            self.decode_workers >= -1,
            "data.decode_workers",
            ">= -1 (-1: one per CPU core, 0: decode in the ingest process)",
            self.decode_workers,
        )
        self.audio.check(problems)
        self.csv.check(problems)
        self._check_columns(problems)
        if not self.text:
            return
        need(3 <= self.vocab_size <= 2**24, "data.vocab_size", "in [3, 2**24]", self.vocab_size)
        need(self.max_tokens >= 1, "data.max_tokens", ">= 1", self.max_tokens)
        need(
            model.kind == "transformer",
            "model.kind",
            "transformer for a text column (data.text)",
            model.kind,
            also=["data.text"],
        )
        need(
            self.text not in self.categorical,
            "data.categorical",
            f"without the text column {self.text!r}",
            self.categorical,
        )

    def _check_columns(self, problems: Problems) -> None:
        """The label is no feature; no column is both chosen and dropped."""
        need = problems.need
        need(
            self.label not in self.features,
            "data.features",
            f"without the label {self.label!r}",
            self.features,
            also=["data.label"],
        )
        need(
            self.label not in self.drop,
            "data.drop",
            f"without the label {self.label!r}",
            self.drop,
            also=["data.label"],
        )
        both = sorted(set(self.features) & set(self.drop))
        need(not both, "data.drop", f"without columns also in data.features ({both})", self.drop)
        for column, role in self.roles.items():
            need(
                column not in self.drop,
                f"data.roles.{column}",
                "for a column that data.drop keeps",
                role,
            )
        for key, columns in (("data.categorical", self.categorical), ("data.text", [self.text])):
            clash = [c for c in columns if c and self.roles.get(c, None) not in (None, _ROLE[key])]
            need(
                not clash,
                "data.roles",
                f"consistent with {key} for {clash}",
                {c: self.roles[c] for c in clash},
            )


_ROLE = {"data.categorical": "categorical", "data.text": "text"}


@dataclass(kw_only=True)
class SplitConfig:
    """Fractions of the cleaned data held out for validation and test, and what keeps rows
    together.

    Rows with identical feature values always land in the same split, so natural repeats can
    neither leak into validation or test nor block a run; rows that share a ``group_by`` value
    (a panel's person or site) land in the same split too.
    """

    validation: float = 0.15
    test: float = 0.15
    stratify: bool = True
    group_by: str = ""
    """A column whose rows stay in one split (a panel's unit id); empty: an ``id`` column that
    repeats (inferred or from ``data.roles``) is used, if there is one."""
    order_by: str = ""
    """A column of times (dates, or numbers such as a period index) to split by instead of at
    random: the earliest rows train, the next ones validate, the latest test, so no score
    comes from a model that saw the future. Rows with the same time share a split; the rows
    are not stratified or grouped then (:mod:`trainpipe.data.split_time`)."""
    leak_check: LeakCheck = "fail"
    """What a leak found after the split does (a feature that encodes the label, a validation
    or test row repeating a train row): ``fail`` stops the run, ``warn`` records it."""
    near_duplicates: Literal["warn", "fail", "off"] = "warn"
    """Validation and test rows that nearly copy a train row (within
    ``near_duplicate_distance``, not identical): ``warn`` records them, ``fail`` stops the run,
    ``off`` skips the search (:mod:`trainpipe.data.near_duplicates`)."""
    near_duplicate_distance: float = 0.01
    """The near-duplicate threshold: the root-mean-square difference per standardized feature
    (in train standard deviations) below which two rows count as copies."""
    near_duplicate_sample_rows: int = 5_000
    """A dataset split as a stream is checked for near-duplicates on a seeded sample of this
    many validation and as many test rows, each compared with every train row
    (:mod:`trainpipe.data.stream_near_duplicates`); the finding gives the estimated share."""

    def check(self, problems: Problems, *, data: DataConfig) -> None:
        """Both fractions in (0, 1), leaving at least 10% for training; a group or time column
        that ingest keeps and that is not the label, and not both."""
        need = problems.need
        if self.group_by:
            need(
                self.group_by != data.label and self.group_by not in data.drop,
                "split.group_by",
                "a column other than data.label and not in data.drop",
                self.group_by,
                also=["data.label", "data.drop"],
            )
        if self.order_by:
            need(
                self.order_by != data.label and self.order_by not in data.drop,
                "split.order_by",
                "a column other than data.label and not in data.drop",
                self.order_by,
                also=["data.label", "data.drop"],
            )
            need(
                not self.group_by,
                "split.order_by",
                "empty when split.group_by is set (a time split places each row by its time, "
                "not by its group; choose one)",
                self.order_by,
                also=["split.group_by"],
            )
        need(
            self.near_duplicate_sample_rows >= 1,
            "split.near_duplicate_sample_rows",
            ">= 1",
            self.near_duplicate_sample_rows,
        )
        need(
            0 < self.near_duplicate_distance < 1,
            "split.near_duplicate_distance",
            "in (0, 1) (standard deviations per feature)",
            self.near_duplicate_distance,
        )
        valid = need(0 < self.validation < 1, "split.validation", "in (0, 1)", self.validation)
        valid &= need(0 < self.test < 1, "split.test", "in (0, 1)", self.test)
        total = self.validation + self.test
        if valid:
            need(
                total < 0.9,
                "split.validation + split.test",
                "< 0.9 to leave training data",
                total,
                also=["split.validation", "split.test"],
            )

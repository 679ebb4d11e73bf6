"""Data: sources, schema and validation, cleaning, and the train/validation/test split."""

from __future__ import annotations

from trainpipe.data.dataset import Schema, frame_hash, read_dataset, write_dataset
from trainpipe.data.ingest import IngestResult, ingest
from trainpipe.data.sources import BUILTIN_DATASETS, read_source
from trainpipe.data.split import SplitResult, split_dataset, split_frame

__all__ = [
    "BUILTIN_DATASETS",
    "IngestResult",
    "Schema",
    "SplitResult",
    "frame_hash",
    "ingest",
    "read_dataset",
    "read_source",
    "split_dataset",
    "split_frame",
    "write_dataset",
]

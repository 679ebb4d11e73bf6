"""What the data must satisfy: the declared or baseline schema, and the baseline's statistics.

The in-memory and the streaming ingest check the same expectations; :func:`expectations` loads
them from the config and :func:`raise_on_failures` stops an ingest on a ``fail`` anomaly before
anything is written.
"""

from __future__ import annotations

from typing import Any

from trainpipe.config import RunConfig
from trainpipe.data.dataset import STATS_KEY
from trainpipe.data.ingest_result import DATA_SCHEMA_KEY
from trainpipe.data.validation import Anomaly, DataSchema
from trainpipe.errors import DataError
from trainpipe.storage.factory import open_store

__all__ = ["expectations", "raise_on_failures"]


def expectations(config: RunConfig) -> tuple[DataSchema | None, dict[str, Any] | None]:
    """The schema the data must satisfy (``data.schema``, else the baseline's) and the baseline's
    statistics (for drift), each None when not configured.

    Raises:
        DataError: ``data.baseline`` holds no ``data_schema.json``.
    """
    declared = DataSchema.from_dict(config.data.schema) if config.data.schema else None
    if not config.data.baseline:
        return declared, None
    baseline = open_store(config.data.baseline)
    if not baseline.exists(DATA_SCHEMA_KEY):
        raise DataError(
            f"data.baseline {config.data.baseline}: no {DATA_SCHEMA_KEY} there; point it at "
            "the dataset artifact of an earlier ingest"
        )
    expected = declared or DataSchema.from_dict(baseline.read_json(DATA_SCHEMA_KEY))
    stats = baseline.read_json(STATS_KEY) if baseline.exists(STATS_KEY) else None
    return expected, stats


def raise_on_failures(anomalies: list[Anomaly], display: str) -> None:
    """Raise DataError listing the anomalies of severity ``fail``, if any."""
    failures = [a for a in anomalies if a.severity == "fail"]
    if failures:
        listed = "; ".join(a.message for a in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        noun = "anomaly" if len(failures) == 1 else "anomalies"
        raise DataError(f"{display}: {len(failures)} data {noun}: {listed}{more}")

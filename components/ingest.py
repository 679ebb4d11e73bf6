"""Ingest component: read and validate the source, write the cleaned dataset and its statistics."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest_op(
    config_json: str, dataset: Output[Dataset], statistics: Output[Markdown]
) -> NamedTuple("IngestOutputs", [("data_hash", str), ("rows", int)]):  # type: ignore[valid-type]
    """Read ``data.source``, validate and clean it, write Parquet plus a statistics report."""
    from collections import namedtuple

    from trainpipe.config import RunConfig
    from trainpipe.data.ingest import ingest
    from trainpipe.data.report import statistics_markdown

    result = ingest(RunConfig.from_json(config_json), dataset.path)
    dataset.metadata.update(
        {
            "rows": result.stats["rows"],
            "data_hash": result.schema.data_hash,
            "features": len(result.schema.features),
            "classes": result.schema.classes,
        }
    )
    with open(statistics.path, "w", encoding="utf-8") as handle:
        handle.write(statistics_markdown(result.stats))
    IngestOutputs = namedtuple("IngestOutputs", ["data_hash", "rows"])
    return IngestOutputs(result.schema.data_hash, result.stats["rows"])

"""Ingest component: read and validate the source, write the cleaned dataset and its statistics."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest_op(
    config_json: str, dataset: Output[Dataset], statistics: Output[Markdown]
) -> NamedTuple("IngestOutputs", [("data_hash", str), ("rows", int)]):  # type: ignore[valid-type]
    """Read ``data.source``, validate and clean it, write Parquet plus a statistics report.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.

    Returns:
        dataset: The cleaned table (``data.parquet``) with its schema (``schema.json``), data
            statistics and anomalies: the input of the split step.
        statistics: A Markdown report of the data statistics.
        data_hash: The content hash of the cleaned table, recorded in the model's lineage.
        rows: The number of rows kept after cleaning.
    """
    from collections import namedtuple

    from trainpipe.runs.stages import record_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with record_stage(config.stage_records, "ingest") as stage:
        from trainpipe.data.ingest import ingest, ingest_notices
        from trainpipe.data.report import statistics_markdown

        with stage.core():
            result = ingest(config, dataset.path)
        rows, data_hash = result.stats["rows"], result.schema.data_hash
        dataset.metadata.update(
            {
                "rows": rows,
                "data_hash": data_hash,
                "features": len(result.schema.features),
                "classes": result.schema.classes,
            }
        )
        with open(statistics.path, "w", encoding="utf-8") as handle:
            handle.write(statistics_markdown(result.stats))
        stage.outputs.update(
            dataset=dataset.uri,
            statistics=statistics.uri,
            rows=rows,
            data_hash=data_hash,
            notices=ingest_notices(result.stats),
        )
    IngestOutputs = namedtuple("IngestOutputs", ["data_hash", "rows"])
    return IngestOutputs(data_hash, rows)

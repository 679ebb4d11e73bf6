"""Schema validation and drift in the streaming ingest: the same anomalies as the in-memory ingest,
and a ``fail`` anomaly leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_files import files_under
from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.stream import ingest_csv_stream
from trainpipe.data.stream_checks import StreamChecks
from trainpipe.data.validation import bin_counts, histogram, psi
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit

BLOCK = 256
"""A few rows per record batch, so every check has to merge batches."""


def write_frame(path: Path, shift: float = 0.0, rows: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": np.round(rng.normal(10 + shift, 2, rows), 3),
            "count": rng.integers(0, 20, rows),
            "label": rng.choice(["a", "b"], rows),
        }
    )
    frame.to_csv(path, index=False)
    return path


def config_for(source: Path, **data: object) -> RunConfig:
    return RunConfig.from_dict(
        {"data": {"source": str(source), "label": "label", "drop_duplicates": False, **data}}
    )


def both_ingests(config: RunConfig, source: Path, tmp_path: Path) -> tuple[dict, dict]:
    """The statistics of the in-memory and the streaming ingest of the same file."""
    memory = ingest(config, str(tmp_path / "memory"))
    stream = ingest_csv_stream(config, source, str(tmp_path / "stream"), block_size=BLOCK)
    return memory.stats, stream.stats


def test_drift_against_a_baseline_matches_the_in_memory_ingest(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline"
    ingest(config_for(write_frame(tmp_path / "old.csv")), str(baseline))
    shifted = write_frame(tmp_path / "new.csv", shift=0.8, seed=1)
    memory, stream = both_ingests(config_for(shifted, baseline=str(baseline)), shifted, tmp_path)
    assert {a["kind"] for a in stream["anomalies"]} == {"out_of_range", "drift"}
    assert {a["severity"] for a in stream["anomalies"]} == {"warn"}
    assert stream["anomalies"] == memory["anomalies"]  # same bins, same counts, same PSI


def test_a_failing_drift_stops_the_stream_and_writes_nothing(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline"
    ingest(config_for(write_frame(tmp_path / "old.csv")), str(baseline))
    moved = write_frame(tmp_path / "new.csv", shift=6.0, seed=1)
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        ingest_csv_stream(config_for(moved, baseline=str(baseline)), moved, str(out))
    assert "new.csv" in str(info.value)
    assert "'size' drifted" in str(info.value)
    assert files_under(out) == []


def test_a_declared_schema_is_enforced_batch_by_batch(tmp_path: Path) -> None:
    source = write_frame(tmp_path / "data.csv")
    schema = {
        "size": {"kind": "float", "min": 0.0, "max": 12.0},
        "count": {"kind": "int", "min": 0, "max": 19},
        "label": {"kind": "category", "values": ["a", "b"]},
    }
    memory, stream = both_ingests(config_for(source, schema=schema), source, tmp_path)
    assert [a["kind"] for a in stream["anomalies"]] == ["out_of_range"]
    assert stream["anomalies"] == memory["anomalies"]

    schema["label"]["values"] = ["a"]
    with pytest.raises(DataError) as info:
        ingest_csv_stream(
            config_for(source, schema=schema), source, str(tmp_path / "out"), block_size=BLOCK
        )
    assert "'label' has values ['b'] not in the schema's ['a']" in str(info.value)
    assert files_under(tmp_path / "out") == []


def test_a_streamed_dataset_is_a_baseline_for_the_next_run(tmp_path: Path) -> None:
    old = write_frame(tmp_path / "old.csv")
    ingest_csv_stream(config_for(old), old, str(tmp_path / "baseline"), block_size=BLOCK)
    same = write_frame(tmp_path / "same.csv", seed=2)
    result = ingest_csv_stream(
        config_for(same, baseline=str(tmp_path / "baseline")),
        same,
        str(tmp_path / "next"),
        block_size=BLOCK,
    )
    assert result.stats["anomalies"] == []  # the same distribution does not drift


def test_histograms_beyond_the_sample_are_close_to_the_whole_column() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=(1, 40_000))
    checks = StreamChecks(
        ["x"], "y", classification=True, expected=None, baseline_stats=None, sample_rows=5_000
    )
    for batch in np.array_split(values, 40, axis=1):
        checks.update(batch)
    assert checks.sample.shape == (1, 5_000)
    sampled = checks.histograms()["x"]
    assert len(sampled["edges"]) == len(histogram(values[0])["edges"])
    # the sample's quantile bins hold about the same share of the whole column each
    whole = bin_counts(sampled, values[0]) / values.shape[1]
    assert np.allclose(whole, sampled["shares"], atol=0.01)
    assert psi(sampled, values[0]) < 0.01

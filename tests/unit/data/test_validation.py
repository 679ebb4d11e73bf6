"""Schema validation and drift: anomalies with severities, against a declared schema or a
previous run, and the ingest stage stopping on failures before it writes anything."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.ingest import DATA_SCHEMA_KEY, ingest
from trainpipe.data.validation import DataSchema, drift, histogram, infer_schema, psi, validate
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit


def frame(n: int = 200, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "k": rng.integers(0, 5, n),
            "label": rng.choice(["a", "b"], n),
        }
    )


def test_inferred_schema_accepts_its_own_data() -> None:
    data = frame()
    schema = infer_schema(data, categorical=["label"])
    assert schema.columns["k"].kind == "int" and schema.columns["x"].kind == "float"
    assert schema.columns["label"].values == ["a", "b"]
    assert validate(data, schema) == []
    assert DataSchema.from_dict(schema.to_dict()) == schema


def test_each_kind_of_anomaly_is_named() -> None:
    schema = infer_schema(frame(), categorical=["label"])
    bad = frame().assign(label=["c"] + ["a"] * 199, k=[1.5] + [1] * 199)
    bad.loc[0, "x"] = 1e6
    found = {(a.column, a.kind, a.severity) for a in validate(bad.drop(columns=[]), schema)}
    assert ("label", "new_values", "fail") in found
    assert ("k", "type_change", "fail") in found
    assert ("x", "out_of_range", "warn") in found
    missing = validate(frame().drop(columns=["k"]), schema)
    assert [(a.column, a.kind) for a in missing] == [("k", "missing_column")]
    strict = validate(bad, schema, strict_ranges=True)
    assert any(a.kind == "out_of_range" and a.severity == "fail" for a in strict)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    base = histogram(frame(5000)["x"].to_numpy())
    same = psi(base, frame(5000, seed=1)["x"].to_numpy())
    moved = psi(base, frame(5000, shift=1.0, seed=1)["x"].to_numpy())
    assert same < 0.02 < 0.25 < moved


def test_drift_and_missing_jump_against_previous_stats() -> None:
    before = frame(2000)
    stats = {
        "rows_in": 2000,
        "missing_values": {"x": 0},
        "features": {"x": {"histogram": histogram(before["x"].to_numpy())}},
    }
    assert drift(frame(2000, seed=3), stats, ["x"]) == []
    shifted = frame(2000, shift=2.0, seed=3)
    shifted.loc[:499, "x"] = np.nan
    kinds = {(a.kind, a.severity) for a in drift(shifted, stats, ["x"])}
    assert ("drift", "fail") in kinds and ("missing_jump", "warn") in kinds


def _config(source: Path, **data: object) -> RunConfig:
    return RunConfig.from_dict({"data": {"source": str(source), "label": "label", **data}})


def test_ingest_stops_on_unknown_label_values_from_the_baseline(tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    frame().to_csv(first, index=False)
    frame().assign(label=["z"] * 100 + ["a"] * 100).to_csv(second, index=False)
    ingest(_config(first), str(tmp_path / "run1"))
    assert (tmp_path / "run1" / DATA_SCHEMA_KEY).is_file()
    with pytest.raises(DataError, match=r"label.*values \['z'\]"):
        ingest(_config(second, baseline=str(tmp_path / "run1")), str(tmp_path / "run2"))
    assert not (tmp_path / "run2").exists()


def test_ingest_records_warnings_and_fails_on_drift(tmp_path: Path) -> None:
    first, similar, moved = (tmp_path / f"{n}.csv" for n in ("a", "b", "c"))
    frame(2000).to_csv(first, index=False)
    frame(2000, seed=5).to_csv(similar, index=False)
    frame(2000, shift=3.0, seed=5).to_csv(moved, index=False)
    ingest(_config(first), str(tmp_path / "run1"))
    ok = ingest(_config(similar, baseline=str(tmp_path / "run1")), str(tmp_path / "run2"))
    assert all(a["severity"] == "warn" for a in ok.stats["anomalies"])
    with pytest.raises(DataError, match=r"column 'x' drifted"):
        ingest(_config(moved, baseline=str(tmp_path / "run1")), str(tmp_path / "run3"))


def test_declared_schema_is_enforced(tmp_path: Path) -> None:
    source = tmp_path / "d.csv"
    frame().to_csv(source, index=False)
    schema = {"k": {"kind": "int", "min": 0, "max": 3, "nullable": False}}
    result = ingest(_config(source, schema=schema), str(tmp_path / "out"))
    assert [a["kind"] for a in result.stats["anomalies"]] == ["out_of_range"]
    declared = {"label": {"kind": "category", "values": ["a"]}}
    with pytest.raises(DataError, match="not in the schema"):
        ingest(_config(source, schema=declared), str(tmp_path / "out2"))

"""The near-duplicate check of a dataset split as a stream: a seeded sample of validation and
test rows, each searched against every train row one row group at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, read_dataset
from trainpipe.data.near_duplicates import near_duplicate_finding
from trainpipe.data.split_stream import split_streamed
from trainpipe.errors import DataError

pytestmark = pytest.mark.unit

FEATURES = [f"x{i}" for i in range(8)]


def dataset(root: Path, frame: pd.DataFrame, *, block: int, **schema: Any) -> str:
    root.mkdir(parents=True)
    frame.to_parquet(root / "data.parquet", index=False, row_group_size=block)
    features = [c for c in frame.columns if c != "y"]
    described = Schema(label="y", task="classification", features=features,
                       classes=["a", "b"], **schema)  # fmt: skip
    (root / "schema.json").write_text(json.dumps(described.to_dict()))
    return str(root)


def clean_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame["y"] = np.where(frame["x0"] > 0, "a", "b")
    return frame


def with_near_copies(frame: pd.DataFrame, copies: int, seed: int = 1) -> pd.DataFrame:
    """``copies`` rows copied with noise of 0.001 standard deviations added."""
    rng = np.random.default_rng(seed)
    copied = frame.sample(copies, random_state=seed).reset_index(drop=True)
    copied[FEATURES] += rng.normal(0, 0.001, (copies, len(FEATURES)))
    return pd.concat([frame, copied], ignore_index=True)


def config(**split: Any) -> RunConfig:
    return RunConfig.from_dict({"seed": 7, "data": {"source": "x.csv", "label": "y",
                                "stream_threshold_mb": 0}, "split": split})  # fmt: skip


def outputs(root: Path) -> tuple[str, str, str]:
    return (str(root / "train"), str(root / "validation"), str(root / "test"))


def near_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if f["check"] == "near_duplicates"]


def test_clean_splits_have_no_near_duplicates(tmp_path: Path) -> None:
    source = dataset(tmp_path / "data", clean_table(4000), block=300)
    _, findings = split_streamed(config(), source, outputs(tmp_path))
    assert [f["check"] for f in findings] == ["streamed_split"]


def test_planted_near_copies_are_found_as_the_in_memory_check_finds_them(tmp_path: Path) -> None:
    frame = with_near_copies(clean_table(4000), copies=200)
    source = dataset(tmp_path / "data", frame, block=300)
    _, findings = split_streamed(config(), source, outputs(tmp_path))
    (streamed,) = near_findings(findings)
    (train, schema), (validation, _), (test, _) = (read_dataset(o) for o in outputs(tmp_path))
    memory = near_duplicate_finding(
        train, {"validation": validation, "test": test}, schema, threshold=0.01,
        severity="warn", method="exact",
    )  # fmt: skip
    assert memory is not None and memory.rows > 20  # about 200 x 2 x 0.7 x 0.3 pairs leak
    # Fewer rows than the sample size: every validation and test row is searched.
    assert streamed["rows"] == memory.rows and streamed["severity"] == "warn"
    assert f"of {len(test):,} sampled test rows" in streamed["message"]
    assert (
        "sample of the validation and test rows was compared with every train row"
        in streamed["message"]
    )


def test_a_sample_estimates_the_share_and_does_not_depend_on_the_row_groups(
    tmp_path: Path,
) -> None:
    frame = with_near_copies(clean_table(4000), copies=300)
    found = []
    for block in (250, 1700):
        source = dataset(tmp_path / f"data-{block}", frame, block=block)
        settings = {"near_duplicate_sample_rows": 120}
        _, findings = split_streamed(config(**settings), source, outputs(tmp_path / f"{block}"))
        found.append(near_findings(findings)[0])
    assert found[0] == found[1]
    assert "of 120 sampled validation rows" in found[0]["message"]
    assert "of 120 sampled test rows" in found[0]["message"] and "about " in found[0]["message"]


def test_failing_on_near_copies_leaves_nothing_written(tmp_path: Path) -> None:
    source = dataset(tmp_path / "data", with_near_copies(clean_table(2000), 100), block=300)
    with pytest.raises(DataError, match=r"lie within 0\.01 .* split\.near_duplicates: warn"):
        split_streamed(config(near_duplicates="fail"), source, outputs(tmp_path))
    for location in outputs(tmp_path):
        assert not Path(location).exists() or not any(Path(location).iterdir())


def test_images_split_as_a_stream_are_compared_as_thumbnails(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    pixels = rng.uniform(0, 255, (1500, 64))
    brighter = np.clip(pixels[:100] * 0.9 + 12, 0, 255)  # re-exposed copies of 100 images
    columns = [f"pixel_{i}" for i in range(64)]
    frame = pd.DataFrame(np.vstack([pixels, brighter]), columns=columns)
    frame["y"] = np.where(rng.uniform(size=len(frame)) > 0.5, "a", "b")
    files = {"kind": "image", "image_shape": [1, 8, 8]}
    source = dataset(tmp_path / "data", frame, block=200, files=files)
    _, findings = split_streamed(config(), source, outputs(tmp_path))
    (near,) = near_findings(findings)
    assert "8x8 normalized gray thumbnails" in near["message"] and near["rows"] > 5

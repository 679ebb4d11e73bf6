"""Near-duplicates across splits: planted near-copies are found (exact and HNSW search), clean
splits of the bundled datasets report none, and the split stage warns or stops by config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema, write_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.near_duplicates import (
    THUMBNAIL,
    embed_images,
    embed_tables,
    near_duplicate_finding,
    nearest_train_rows,
)
from trainpipe.data.split import split_dataset, split_frame
from trainpipe.data.split_groups import row_groups
from trainpipe.data.table_input import read_input_dataset
from trainpipe.errors import ConfigError, DataError

pytestmark = pytest.mark.unit

FEATURES = [f"x{i}" for i in range(12)]
SCHEMA = Schema(label="y", task="classification", features=[*FEATURES, "color"],
                categorical=["color"], classes=["a", "b"])  # fmt: skip


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))) * 5 + 10, columns=FEATURES)
    frame["color"] = rng.choice(["red", "green", "blue"], size=rows)
    frame["y"] = rng.choice(["a", "b"], size=rows)
    return frame


def near_copies(frame: pd.DataFrame, rows: np.ndarray, *, scale: float, seed: int) -> pd.DataFrame:
    """Copies of ``rows`` with noise of ``scale`` standard deviations added to every number."""
    rng = np.random.default_rng(seed)
    copies = frame.iloc[rows].reset_index(drop=True).copy()
    noise = rng.normal(size=(len(rows), len(FEATURES))) * scale * frame[FEATURES].std().to_numpy()
    copies[FEATURES] = copies[FEATURES].to_numpy() + noise
    return copies


@pytest.mark.parametrize("method", ["exact", "hnsw", "ivf"])
def test_planted_near_copies_are_found_and_nothing_else(method: str) -> None:
    train, test = table(3000, seed=1), table(600, seed=2)
    planted = np.arange(0, 3000, 100)  # 30 train rows, copied with noise into test
    test = pd.concat([test, near_copies(train, planted, scale=0.001, seed=3)], ignore_index=True)
    train_rows, (queries,) = embed_tables(train, [test], SCHEMA)
    nearest = nearest_train_rows(train_rows, queries, method=method)  # type: ignore[arg-type]
    assert nearest.method == method
    near = np.flatnonzero(nearest.distance <= 0.01)
    assert list(near) == list(range(600, 630))
    assert list(nearest.train_row[near]) == list(planted)
    assert nearest.distance[:600].min() > 0.1  # the clean rows are far from any train row

    finding = near_duplicate_finding(
        train, {"validation": test.iloc[:0], "test": test}, SCHEMA,
        threshold=0.01, severity="warn", method=method,  # type: ignore[arg-type]
    )  # fmt: skip
    assert finding is not None and finding.rows == 30 and finding.severity == "warn"
    assert "30 of 630 test rows (4.8%) lie within 0.01" in finding.message
    assert f"{method} search" in finding.message and "train row" in finding.message


def test_the_inverted_file_searches_a_few_groups_and_still_finds_every_near_copy() -> None:
    rng = np.random.default_rng(8)
    centers = rng.normal(size=(32, 16)) * 2.0
    train = (centers[rng.integers(0, 32, 60_000)] + rng.normal(size=(60_000, 16))).astype("f4")
    queries = (centers[rng.integers(0, 32, 3000)] + rng.normal(size=(3000, 16))).astype("f4")
    planted = rng.choice(len(train), 300, replace=False)
    queries[:300] = train[planted] + rng.normal(size=(300, 16)).astype("f4") * 0.001
    nearest = nearest_train_rows(train, queries, method="ivf")  # 60 groups, 4 searched
    exact = nearest_train_rows(train, queries, method="exact")
    assert list(nearest.train_row[:300]) == list(planted)
    assert np.all(nearest.distance[300:] > 0.01)
    assert np.all(nearest.distance >= exact.distance - 1e-6)  # never nearer than the truth


def test_identical_rows_are_left_to_the_shared_rows_check() -> None:
    train = table(200, seed=4)
    test = pd.concat([table(50, seed=5), train.iloc[:5]], ignore_index=True)
    finding = near_duplicate_finding(train, {"test": test}, SCHEMA, threshold=0.01, severity="warn")
    assert finding is None


def test_categories_embed_one_hot_by_the_train_split() -> None:
    train = pd.DataFrame({"x0": [0.0, 2.0], "color": ["red", "blue"]})
    other = pd.DataFrame({"x0": [1.0, np.nan], "color": ["blue", "purple"]})
    schema = Schema(label="y", task="classification", features=["x0", "color"],
                    categorical=["color"])  # fmt: skip
    embedded_train, (embedded,) = embed_tables(train, [other], schema)
    assert embedded_train.tolist() == [[-1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]  # blue, red
    assert embedded.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]  # missing: the mean


def make_config(**split: object) -> RunConfig:
    return RunConfig.from_dict(
        {"seed": 7, "data": {"source": "unused.csv", "label": "y"}, "split": split}
    )


def test_the_split_stage_warns_by_default_and_stops_when_asked(tmp_path: Path) -> None:
    base = table(2000, seed=6)
    data = pd.concat(
        [base, near_copies(base, np.arange(0, 2000, 10), scale=0.001, seed=7)], ignore_index=True
    )
    write_dataset(str(tmp_path / "all"), data, SCHEMA)
    outs = [str(tmp_path / name) for name in ("train", "validation", "test")]
    result = split_dataset(make_config(), str(tmp_path / "all"), *outs)
    (finding,) = [f for f in result.findings if f["check"] == "near_duplicates"]
    assert finding["severity"] == "warn" and 0 < finding["rows"] <= 200
    with pytest.raises(DataError, match="near-copies leak into the scores; remove them"):
        split_dataset(make_config(near_duplicates="fail"), str(tmp_path / "all"),
                      *[f"{o}-2" for o in outs])  # fmt: skip
    assert not Path(f"{outs[0]}-2").exists()  # nothing written
    off = split_dataset(make_config(near_duplicates="off"), str(tmp_path / "all"),
                        *[f"{o}-3" for o in outs])  # fmt: skip
    assert not [f for f in off.findings if f["check"] == "near_duplicates"]


@pytest.mark.parametrize("name", ["digits", "iris", "breast_cancer", "wine", "gunpoint"])
def test_clean_splits_of_the_bundled_datasets_report_none(name: str, tmp_path: Path) -> None:
    config = RunConfig.from_dict({"data": {"source": f"builtin:{name}"}})
    ingest(config, str(tmp_path / "dataset"))
    frame, schema = read_input_dataset(str(tmp_path / "dataset"), config)
    train, validation, test = split_frame(frame, schema, config, row_groups(frame, schema))
    finding = near_duplicate_finding(
        train, {"validation": validation, "test": test}, schema,
        threshold=config.split.near_duplicate_distance, severity="fail",
    )  # fmt: skip
    assert finding is None


def test_the_threshold_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"split\.near_duplicate_distance"):
        make_config(near_duplicate_distance=0)


def test_re_encoded_images_are_found_as_thumbnails_and_clean_folders_pass(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from image_data import digit_folder

    folder = digit_folder(tmp_path / "digits", per_class=40)
    config = RunConfig.from_dict(
        {"seed": 3, "data": {"source": str(folder), "label": "digit"},
         "model": {"kind": "cnn", "image_shape": [1, 16, 16]}}
    )  # fmt: skip
    ingest(config, str(tmp_path / "clean"))
    outs = [str(tmp_path / f"clean-{name}") for name in ("train", "validation", "test")]
    clean = split_dataset(config, str(tmp_path / "clean"), *outs)
    assert not [f for f in clean.findings if f["check"] == "near_duplicates"]

    for path in sorted(folder.rglob("*.png"))[::8]:  # 50 copies, saved again as JPEG
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, "JPEG", quality=85)
        path.with_name(f"copy-{path.stem}.jpg").write_bytes(buffer.getvalue())
    ingest(config, str(tmp_path / "copied"))
    outs = [str(tmp_path / f"copied-{name}") for name in ("train", "validation", "test")]
    copied = split_dataset(config, str(tmp_path / "copied"), *outs)
    (finding,) = [f for f in copied.findings if f["check"] == "near_duplicates"]
    assert "8x8 normalized gray thumbnails" in finding["message"] and finding["rows"] >= 10


@pytest.mark.parametrize("height,width", [(32, 32), (28, 28), (13, 17), (5, 9)])
def test_image_thumbnails_average_the_windows_adaptive_pooling_does(
    height: int, width: int
) -> None:
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(height * width)
    pixels = rng.integers(0, 256, size=(6, 3, height, width)).astype(np.float32)
    (got,) = embed_images([pd.DataFrame(pixels.reshape(6, -1))], [3, height, width])
    gray = torch.from_numpy(pixels).mean(dim=1, keepdim=True)
    want = F.adaptive_avg_pool2d(gray, THUMBNAIL).flatten(1)
    want = want - want.mean(dim=1, keepdim=True)
    want = want / want.norm(dim=1, keepdim=True)
    assert got.dtype == np.float32 and got.shape == (6, THUMBNAIL * THUMBNAIL)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)

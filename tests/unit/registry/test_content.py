"""Model cards and file manifests of registered model versions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch

from trainpipe.config import ModelConfig, RunConfig
from trainpipe.evaluate.gate import evaluate_gate
from trainpipe.models import build_model
from trainpipe.registry.content import MANIFEST_KEY, manifest_for, model_card, verify_files
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import LINEAGE_KEY, ModelRegistry
from trainpipe.storage.factory import open_store
from trainpipe.storage.local import LocalStore
from trainpipe.train.artifacts import save_model
from trainpipe.train.data import Preprocess
from trainpipe.train.model_files import MODEL_FILES

pytestmark = pytest.mark.unit

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
CLASSES = ["setosa", "versicolor", "virginica"]
#: Every file of a registered version except MANIFEST.json (which cannot vouch for itself).
VERSION_FILES = sorted([*MODEL_FILES, LINEAGE_KEY, "MODEL_CARD.md", "model.onnx"])


def description(**overrides: Any) -> dict[str, Any]:
    """A model.json as save_model writes it."""
    data: dict[str, Any] = {
        "format": "trainpipe.model/v1",
        "task": "classification",
        "label": "species",
        "model": {
            "kind": "mlp",
            "hidden": [128, 64],
            "channels": [16, 32],
            "image_shape": [],
            "dropout": 0.1,
        },
        "n_features": len(FEATURES),
        "n_outputs": len(CLASSES),
        "preprocess": {
            "features": FEATURES,
            "mean": [5.8, 3.0, 3.7, 1.2],
            "std": [0.8, 0.4, 1.7, 0.7],
            "target_mean": 0.0,
            "target_std": 1.0,
            "classes": CLASSES,
        },
    }
    data.update(overrides)
    return data


def classification_metrics() -> dict[str, Any]:
    return {
        "accuracy": 0.9123,
        "precision_macro": 0.9051,
        "recall_macro": 0.8876,
        "f1_macro": 0.8934,
        "roc_auc": 0.9876,
        "per_class": {
            "setosa": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10},
            "versicolor": {"precision": 0.8571, "recall": 0.4286, "f1": 0.5714, "support": 7},
            "virginica": {"precision": 0.7273, "recall": 0.8889, "f1": 0.8, "support": 9},
        },
        "confusion_matrix": [[10, 0, 0], [0, 3, 4], [0, 1, 8]],
        "labels": CLASSES,
        "latency_p50_ms": 0.1234,
        "latency_p95_ms": 0.4567,
        "latency_mean_ms": 0.2,
        "latency_n": 100.0,
    }


def lineage(metrics: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    config = RunConfig.from_dict(
        {"data": {"source": "builtin:iris", "label": "species"}, "seed": 5}
    )
    doc = build_lineage(
        config=config.to_dict(),
        data_hash="d" * 64,
        metrics=classification_metrics() if metrics is None else metrics,
        pipeline_run_id="run-42",
        tuning={"best_params": {"train.learning_rate": 0.01}},
    )
    doc.update(extra)
    return doc


# ------------------------------------------------------------------------------------ model card


def test_model_card_has_every_section_and_the_recorded_numbers() -> None:
    gate = evaluate_gate(classification_metrics(), {"accuracy_min": 0.9, "latency_p95_ms_max": 5})
    card = model_card(
        name="iris-mlp",
        version=3,
        description=description(),
        lineage=lineage(gate=gate.to_dict(), parent_version=2),
    )

    assert card.startswith("# Model card: `iris-mlp` version 3\n")
    for heading in (
        "## Model",
        "## Training data",
        "## Metrics",
        "### Per-class metrics",
        "### Latency",
        "## Intended use and limitations",
        "## Lineage",
        "## Quality gate",
    ):
        assert f"\n{heading}\n" in card, heading
    # model
    assert "MLP with hidden layers `[128, 64]`, dropout 0.1000" in card
    assert "classification of `species`" in card
    assert "**Inputs:** 4 feature columns (4 numeric, standardized" in card
    assert "Inputs must have the 4 feature columns `sepal length (cm)`," in card
    assert "**Classes (3):** `setosa`, `versicolor`, `virginica`" in card
    # training data
    assert "**Source:** `builtin:iris`" in card
    assert f"**Data hash:** `{'d' * 64}`" in card
    assert "**Split seed:** 5" in card
    assert "15% validation, 15% test, stratified by class" in card
    # metrics
    for row in (
        "| `accuracy` | 0.9123 |",
        "| `f1_macro` | 0.8934 |",
        "| `roc_auc` | 0.9876 |",
        "| `versicolor` | 0.8571 | 0.4286 | 0.5714 | 7 |",
        "| `setosa` | 1.0000 | 1.0000 | 1.0000 | 10 |",
    ):
        assert row in card, row
    assert "p50 0.1234 ms, p95 0.4567 ms, mean 0.2000 ms over 100 single-sample calls" in card
    assert "confusion_matrix" not in card
    # intended use
    assert "Trained on `builtin:iris` (data hash `dddddddddddd…`)" in card
    assert "not validated outside that distribution" in card
    assert (
        "`sepal length (cm)`, `sepal width (cm)`, `petal length (cm)`, `petal width (cm)`" in card
    )
    assert "wrong on about 8.8% of rows (accuracy 0.9123)" in card
    assert "Recall is below 0.5 for `versicolor`" in card
    # lineage
    assert "**Pipeline run:** `run-42`" in card
    assert "**Parent version:** `2`" in card
    assert "`train.learning_rate=0.01`" in card
    assert "| `torch` | `" in card
    assert "**Python:** `" in card
    assert "**Code version:** `" in card
    # gate
    assert "**Decision:** blessed (2/2 thresholds hold)" in card
    assert "| `accuracy` | >= 0.9000 | 0.9123 | pass |" in card


def test_model_card_counts_the_tables_feature_columns_not_the_input_width() -> None:
    """Two numeric columns and one categorical column of three categories: 3 feature columns,
    and a network input 5 values wide (one-hot); a text column is 1 column of token ids."""
    tabular = Preprocess(
        features=["size", "weight"], mean=[0.0, 0.0], std=[1.0, 1.0], classes=CLASSES,
        categories={"color": ["blue", "green", "red"]},
    )  # fmt: skip
    card = model_card(
        name="colors",
        version=1,
        description=description(n_features=tabular.width, preprocess=tabular.to_dict()),
        lineage=lineage(),
    )
    assert tabular.width == 5
    assert (
        "**Inputs:** 3 feature columns (2 numeric, standardized with the training split's mean "
        "and std; 1 categorical, one-hot encoded over the training split's categories); the "
        "network's input is 5 values wide"
    ) in card
    assert (
        "Inputs must have the 3 feature columns `size`, `weight`, `color`: the 2 numeric "
        "columns in the same units as the training data, the 1 categorical column holding "
        "categories of the training split"
    ) in card
    assert "5 feature" not in card

    text = Preprocess(
        features=[], mean=[], std=[], classes=CLASSES, text="review",
        vocabulary=["<pad>", "<unk>", "good", "bad"], max_tokens=12,
    )  # fmt: skip
    card = model_card(
        name="reviews",
        version=1,
        description=description(n_features=text.width, preprocess=text.to_dict()),
        lineage=lineage(),
    )
    assert "**Inputs:** 1 feature column: text column `review` as 12 token ids per row" in card
    assert "Inputs must have the 1 feature column `review`: `review` as free text" in card
    assert "12 feature" not in card


def test_model_card_for_a_regression_cnn_without_gate() -> None:
    metrics = {"rmse": 12.3456, "mae": 9.5, "r2": 0.7512}
    card = model_card(
        name="digits-cnn",
        version=1,
        description=description(
            task="regression",
            label="price",
            model={
                "kind": "cnn",
                "hidden": [32],
                "channels": [8, 16],
                "image_shape": [1, 2, 2],
                "dropout": 0.0,
            },
            n_outputs=1,
        ),
        lineage=lineage(metrics=metrics),
    )

    assert "CNN: 3x3 convolution blocks with channels `[8, 16]`" in card
    assert "images of shape `[1, 2, 2]`" in card
    assert "regression of `price`" in card
    assert "| `rmse` | 12.3456 |" in card
    assert "| `mae` | 9.5000 |" in card
    assert "| `r2` | 0.7512 |" in card
    assert "MAE 9.5000, RMSE 12.3456 (in target units)" in card
    assert "extrapolations" in card
    assert "Classes" not in card
    assert "Per-class" not in card
    assert "## Quality gate" not in card
    assert "**Parent version:** none" in card


def test_a_regression_cards_split_and_raw_date_column() -> None:
    """A regression model's split is not stratified, and a caller sends the raw date column
    ``visit date``, which the model reads as the parts ingest derived from it."""
    from trainpipe.data.columns import DATE_PARTS, ColumnDecision, ColumnPlan

    parts = [f"visit date_{part}" for part in DATE_PARTS]
    plan = ColumnPlan(
        decisions=(
            ColumnDecision(column="age", role="numeric", source="inferred", reason="numbers",
                           feature=True),
            ColumnDecision(column="visit date", role="date", source="inferred", reason="dates",
                           feature=True, derived=tuple(parts)),
            ColumnDecision(column="ward", role="categorical", source="config", reason="set",
                           feature=True),
        )
    )  # fmt: skip
    preprocess = Preprocess(
        features=["age", *parts], mean=[0.0] * 5, std=[1.0] * 5, target_mean=3.0, target_std=2.0,
        categories={"ward": ["a", "b"]}, column_roles=plan.to_dict(),
    )  # fmt: skip
    regression_lineage = lineage(metrics={"rmse": 1.5, "mae": 1.0})
    regression_lineage["config"]["task"] = "regression"
    described = description(
        task="regression", label="days", n_features=preprocess.width, n_outputs=1,
        preprocess=preprocess.to_dict(),
    )  # fmt: skip
    card = model_card(name="stay", version=1, description=described, lineage=regression_lineage)
    assert "15% validation, 15% test, not stratified (a regression target has no classes)" in card
    assert "stratified by class" not in card
    assert (
        "Inputs must have the 3 feature columns `age`, `visit date`, `ward`: the 1 numeric "
        "column in the same units as the training data, the 1 date column `visit date` as dates "
        "(the model reads the year, month, day and day of the week of each), the 1 categorical "
        "column holding categories"
    ) in card
    assert "**Inputs:** 6 feature columns" in card  # what the network reads: the parts


def test_model_card_warns_about_an_unblessed_version() -> None:
    gate = evaluate_gate({"accuracy": 0.5}, {"accuracy_min": 0.9})
    card = model_card(
        name="m",
        version=7,
        description=description(),
        lineage=lineage(
            metrics={"accuracy": 0.5},
            gate=gate.to_dict(),
            promotion={"stage": "staging", "by": "ci"},
        ),
    )
    assert "**Decision:** not blessed (accuracy 0.5 < 0.9)" in card
    assert "| `accuracy` | >= 0.9000 | 0.5000 | fail |" in card
    assert "did **not** bless this version" in card
    assert "### Promotion" in card
    assert "- **stage:** `staging`" in card


def test_model_card_with_minimal_lineage_says_what_is_missing() -> None:
    card = model_card(name="toy", version=1, description=description(), lineage={})
    assert "**Source:** not recorded" in card
    assert "**Data hash:** not recorded" in card
    assert "**Split seed:** not recorded" in card
    assert "No metrics were recorded for this version; its quality is unknown." in card
    assert "**Pipeline run:** none" in card
    assert "**Code version:** not recorded" in card


def test_model_card_survives_odd_names_and_values() -> None:
    odd = ["a|b", "`tick`", "<script>alert(1)</script>", "line\nbreak", "", "**bold**"]
    card = model_card(
        name="we|ird`name <b>",
        version=2,
        description=description(
            label="lab`el",
            n_features=len(odd),
            model={"kind": "transformer?", "hidden": "not a list", "dropout": "x"},
            preprocess={"features": odd, "classes": odd},
        ),
        lineage={
            "config": {"data": {"source": "s3://b/we|ird `path`"}, "split": "nope"},
            "metrics": {
                "accuracy": float("nan"),
                "per_class": {"a|b": "not a mapping", "<c>": {"recall": 0.1}},
                "latency_p50_ms": "slow",
                "custom|metric": 3,
            },
            "gate": {"blessed": False, "reason": "<img src=x>", "checks": ["bad", {}]},
            "packages": {"we|ird": None},
            "parent": {"name": "x", "version": 1},
            "promotion": "manual",
        },
    )
    assert card.endswith("\n")
    assert "<script>" not in card.replace("`<script>alert(1)</script>`", "")
    assert "<img" not in card.replace("\\<img", "")
    assert "\nbreak" not in card
    table_rows = [line for line in card.splitlines() if line.startswith("| ")]
    assert table_rows
    for row in table_rows:  # a '|' in a value never adds a table column
        cells = row.replace("\\|", "").count("|")
        assert cells in (3, 5, 6), row
    assert "**Parent version:** `x:1`" in card


# -------------------------------------------------------------------------------------- manifest


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ({"missing": "median", "fill_numeric": [5.8, 3.0, 3.7, 1.2]}, "is filled as the training"),
        ({"missing": "drop"}, "value is refused: the training data's policy `drop` does not fill"),
        ({}, "is refused: this model was saved before its missing-value policy was recorded"),
    ],
)
def test_model_card_says_what_the_model_does_with_a_missing_value(
    recorded: dict[str, Any], expected: str
) -> None:
    model = description()
    model["preprocess"].update(recorded)
    card = model_card(name="iris", version=1, description=model, lineage=lineage())
    assert expected in card
    assert "does not impute" not in card
    assert "unseen in training" not in card  # no categorical feature


def test_model_card_says_unseen_categories_are_counted() -> None:
    model = description()
    model["preprocess"]["categories"] = {"soil": ["clay", "sand"]}
    card = model_card(name="iris", version=1, description=model, lineage=lineage())
    assert "A category unseen in training encodes as all zeros" in card


def test_manifest_for_hashes_every_file_in_key_order() -> None:
    manifest = manifest_for({"b.bin": b"\x00\x01", "a.json": b"{}"})
    assert list(manifest) == ["a.json", "b.bin"]
    assert manifest["a.json"] == hashlib.sha256(b"{}").hexdigest()
    assert manifest["b.bin"] == hashlib.sha256(b"\x00\x01").hexdigest()
    assert manifest_for({}) == {}


def register(tmp_path: Path) -> tuple[LocalStore, dict[str, str]]:
    """Register a small model; return its version directory and the manifest's file hashes."""
    torch.manual_seed(0)
    config = ModelConfig(hidden=[4], dropout=0.0)
    model_dir = tmp_path / "model"
    save_model(
        str(model_dir),
        build_model(config, 2, 3),
        model_config=config,
        task="classification",
        label="target",
        preprocess=Preprocess(
            features=["a", "b"], mean=[0.0, 1.0], std=[1.0, 2.0], classes=CLASSES
        ),
        metrics={"final": {"val_accuracy": 0.5}, "history": []},
    )
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    version = registry.register("iris", str(model_dir), lineage=lineage())
    store = open_store(version.uri)
    assert isinstance(store, LocalStore)
    return store, store.read_json(MANIFEST_KEY)["files"]


def test_registered_version_is_intact(tmp_path: Path) -> None:
    store, expected = register(tmp_path)
    assert sorted(expected) == VERSION_FILES, "update VERSION_FILES to cover every file"
    if not store.exists(".claim"):
        store.write_bytes(".claim", b"{}")
    assert MANIFEST_KEY in store.list()
    assert verify_files(store, expected) == []


def test_manifest_for_agrees_with_the_registry(tmp_path: Path) -> None:
    store, expected = register(tmp_path)
    assert manifest_for({key: store.read_bytes(key) for key in expected}) == expected


@pytest.mark.parametrize("key", VERSION_FILES)
def test_a_flipped_byte_is_detected_in_every_file(tmp_path: Path, key: str) -> None:
    store, expected = register(tmp_path)
    path = store.local_path(key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    problems = verify_files(store, expected)

    assert len(problems) == 1, problems
    actual = hashlib.sha256(bytes(data)).hexdigest()
    assert problems[0] == f"{key}: sha256 {actual[:12]}… != expected {expected[key][:12]}…"


@pytest.mark.parametrize("key", VERSION_FILES)
def test_a_missing_file_is_detected(tmp_path: Path, key: str) -> None:
    store, expected = register(tmp_path)
    store.delete(key)
    assert verify_files(store, expected) == [f"{key}: missing"]


def test_an_extra_file_is_detected(tmp_path: Path) -> None:
    store, expected = register(tmp_path)
    store.write_bytes("extra.bin", b"surprise")
    store.write_bytes("nested/other.txt", b"more")
    store.write_bytes(".hidden", b"ignored")
    assert verify_files(store, expected) == [
        "extra.bin: not in the manifest",
        "nested/other.txt: not in the manifest",
    ]


def test_several_problems_are_reported_sorted_by_file(tmp_path: Path) -> None:
    store, expected = register(tmp_path)
    store.delete("labels.json")
    store.write_bytes("model.json", b"{}")
    store.write_bytes("aaa.txt", b"x")
    problems = verify_files(store, expected)
    assert [p.split(":")[0] for p in problems] == ["aaa.txt", "labels.json", "model.json"]
    assert problems[1] == "labels.json: missing"
    assert problems[2].startswith("model.json: sha256 ")

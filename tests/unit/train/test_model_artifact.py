"""The model artifact is complete or absent: ``model.json`` marks completion, and a failed
training removes what a save that stopped halfway left."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainpipe.config import ModelConfig
from trainpipe.errors import StorageError
from trainpipe.models import build_model
from trainpipe.train.artifacts import load_model, save_model
from trainpipe.train.data import Preprocess
from trainpipe.train.model_files import (
    LABELS_KEY,
    METRICS_KEY,
    MODEL_FILES,
    MODEL_KEY,
    WEIGHTS_KEY,
    discard_partial_model,
)

pytestmark = pytest.mark.unit

CONFIG = ModelConfig(kind="mlp", hidden=[4], dropout=0.0)
PREPROCESS = Preprocess(features=["a", "b"], mean=[0.0, 0.0], std=[1.0, 1.0], classes=["x", "y"])


def _save(location: Path, metrics: dict[str, object]) -> None:
    save_model(
        str(location),
        build_model(CONFIG, 2, 2),
        model_config=CONFIG,
        task="classification",
        label="target",
        preprocess=PREPROCESS,
        metrics=metrics,
    )


def test_a_save_that_stops_halfway_over_an_earlier_model_never_looks_complete(
    tmp_path: Path,
) -> None:
    _save(tmp_path, {"history": [], "final": {}})
    assert discard_partial_model(str(tmp_path)) == []  # complete: kept
    assert load_model(str(tmp_path)).classes == ["x", "y"]

    with pytest.raises(StorageError, match=r"metrics\.json"):  # the save stops there
        _save(tmp_path, {"history": [], "final": {}, "bad": object()})
    assert not (tmp_path / MODEL_KEY).exists(), "the earlier model's marker still stands"
    assert (tmp_path / WEIGHTS_KEY).exists() and (tmp_path / LABELS_KEY).exists()

    (tmp_path / "checkpoints").mkdir()
    # the earlier model's metrics.json goes with them: it belongs to no complete model now
    assert discard_partial_model(str(tmp_path)) == [WEIGHTS_KEY, LABELS_KEY, METRICS_KEY]
    assert not any((tmp_path / key).exists() for key in MODEL_FILES)
    assert (tmp_path / "checkpoints").is_dir()  # what a rerun resumes from stays

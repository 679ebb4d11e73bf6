"""The second example config trains a tabular MLP that clears its F1 threshold."""

from pathlib import Path

import pytest

from trainpipe.config import load_config
from trainpipe.data import ingest, split_dataset
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "breast_cancer.yaml"


def test_breast_cancer_mlp_reaches_f1_093(tmp_path: Path) -> None:
    config = load_config(CONFIG, ["train.backend=inprocess"])
    data = {name: str(tmp_path / name) for name in ("dataset", "train", "val", "test")}
    ingest(config, data["dataset"])
    split_dataset(config, data["dataset"], data["train"], data["val"], data["test"])
    train_model(
        config,
        train_data=data["train"],
        validation_data=data["val"],
        output=str(tmp_path / "model"),
        log=lambda line: None,
    )
    evaluation = evaluate_model(config, str(tmp_path / "model"), data["test"])
    assert evaluation.metrics["f1_macro"] >= 0.93
    assert evaluation.blessed
    assert (
        sum(map(sum, evaluation.metrics["confusion_matrix"])) == 115
    )  # 20% of 569 rows, rounded up

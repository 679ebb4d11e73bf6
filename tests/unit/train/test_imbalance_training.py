"""On a 1:20 imbalanced problem, class weights and oversampling beat the unweighted run on
macro F1 (fixed seeds, the real training loop and evaluation)."""

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import make_classification

from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("imbalanced")
    x, y = make_classification(
        n_samples=3000, n_features=8, n_informative=4, weights=[0.952], class_sep=0.8,
        flip_y=0.0, random_state=0,
    )  # fmt: skip
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["label"] = y
    frame.to_csv(root / "data.csv", index=False)
    config = base_config(root, "none")
    paths = {k: str(root / k) for k in ("dataset", "train", "validation", "test")}
    ingest(config, paths["dataset"])
    split_dataset(config, paths["dataset"], paths["train"], paths["validation"], paths["test"])
    return root, paths


def base_config(root: Path, imbalance: str) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": f"imbalanced-{imbalance}",
            "seed": 3,
            "data": {"source": str(root / "data.csv"), "label": "label"},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"epochs": 8, "batch_size": 64, "learning_rate": 0.003,
                      "backend": "inprocess", "num_threads": 1, "imbalance": imbalance},
        }
    )  # fmt: skip


def macro_f1(root: Path, paths: dict[str, str], imbalance: str) -> float:
    config = base_config(root, imbalance)
    output = str(root / f"model-{imbalance}")
    train_model(
        config, train_data=paths["train"], validation_data=paths["validation"],
        output=output, log=lambda line: None,
    )  # fmt: skip
    return float(evaluate_model(config, output, paths["test"]).metrics["f1_macro"])


def test_class_weights_and_oversampling_beat_the_unweighted_run(
    imbalanced: tuple[Path, dict[str, str]],
) -> None:
    root, paths = imbalanced
    unweighted = macro_f1(root, paths, "none")
    weighted = macro_f1(root, paths, "class_weights")
    oversampled = macro_f1(root, paths, "oversample")
    print(
        f"macro F1: unweighted {unweighted:.3f}, class weights {weighted:.3f}, "
        f"oversampling {oversampled:.3f}"
    )
    assert weighted > unweighted
    assert oversampled > unweighted

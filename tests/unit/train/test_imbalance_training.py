"""On a 1:20 imbalanced problem, class weights and oversampling make the real training loop find
the minority class that the unweighted run misses: minority recall and balanced accuracy rise on
every seed (data and training), through ingest, split, training and evaluation.

Macro F1 is not asserted: weighting moves the decision threshold towards the minority (recall
up, precision down), and at the argmax threshold macro F1 falls about as often as it rises
(tests/unit/data/test_imbalance.py measures that on a logistic regression).
"""

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import make_classification

from trainpipe.config import RunConfig
from trainpipe.data.imbalance import imbalance_ratio
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.evaluate.stages import evaluate_model
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit

MODES = ("none", "class_weights", "oversample")


def base_config(root: Path, imbalance: str, seed: int) -> RunConfig:
    return RunConfig.from_dict(
        {
            "name": f"imbalanced-{imbalance}",
            "seed": seed,
            "data": {"source": str(root / "data.csv"), "label": "label"},
            "model": {"hidden": [16], "dropout": 0.0},
            "train": {"epochs": 4, "batch_size": 64, "learning_rate": 0.003,
                      "backend": "inprocess", "num_threads": 1, "imbalance": imbalance},
        }
    )  # fmt: skip


def minority_metrics(root: Path, seed: int) -> dict[str, dict[str, float]]:
    """Minority recall and balanced accuracy on the test split, per imbalance mode."""
    x, y = make_classification(
        n_samples=2000, n_features=8, n_informative=4, weights=[0.952], class_sep=0.8,
        flip_y=0.0, random_state=seed,
    )  # fmt: skip
    assert imbalance_ratio(y) > 18  # 1:20
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["label"] = y
    frame.to_csv(root / "data.csv", index=False)
    paths = {k: str(root / k) for k in ("dataset", "train", "validation", "test")}
    config = base_config(root, "none", seed)
    ingest(config, paths["dataset"])
    split_dataset(config, paths["dataset"], paths["train"], paths["validation"], paths["test"])
    results = {}
    for mode in MODES:
        config = base_config(root, mode, seed)
        output = str(root / f"model-{mode}")
        train_model(
            config, train_data=paths["train"], validation_data=paths["validation"],
            output=output, log=lambda line: None,
        )  # fmt: skip
        metrics = evaluate_model(config, output, paths["test"]).metrics
        results[mode] = {
            "minority_recall": float(metrics["per_class"]["1"]["recall"]),
            "balanced_accuracy": float(metrics["recall_macro"]),
        }
    return results


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_weights_and_oversampling_find_the_minority_the_unweighted_run_misses(
    tmp_path: Path, seed: int
) -> None:
    results = minority_metrics(tmp_path, seed)
    print(f"seed {seed}: " + ", ".join(
        f"{mode} minority recall {r['minority_recall']:.2f} balanced accuracy "
        f"{r['balanced_accuracy']:.2f}" for mode, r in results.items()
    ))  # fmt: skip
    plain = results["none"]
    assert plain["minority_recall"] < 0.3  # unweighted, the minority is all but ignored
    for mode in ("class_weights", "oversample"):
        assert results[mode]["minority_recall"] > plain["minority_recall"] + 0.4, mode
        assert results[mode]["balanced_accuracy"] > plain["balanced_accuracy"] + 0.1, mode

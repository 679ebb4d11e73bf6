"""2 torchrun processes follow the 1-process loss curve for the same global batch."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainpipe.config import load_config
from trainpipe.data import ingest, split_dataset
from trainpipe.launch.train_job import train_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"


@pytest.fixture(scope="module")
def digits_splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("digits")
    config = load_config(CONFIG)
    paths = {name: str(root / name) for name in ("dataset", "train", "val", "test")}
    ingest(config, paths["dataset"])
    split_dataset(config, paths["dataset"], paths["train"], paths["val"], paths["test"])
    return paths


def _train(splits: dict[str, str], out: Path, *overrides: str) -> tuple[list[float], dict]:
    # Dropout draws differ per process, so the equivalence holds for dropout-free models.
    config = load_config(CONFIG, ["model.dropout=0", "train.epochs=4", *overrides])
    result = train_model(
        config,
        train_data=splits["train"],
        validation_data=splits["val"],
        output=str(out),
        log=lambda line: None,
    )
    weights = load_file(str(out / "model.safetensors"))
    return [row["train_loss"] for row in result.history], {"weights": weights, "result": result}


def test_two_processes_match_one_process(digits_splits: dict[str, str], tmp_path: Path) -> None:
    single, one = _train(digits_splits, tmp_path / "one", "train.nproc_per_node=1")
    double, two = _train(digits_splits, tmp_path / "two", "train.nproc_per_node=2")
    assert one["result"].world_size == 1
    assert two["result"].world_size == 2
    torch.testing.assert_close(torch.tensor(double), torch.tensor(single), rtol=0, atol=1e-4)
    for name, tensor in one["weights"].items():
        torch.testing.assert_close(two["weights"][name], tensor, rtol=0, atol=1e-4)
    assert single[-1] < single[0] / 2, "the loss curve should fall: the comparison is not vacuous"

"""Topology does not change the result: 2 nodes x 1, 1 node x 2 and 1 process agree."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainpipe.config import load_config
from trainpipe.launch.train_job import train_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"


def _train(splits: dict[str, str], out: Path, *overrides: str) -> tuple[list[float], dict]:
    # Dropout draws differ per process, so the equivalence holds for dropout-free models.
    config = load_config(CONFIG, ["model.dropout=0", "train.epochs=4", *overrides])
    result = train_model(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(out),
        log=lambda line: None,
    )
    weights = load_file(str(out / "model.safetensors"))
    return [row["train_loss"] for row in result.history], {"weights": weights, "result": result}


def test_topologies_agree(digits_splits: dict[str, str], tmp_path: Path) -> None:
    single, one = _train(digits_splits, tmp_path / "one", "train.nproc_per_node=1")
    double, two = _train(digits_splits, tmp_path / "two", "train.nproc_per_node=2")
    nodes, two_nodes = _train(
        digits_splits, tmp_path / "nodes", "train.nproc_per_node=1", "train.nnodes=2"
    )
    assert one["result"].world_size == 1
    assert two["result"].world_size == 2 and two_nodes["result"].world_size == 2
    # Same world size, different topology: the same arithmetic, to float precision.
    for name, tensor in two["weights"].items():
        torch.testing.assert_close(two_nodes["weights"][name], tensor, rtol=0, atol=1e-6)
    # One process vs two: the same global batches, reduced in a different order.
    torch.testing.assert_close(torch.tensor(double), torch.tensor(single), rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.tensor(nodes), torch.tensor(single), rtol=0, atol=1e-4)
    for name, tensor in one["weights"].items():
        torch.testing.assert_close(two["weights"][name], tensor, rtol=0, atol=1e-4)
    assert single[-1] < single[0] / 2, "the loss curve should fall: the comparison is not vacuous"

"""Topology does not change the result: 2 nodes x 1, 1 node x 2 and 1 process agree; and the
digits CNN written as a user's factory (``model.kind: custom``) trains to the built-in CNN's
weights, bit for bit, in one process and in two."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from training_jobs import WITHOUT_SANITY_CHECKS
from trainpipe.config import load_config
from trainpipe.launch.train_job import train_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
USER_CODE = Path(__file__).resolve().parents[1] / "user_code"
CUSTOM = [
    "model.kind=custom",
    "model.factory=digits_net.cnn:build",
    "model.params={channels: [16, 32], hidden: [64], dropout: 0}",
]
TOPOLOGIES = {
    "one": ["train.nproc_per_node=1"],
    "two": ["train.nproc_per_node=2"],
    "nodes": ["train.nproc_per_node=1", "train.nnodes=2"],
    "custom-one": ["train.nproc_per_node=1", *CUSTOM],
    "custom-two": ["train.nproc_per_node=2", *CUSTOM],
}
Run = dict[str, Any]


@pytest.fixture(scope="module")
def train(
    digits_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Run]:
    """Each topology's training job, run once for the module."""
    root = tmp_path_factory.mktemp("ddp")
    runs: dict[str, Run] = {}

    def run(name: str) -> Run:
        if name not in runs:
            # Dropout draws differ per process, so the equivalence holds for dropout-free models.
            overrides = ["model.dropout=0", "train.epochs=4", *WITHOUT_SANITY_CHECKS]
            config = load_config(CONFIG, [*overrides, *TOPOLOGIES[name]])
            result = train_model(
                config,
                train_data=digits_splits["train"],
                validation_data=digits_splits["validation"],
                output=str(root / name),
                log=lambda line: None,
            )
            runs[name] = {
                "losses": [row["train_loss"] for row in result.history],
                "weights": load_file(str(root / name / "model.safetensors")),
                "result": result,
            }
        return runs[name]

    return run


def test_topologies_agree(train: Callable[[str], Run]) -> None:
    one, two, two_nodes = train("one"), train("two"), train("nodes")
    single, double, nodes = one["losses"], two["losses"], two_nodes["losses"]
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


@pytest.mark.parametrize("processes", ["one", "two"])
def test_a_user_factory_trains_the_builtin_cnn_bit_for_bit(
    train: Callable[[str], Run], processes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(USER_CODE))  # the torchrun ranks import it
    monkeypatch.syspath_prepend(str(USER_CODE))  # the preflight here does too
    builtin, custom = train(processes), train(f"custom-{processes}")
    assert custom["result"].world_size == builtin["result"].world_size
    assert custom["losses"] == builtin["losses"]
    # Same layers in the same order under other names: compare the tensors in order.
    assert list(custom["weights"]) != list(builtin["weights"])  # the user's module, not ours
    ours, theirs = list(builtin["weights"].values()), list(custom["weights"].values())
    assert [t.shape for t in theirs] == [t.shape for t in ours]
    for mine, yours in zip(ours, theirs, strict=True):
        assert torch.equal(mine, yours)

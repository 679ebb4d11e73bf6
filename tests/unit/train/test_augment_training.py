"""Augmentation runs on training batches only, seeded per step, and is resumable."""

from pathlib import Path

import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def config(**train: object) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": "builtin:digits"},
            "model": {"kind": "cnn", "image_shape": [1, 8, 8], "channels": [8], "hidden": [16],
                      "dropout": 0.0},
            "train": {"epochs": 2, "batch_size": 64, "num_threads": 1, **train},
        }
    )  # fmt: skip


def test_augmented_training_is_deterministic_and_differs_from_plain(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    def run(cfg: RunConfig) -> torch.Tensor:
        spec = TrainSpec(
            config=cfg,
            train_data=digits_splits["train"],
            validation_data=digits_splits["validation"],
            output="",
        )
        result = fit(spec, DistContext(), checkpoint=False, log=lambda line: None)
        return torch.cat([p.detach().flatten() for p in result.model.parameters()])

    augmented = config(augment=["shift", "rotate", "noise"])
    first, second = run(augmented), run(augmented)
    assert torch.equal(first, second)
    assert not torch.equal(first, run(config()))


def test_image_augmentation_needs_an_image_shape() -> None:
    with pytest.raises(ConfigError, match=r"train\.augment\[0\].*model\.image_shape"):
        RunConfig.from_dict({"data": {"source": "builtin:iris"}, "train": {"augment": ["hflip"]}})

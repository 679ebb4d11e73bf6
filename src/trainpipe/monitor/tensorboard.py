"""TensorBoard event files of a training run (``train.tensorboard: true``, rank 0 only).

Scalars go to ``tensorboard/`` next to the model output when the output is a local path. For an
object-store output the files are written to a local temporary directory and uploaded to
``<output>/tensorboard/`` when training ends.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from trainpipe.errors import ConfigError
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri, join_uri

SCALARS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "learning_rate",
           "samples_per_second", "data_wait_seconds")  # fmt: skip


def tensorboard_location(output: str) -> str:
    """Where the event files of a run writing its model to ``output`` end up."""
    if is_remote_uri(output):
        return join_uri(output, "tensorboard")
    return str(Path(output).expanduser().resolve().parent / "tensorboard")


class ScalarWriter:
    """Writes per-epoch and per-step scalars with ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, output: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(
                "train.tensorboard is true but the tensorboard package is not installed: "
                "pip install 'trainpipe[tensorboard]' or set train.tensorboard: false"
            ) from exc
        self.location = tensorboard_location(output)
        self._tmp = tempfile.mkdtemp(prefix="trainpipe-tb-") if is_remote_uri(output) else None
        self.directory = self._tmp or self.location
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        self.writer: Any = SummaryWriter(log_dir=self.directory)

    def epoch(self, row: dict[str, float], global_step: int) -> None:
        """The epoch's row: losses, accuracies, learning rate, throughput."""
        for name in SCALARS:
            if name in row:
                self.writer.add_scalar(f"epoch/{name}", row[name], global_step)

    def step(self, loss: float, learning_rate: float, global_step: int) -> None:
        """One step's loss and learning rate."""
        self.writer.add_scalar("step/loss", loss, global_step)
        self.writer.add_scalar("step/learning_rate", learning_rate, global_step)

    def close(self) -> None:
        """Flush, close, and upload the files when the destination is an object store."""
        self.writer.close()
        if self._tmp is not None:
            open_store(self.location).upload_dir(self._tmp)
            shutil.rmtree(self._tmp, ignore_errors=True)

"""The training run's data as both loops use it: splits as tensors, the class-imbalance handling
and the augmenter, and each epoch's order.

The built-in loop (:mod:`trainpipe.train.loop`) and a user's ``train.entrypoint``
(:mod:`trainpipe.train.context`) read the same :class:`TrainingData`, so an epoch's batches, a
step's augmentation and the class weights are the same whichever loop trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.config.train import Imbalance
from trainpipe.data.augment import Augmenter, build_augmenter
from trainpipe.data.dataset import Schema
from trainpipe.data.imbalance import class_weights, sample_order, smote
from trainpipe.models import build_model
from trainpipe.train.data import Preprocess, Shard, Tensors, global_batches, load_tensors
from trainpipe.train.spec import TrainSpec


@dataclass
class TrainingData:
    """Both splits, fitted preprocessing, and what ``train.imbalance``/``train.augment`` add."""

    train: Tensors
    val: Tensors
    preprocess: Preprocess
    schema: Schema
    seed: int
    batch_size: int
    imbalance: Imbalance = "none"
    class_weight: torch.Tensor | None = None
    """``train.imbalance: class_weights``: per-class loss weights (on the training device)."""
    augment: Augmenter | None = None
    """``train.augment``: applied to training batches only, from the step's own generator."""

    @property
    def n_outputs(self) -> int:
        """Model outputs: one per class, or one for regression."""
        return len(self.schema.classes) if self.schema.task == "classification" else 1

    def epoch_order(self, epoch: int) -> torch.Tensor | None:
        """A resampled (seed, epoch) order for over-/undersampling; None: the plain permutation."""
        if self.imbalance == "oversample" or self.imbalance == "undersample":
            return sample_order(self.train.y, mode=self.imbalance, seed=self.seed, epoch=epoch)
        return None

    def epoch_rows(self) -> int:
        """Rows one epoch visits (a resampled epoch has its own length)."""
        order = self.epoch_order(0)
        return len(order) if order is not None else len(self.train)

    def shards(self, epoch: int, *, rank: int, world_size: int) -> Iterator[Shard]:
        """This rank's part of every global batch of ``epoch``, in the (seed, epoch) order."""
        return global_batches(
            len(self.train),
            self.batch_size,
            seed=self.seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            order=self.epoch_order(epoch),
        )

    def batch(
        self, indices: torch.Tensor, *, seed: int, device: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training rows ``indices`` on ``device``, augmented from ``seed``'s generator."""
        x, y = self.train.x[indices], self.train.y[indices].to(device)
        if self.augment:
            x = self.augment(x, torch.Generator().manual_seed(seed))
        return x.to(device), y


def load_training_data(spec: TrainSpec, *, device: str) -> TrainingData:
    """Read both splits, fit the preprocessing on the training split, and apply
    ``train.imbalance`` (SMOTE rows, or class weights on ``device``) and ``train.augment``."""
    config = spec.config
    train, val, preprocess, schema = load_tensors(spec)
    augment = build_augmenter(
        config.train.augment,
        image_shape=config.model.image_shape or None,
        vocabulary=preprocess.vocabulary if preprocess.text else None,
    )
    data = TrainingData(
        train=train,
        val=val,
        preprocess=preprocess,
        schema=schema,
        seed=config.seed,
        batch_size=config.train.batch_size,
        imbalance=config.train.imbalance,
        augment=augment,
    )
    if data.imbalance == "smote":
        x, y = smote(
            train.x.numpy(),
            train.y.numpy(),
            seed=config.seed,
            categorical=list(preprocess.categories),
            text=[preprocess.text] if preprocess.text else [],
        )
        data.train = Tensors(torch.from_numpy(x).float(), torch.from_numpy(y).long())
    elif data.imbalance == "class_weights":
        data.class_weight = class_weights(train.y, len(schema.classes)).to(device)
    return data


def build_run_model(config: RunConfig, data: TrainingData) -> nn.Module:
    """The model ``config.model`` names for this data, built from ``seed`` (every rank alike)."""
    torch.manual_seed(config.seed)
    return build_model(
        config.model,
        data.preprocess.width,
        data.n_outputs,
        vocab_size=len(data.preprocess.vocabulary),
        task=config.task,
        feature_names=data.preprocess.input_names,
        classes=data.schema.classes,
    )

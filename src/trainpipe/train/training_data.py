"""The training run's data as both loops use it: splits as tensors, the class-imbalance handling
and the augmenter, and each epoch's order.

The built-in loop (:mod:`trainpipe.train.loop`) and a user's ``train.entrypoint``
(:mod:`trainpipe.train.context`) read the same :class:`TrainingData`, so an epoch's batches, a
step's augmentation and the class weights are the same whichever loop trains.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainpipe.config import RunConfig
from trainpipe.config.train import Imbalance
from trainpipe.data.augment import Augmenter, build_augmenter
from trainpipe.data.dataset import Schema
from trainpipe.data.imbalance import class_weights, class_weights_from_counts, sample_order, smote
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.errors import TrainingError
from trainpipe.models import build_model
from trainpipe.train.data import Preprocess, Shard, Tensors, global_batches, load_tensors
from trainpipe.train.distributed import DistContext
from trainpipe.train.spec import TrainSpec
from trainpipe.train.stream_mode import read_schema, stream_decision
from trainpipe.train.streamed_split import EVAL_CHUNK, StreamedSplit, StreamSettings, fit_streamed

SAMPLE_FOR_CHECKS = 10_000
"""Rows of each streamed split the sanity and user-code checks run on."""


@dataclass
class TrainingData:
    """Both splits, fitted preprocessing, and what ``train.imbalance``/``train.augment`` add.

    A split is in memory (:class:`Tensors`) or streamed (:class:`StreamedSplit`,
    ``train.stream``); :meth:`shards`, :meth:`batch` and :meth:`validation_batches` read either.
    """

    train: Tensors | StreamedSplit
    val: Tensors | StreamedSplit
    preprocess: Preprocess
    schema: Schema
    seed: int
    batch_size: int
    imbalance: Imbalance = "none"
    class_weight: torch.Tensor | None = None
    """``train.imbalance: class_weights``: per-class loss weights (on the training device)."""
    augment: Augmenter | None = None
    """``train.augment``: applied to training batches only, from the step's own generator."""
    samples: tuple[Tensors, Tensors, pd.DataFrame, pd.DataFrame] | None = None
    """A streamed run's seeded sample of both splits, as tensors and as rows, for the checks."""

    @property
    def streamed(self) -> bool:
        """Whether the training split is read as a stream."""
        return isinstance(self.train, StreamedSplit)

    @property
    def n_outputs(self) -> int:
        """Model outputs: one per class, or one for regression."""
        return len(self.schema.classes) if self.schema.task == "classification" else 1

    def check_tensors(self) -> tuple[Tensors, Tensors]:
        """The training and validation rows the pre-training checks look at: the splits, or a
        streamed run's sample of them."""
        if self.samples is not None:
            return self.samples[0], self.samples[1]
        assert isinstance(self.train, Tensors) and isinstance(self.val, Tensors)
        return self.train, self.val

    def epoch_order(self, epoch: int) -> torch.Tensor | None:
        """A resampled (seed, epoch) order for over-/undersampling; None: the plain permutation."""
        if self.imbalance == "oversample" or self.imbalance == "undersample":
            assert isinstance(self.train, Tensors)
            return sample_order(self.train.y, mode=self.imbalance, seed=self.seed, epoch=epoch)
        return None

    def epoch_rows(self) -> int:
        """Rows one epoch visits (a resampled epoch has its own length)."""
        order = self.epoch_order(0)
        return len(order) if order is not None else len(self.train)

    def shards(
        self, epoch: int, *, rank: int, world_size: int, start_step: int = 0
    ) -> Iterator[Shard]:
        """This rank's part of every global batch of ``epoch`` from ``start_step`` on, in the
        (seed, epoch) order."""
        if isinstance(self.train, StreamedSplit):
            return self.train.shards(epoch, rank=rank, world_size=world_size, start_step=start_step)
        batches = global_batches(
            len(self.train),
            self.batch_size,
            seed=self.seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            order=self.epoch_order(epoch),
        )
        return itertools.islice(batches, start_step, None)

    def batch(self, shard: Shard, *, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The shard's rows on ``device``, augmented from ``seed``'s generator; to a GPU
        through page-locked memory without waiting for the copy (the step's kernels queue
        behind it on the same stream)."""
        if shard.rows is not None:
            x, y = shard.rows
        else:
            assert isinstance(self.train, Tensors)
            x, y = self.train.x[shard.indices], self.train.y[shard.indices]
        if self.augment:
            x = self.augment(x, torch.Generator().manual_seed(seed))
        if device.startswith("cuda"):  # page-locked, so the copies overlap the GPU's work
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(
                device, non_blocking=True
            )
        return x.to(device), y.to(device)

    def validation_batches(
        self, *, rank: int, world_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's validation rows (positions ``rank::world_size``), in chunks."""
        if isinstance(self.val, StreamedSplit):
            yield from self.val.eval_batches(rank=rank, world_size=world_size)
            return
        index = torch.arange(rank, len(self.val), world_size)
        for chunk in index.split(EVAL_CHUNK):
            yield self.val.x[chunk], self.val.y[chunk]


def load_training_data(
    spec: TrainSpec,
    *,
    device: str,
    log: Callable[[str], None] | None = None,
    ctx: DistContext | None = None,
) -> TrainingData:
    """Read both splits (into memory, or as streams: ``train.stream``), fit the preprocessing
    on the training split, and apply ``train.imbalance`` (SMOTE rows, or class weights on
    ``device``) and ``train.augment``. ``log`` hears the decisions a default made (rank 0).
    With the job's ``ctx`` (a collective then: every rank calls it), the ranks share the
    streamed fit's reading (:func:`~trainpipe.train.streamed_split.fit_streamed`)."""
    decision = stream_decision(spec)
    if decision.stream:
        if log is not None and decision.reason:
            log(f"[trainpipe] {decision.reason}")
        return _load_streamed(spec, device=device, log=log, ctx=ctx)
    config = spec.config
    train, val, preprocess, schema = load_tensors(spec)
    data = _training_data(config, train, val, preprocess, schema)
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


def _training_data(
    config: RunConfig,
    train: Tensors | StreamedSplit,
    val: Tensors | StreamedSplit,
    preprocess: Preprocess,
    schema: Schema,
    *,
    samples: tuple[Tensors, Tensors, pd.DataFrame, pd.DataFrame] | None = None,
) -> TrainingData:
    """The run's :class:`TrainingData` over these splits, with ``train.augment``'s augmenter."""
    augment = build_augmenter(
        config.train.augment,
        image_shape=config.model.image_shape or None,
        vocabulary=preprocess.vocabulary if preprocess.text else None,
    )
    return TrainingData(
        train=train,
        val=val,
        preprocess=preprocess,
        schema=schema,
        seed=config.seed,
        batch_size=config.train.batch_size,
        imbalance=config.train.imbalance,
        augment=augment,
        samples=samples,
    )


def _load_streamed(
    spec: TrainSpec, *, device: str, log: Callable[[str], None] | None, ctx: DistContext | None
) -> TrainingData:
    """Both splits as streams; the preprocessing fitted block by block."""
    config = spec.config
    if config.train.imbalance not in ("none", "class_weights"):
        raise TrainingError(
            f"train.imbalance {config.train.imbalance!r} needs every training row at hand, but "
            f"the training split {spec.train_data} is streamed (train.stream.mode "
            f"{config.train.stream.mode!r}): use train.imbalance class_weights or none, or "
            "train.stream.mode memory to read the split into memory"
        )
    schema = read_schema(spec.train_data)
    train_blocks = ParquetBlocks.open(spec.train_data)
    val_blocks = ParquetBlocks.open(spec.validation_data)
    stream = config.train.stream
    settings = StreamSettings(
        seed=config.seed,
        batch_size=config.train.batch_size,
        window=stream.window,
        num_workers=stream.num_workers,
        prefetch_factor=stream.prefetch_factor,
    )
    data_config = config.data
    fit, clipped, clip = fit_streamed(
        train_blocks, schema, settings, clip_quantile=data_config.clip_quantile, ctx=ctx
    )
    preprocess = fit.preprocess(
        schema,
        clipped=clipped,
        clip=clip,
        vocab_size=data_config.vocab_size,
        max_tokens=data_config.max_tokens,
        missing=data_config.missing,
        fill_value=data_config.fill_value,
    )
    notice = fit.notice(clip_quantile=data_config.clip_quantile, missing=data_config.missing)
    if log is not None and notice:
        log(f"[trainpipe] {notice}")
    train = StreamedSplit(train_blocks, schema, preprocess, settings, training=True)
    val = StreamedSplit(val_blocks, schema, preprocess, settings, training=False)
    train_rows = fit.sample.sample(
        n=min(SAMPLE_FOR_CHECKS, len(fit.sample)), random_state=config.seed
    ).sort_index()
    val_rows = val.head_frame(SAMPLE_FOR_CHECKS)
    samples = (
        Tensors(
            preprocess.transform_features(train_rows),
            preprocess.transform_target(train_rows, schema),
        ),
        Tensors(
            preprocess.transform_features(val_rows), preprocess.transform_target(val_rows, schema)
        ),
        train_rows.reset_index(drop=True),
        val_rows,
    )
    data = _training_data(config, train, val, preprocess, schema, samples=samples)
    if data.imbalance == "class_weights":
        counts = np.array([fit.labels.get(c, 0) for c in schema.classes], dtype=np.float64)
        data.class_weight = class_weights_from_counts(counts, class_names=schema.classes).to(device)
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

"""The ``train`` section: the training loop and the job that runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from trainpipe.config.data import DataConfig
from trainpipe.config.model import ModelConfig, check_reference
from trainpipe.config.problems import Problems

__all__ = [
    "AUGMENTATIONS",
    "IMAGE_AUGMENTATIONS",
    "TEXT_AUGMENTATIONS",
    "Augmentation",
    "Imbalance",
    "Optimizer",
    "StreamConfig",
    "StreamMode",
    "TrainConfig",
]

Optimizer = Literal["adamw", "adam", "sgd"]
Imbalance = Literal["none", "class_weights", "oversample", "undersample", "smote"]
Augmentation = Literal[
    "hflip",
    "vflip",
    "rotate",
    "shift",
    "resized_crop",
    "scale",
    "color_jitter",
    "time_mask",
    "freq_mask",
    "pitch_shift",
    "noise",
    "time_shift",
    "time_stretch",
    "token_dropout",
    "token_swap",
    "synonyms",
]
AUGMENTATIONS: tuple[str, ...] = get_args(Augmentation)
"""Every ``train.augment`` name, in the order the docs list them."""
IMAGE_AUGMENTATIONS: frozenset[str] = frozenset(
    {"hflip", "vflip", "rotate", "shift", "resized_crop", "scale", "color_jitter", "time_mask",
     "freq_mask", "pitch_shift"}
)  # fmt: skip
"""The augmentations that work on images (spectrograms too) and need ``model.image_shape``."""
TEXT_AUGMENTATIONS: frozenset[str] = frozenset({"token_dropout", "token_swap", "synonyms"})
"""The augmentations that work on token ids and need a ``data.text`` column."""


StreamMode = Literal["auto", "stream", "memory"]


@dataclass(kw_only=True)
class StreamConfig:
    """How training reads a split that is streamed (:mod:`trainpipe.train.streamed_split`)."""

    mode: StreamMode = "auto"
    """``auto``: stream a split whose ``data.parquet`` is larger than
    ``data.stream_threshold_mb`` (printed when it does); ``stream``: always stream; ``memory``: read
    both splits into memory. Streaming needs a trainpipe dataset (the split stage's output)."""
    num_workers: int = 1
    """DataLoader worker processes per rank that read, shuffle and transform the row groups
    (0: read in the training process). One keeps a window ready ahead of training; more pay
    off where the machine has cores to spare (on 2 cores, 1 trained faster than 2)."""
    prefetch_factor: int = 2
    """Windows each worker reads ahead."""
    window: int = 4
    """Row groups shuffled together: each epoch permutes the row groups by (seed, epoch), then
    the rows of every ``window`` consecutive ones. Memory grows with it; so does the mixing."""

    def check(self, problems: Problems) -> None:
        """Non-negative workers; a positive prefetch depth and window."""
        need = problems.need
        need(self.num_workers >= 0, "train.stream.num_workers", ">= 0", self.num_workers)
        need(
            self.prefetch_factor >= 1, "train.stream.prefetch_factor", ">= 1", self.prefetch_factor
        )
        need(self.window >= 1, "train.stream.window", ">= 1", self.window)


@dataclass(kw_only=True)
class TrainConfig:
    """The training loop and the job that runs it."""

    epochs: int = 20
    batch_size: int = 64
    """Global batch size: split evenly across every process of the job."""
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Optimizer = "adamw"
    warmup_epochs: int = 0
    grad_clip: float = 1.0
    """Maximum gradient norm; 0 disables clipping."""
    nproc_per_node: int = 2
    nnodes: int = 1
    strategy: Literal["ddp", "fsdp"] = "ddp"
    """Data parallelism across the job's processes. ``ddp``: a whole copy of the model on every
    rank, gradients averaged over the ranks. ``fsdp``: parameters, gradients and optimizer
    state sharded over the ranks (torch ``fully_shard``): the same arithmetic for a model that
    does not fit one device, checkpoints sharded (``torch.distributed.checkpoint``) and
    resumable at another world size. An out-of-memory error is not backed off under fsdp."""
    backend: Literal["local", "inprocess", "pytorchjob", "trainjob"] = "local"
    """``local``: torchrun processes with the PyTorchJob environment; ``inprocess``: one process;
    ``pytorchjob``/``trainjob``: a Kubeflow job on the cluster (settings in ``job``)."""
    loss: str = ""
    """The user's ``package.module:function`` computing the loss from ``(outputs, targets)``;
    empty: cross-entropy (classification) or mean squared error (regression)."""
    entrypoint: str = ""
    """The user's ``package.module:function`` that trains on every rank instead of the built-in
    loop; it gets a :class:`~trainpipe.train.context.TrainContext` (rank, loaders, ``report``,
    checkpoints, ``save_model``). Empty: the built-in loop."""
    num_threads: int = 0
    """Torch threads per process; 0 shares the machine's cores among the local processes (a
    job's ranks on one node, or the parallel tuning workers)."""
    deterministic: bool = True
    keep_checkpoints: int = 2
    checkpoint_every_steps: int = 0
    """Also checkpoint every N optimizer steps (0: only at the end of each epoch)."""
    max_rollbacks: int = 3
    """Non-finite loss: roll back to the last checkpoint with the learning rate halved, N times."""
    guard_every_steps: int = 0
    """How often the ranks read the steps' loss and gradient norm and agree on the non-finite
    and stop flags: every N optimizer steps. Between decisions the values stay on the device
    (no host-device sync per step) and a non-finite step is skipped on the device by the fused
    Adam/AdamW kernel, so it never reaches the weights; the decision then rolls back as usual.
    0: every step on a CPU (where a decision costs no sync) and every 16 on CUDA. An optimizer
    that cannot skip a step on the device (SGD, FSDP's sharded parameters) decides every step."""
    augment: list[Augmentation] = field(default_factory=list)
    """On-the-fly, seeded augmentations of training batches only: hflip, vflip, rotate, shift,
    resized_crop, scale, color_jitter (images, needs model.image_shape), time_mask, freq_mask,
    pitch_shift (log-mel spectrograms of an audio folder, as images), noise, time_shift,
    time_stretch (1-D signals), token_dropout, token_swap, synonyms (token ids, needs
    data.text)."""
    imbalance: Imbalance = "none"
    """Class imbalance: a cost-sensitive loss, a resampled epoch order (works under DDP: every
    rank draws the same global order), or SMOTE rows added to the training split only (numeric
    features only: not with data.categorical or data.text)."""
    warm_start: str = ""
    """Start from a registered model's weights (``NAME@ALIAS`` or ``NAME:VERSION`` in
    ``registry.uri``; incremental learning); recorded as the new version's parent."""
    stream: StreamConfig = field(default_factory=StreamConfig)
    """Reading the splits as a stream of row groups instead of into memory."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """``bf16`` runs forward and loss under bfloat16 autocast (mixed precision)."""
    compile: bool = False
    """``torch.compile`` the model (TorchInductor) before training: the first steps of a run and
    of its evaluation pay the compilation (seconds to minutes), later steps run fused kernels.
    Checkpoints and the model artifact hold the uncompiled module's weights."""
    channels_last: bool = False
    """Convolution weights in channels-last (NHWC) memory layout, which tensor cores run
    fastest (CNN and ResNet on a GPU; the images follow the weights' layout)."""
    tf32: bool = True
    """On CUDA, float32 matrix multiplies and convolutions on TF32 tensor cores (a 10-bit
    mantissa, as PyTorch recommends for training on Ampere and later); false: full float32."""
    timeout_seconds: int = 3600
    sanity_checks: bool = True
    """Before training, rank 0 overfits one batch, scores trivial and linear baselines on the
    validation split and reports the splits (``metrics["sanity"]``; well under a second on
    small data)."""
    metrics_port: int = 9400
    """Prometheus metrics of a training job's every rank on this port + LOCAL_RANK (0: off).
    Only job processes (local torchrun, PyTorchJob/TrainJob pods) open it; in-process training
    (``backend: inprocess``, tuning trials) keeps its metrics in memory."""
    pushgateway: str = ""
    """A Prometheus Pushgateway URL (``http://host:9091``): every rank pushes its metrics at each
    epoch end and at exit (short jobs that a scrape could miss). Empty: off."""
    tensorboard: bool = False
    """Rank 0 writes TensorBoard scalars to ``tensorboard/`` next to the model output (needs the
    ``tensorboard`` extra)."""

    @property
    def world_size(self) -> int:
        """Processes of the training job: ``nnodes x nproc_per_node``."""
        return self.nnodes * self.nproc_per_node

    def check(self, problems: Problems, *, task: str, model: ModelConfig, data: DataConfig) -> None:
        """Value rules of the loop, the world size, augmentations and imbalance handling."""
        need = problems.need
        need(self.epochs >= 1, "train.epochs", ">= 1", self.epochs)
        need(self.batch_size >= 1, "train.batch_size", ">= 1", self.batch_size)
        need(self.learning_rate > 0, "train.learning_rate", "> 0", self.learning_rate)
        need(self.weight_decay >= 0, "train.weight_decay", ">= 0", self.weight_decay)
        need(self.warmup_epochs >= 0, "train.warmup_epochs", ">= 0", self.warmup_epochs)
        need(self.grad_clip >= 0, "train.grad_clip", ">= 0 (0 disables)", self.grad_clip)
        topology = need(
            self.nproc_per_node >= 1, "train.nproc_per_node", ">= 1", self.nproc_per_node
        )
        topology &= need(self.nnodes >= 1, "train.nnodes", ">= 1", self.nnodes)
        need(self.num_threads >= 0, "train.num_threads", ">= 0", self.num_threads)
        need(self.keep_checkpoints >= 1, "train.keep_checkpoints", ">= 1", self.keep_checkpoints)
        need(
            self.checkpoint_every_steps >= 0,
            "train.checkpoint_every_steps",
            ">= 0",
            self.checkpoint_every_steps,
        )
        need(self.max_rollbacks >= 0, "train.max_rollbacks", ">= 0", self.max_rollbacks)
        need(
            self.guard_every_steps >= 0,
            "train.guard_every_steps",
            ">= 0 (0: every step on a CPU, every 16 on CUDA)",
            self.guard_every_steps,
        )
        need(self.timeout_seconds > 0, "train.timeout_seconds", "> 0", self.timeout_seconds)
        need(
            0 <= self.metrics_port <= 65000,
            "train.metrics_port",
            "a port in [1, 65000] (0: off)",
            self.metrics_port,
        )
        need(
            not self.pushgateway or self.pushgateway.startswith(("http://", "https://")),
            "train.pushgateway",
            "an http:// or https:// URL (empty: off)",
            self.pushgateway,
        )
        if topology and self.batch_size >= 1:
            need(
                self.batch_size % self.world_size == 0,
                "train.batch_size",
                f"a multiple of the world size {self.world_size} (nnodes x nproc_per_node)",
                self.batch_size,
                also=["train.nnodes", "train.nproc_per_node"],
            )
        check_reference(problems, "train.loss", self.loss)
        check_reference(problems, "train.entrypoint", self.entrypoint)
        need(
            not (self.entrypoint and self.imbalance == "smote"),
            "train.imbalance",
            "class_weights, oversample, undersample or none with train.entrypoint (SMOTE rows "
            "are made by the built-in loop)",
            self.imbalance,
            also=["train.entrypoint"],
        )
        need(
            not (self.loss and self.imbalance == "class_weights"),
            "train.imbalance",
            "oversample, undersample or none with train.loss (class weights apply to the "
            "built-in cross-entropy; weigh the classes inside your loss)",
            self.imbalance,
            also=["train.loss"],
        )
        for name in ("compile", "channels_last"):
            need(
                not (self.entrypoint and getattr(self, name)),
                f"train.{name}",
                "false with train.entrypoint (it applies to the built-in loop's model; a loop "
                "of your own calls torch.compile or .to(memory_format=...) itself)",
                getattr(self, name),
                also=["train.entrypoint"],
            )
        need(
            not (self.compile and self.strategy == "fsdp"),
            "train.compile",
            "false with train.strategy fsdp (a sharded model's forward runs collectives in its "
            "hooks; compile it per block in a train.entrypoint loop)",
            self.compile,
            also=["train.strategy"],
        )
        need(
            not (self.entrypoint and self.strategy == "fsdp"),
            "train.strategy",
            "ddp with train.entrypoint (the built-in loop shards the model under fsdp; a loop "
            "of your own wraps the model in ctx.prepare, which applies DDP)",
            self.strategy,
            also=["train.entrypoint"],
        )
        self._check_augment(problems, model=model, data=data)
        self.stream.check(problems)
        need(
            self.stream.mode != "stream" or self.imbalance in ("none", "class_weights"),
            "train.imbalance",
            "none or class_weights with train.stream.mode stream (a streamed split is read a "
            "window of row groups at a time; resampling and SMOTE need every row at hand)",
            self.imbalance,
            also=["train.stream.mode"],
        )
        need(
            self.imbalance == "none" or task == "classification",
            "train.imbalance",
            "none for regression",
            self.imbalance,
            also=["task"],
        )
        discrete = [*data.categorical, *([data.text] if data.text else [])]
        need(
            self.imbalance != "smote" or not discrete,
            "train.imbalance",
            f"class_weights or oversample, not smote, with the discrete columns {discrete} "
            "(SMOTE interpolates between rows, which makes one-hot categories and token ids "
            "that do not exist)",
            self.imbalance,
        )

    def _check_augment(self, problems: Problems, *, model: ModelConfig, data: DataConfig) -> None:
        for i, name in enumerate(self.augment):
            where = f"train.augment[{i}]"
            needs_image = name in IMAGE_AUGMENTATIONS and not model.has_image_shape
            if needs_image and not problems.involves_bad("model.image_shape"):
                problems.add(
                    where,
                    f"{where}: augmentation {name!r} works on images; set model.image_shape "
                    "(e.g. [1, 8, 8]) or remove it",
                )
            if name in TEXT_AUGMENTATIONS and not data.text:
                problems.add(
                    where,
                    f"{where}: augmentation {name!r} works on token ids; set data.text to the "
                    "text column or remove it",
                )

"""What a user's ``train.entrypoint`` gets: :class:`TrainContext`.

trainpipe calls ``train_fn(ctx)`` on every rank, in every backend (in-process, local torchrun,
PyTorchJob and TrainJob pods, tuning trials). The context gives the function what makes a run
reproducible and recoverable, so a hand-written loop keeps trainpipe's guarantees:

- ``ctx.train_loader(epoch)`` yields this rank's shard of every global batch, in a (seed, epoch)
  order, the same order and augmentation the built-in loop draws; it seeds torch from
  ``(seed, global step, rank)`` before each batch (dropout) and skips the batches a resumed run
  already took, so a run resumed mid-epoch goes on exactly where it stopped;
- ``ctx.save_checkpoint(state)`` / ``ctx.load_checkpoint()`` keep the user's state (model,
  optimizer, anything made of tensors and plain data) together with the loader's position, as
  one atomically written object loaded with ``weights_only=True``;
- ``ctx.report(epoch, checkpoint=state, **metrics)`` feeds the monitor, the epoch log lines
  Katib's collector reads, and Optuna's pruner; after SIGTERM it writes ``checkpoint`` and ends
  the run retryably;
- ``ctx.save_model(module)`` hands over the model that evaluate and register consume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainpipe.config import RunConfig
from trainpipe.errors import TrainingError, UserCodeError
from trainpipe.monitor.training import TrainingMonitor
from trainpipe.storage.base import ObjectStore
from trainpipe.train.checkpoint import load_latest, save_checkpoint
from trainpipe.train.data import Preprocess, steps_per_epoch
from trainpipe.train.distributed import DistContext
from trainpipe.train.faults import Faults
from trainpipe.train.guards import Preempted, StopFlag
from trainpipe.train.objective import UserLoss, evaluate_epoch, loss_sum
from trainpipe.train.seeding import seed_step, step_seed
from trainpipe.train.state import EpochCallback
from trainpipe.train.training_data import TrainingData, build_run_model

__all__ = ["CallbackRaised", "Position", "TrainContext"]

_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.Size)


class CallbackRaised(BaseException):
    """What trainpipe's own epoch callback raised inside ``report`` (Optuna's ``TrialPruned``,
    for one), carried through the user's code untouched: a ``BaseException``, so an
    ``except Exception`` in the loop does not swallow it; the runner raises ``error`` again."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


@dataclass(kw_only=True)
class Position:
    """Where the user's loop stands: the loader's place and what was reported so far."""

    epoch: int = 0
    step: int = 0
    """Batches of ``epoch`` already taken."""
    global_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    sanity: dict[str, Any] | None = None
    """The sanity checks' result (rank 0, before the first step), kept across resumes."""


class TrainContext:
    """The run as a user's ``train_fn(ctx)`` sees it (one per rank).

    Attributes:
        config: the run's :class:`~trainpipe.config.RunConfig` (tuned values applied).
        rank, local_rank, world_size, device: where this process stands in the job.
        data: both splits and the fitted preprocessing (:class:`TrainingData`): in memory,
            ``data.train.x`` and ``data.train.y`` are the training split's tensors; a streamed
            split (``train.stream``) is read through :meth:`train_loader` only.
    """

    def __init__(
        self,
        config: RunConfig,
        dist: DistContext,
        data: TrainingData,
        *,
        store: ObjectStore | None,
        monitor: TrainingMonitor,
        stop: StopFlag,
        faults: Faults,
        user_loss: UserLoss | None = None,
        on_epoch: EpochCallback | None = None,
        log: Callable[[str], None] = print,
        max_steps: int | None = None,
    ) -> None:
        self.config = config
        self.rank, self.local_rank = dist.rank, dist.local_rank
        self.world_size, self.device = dist.world_size, dist.device
        self.data = data
        self._dist = dist
        self._store = store
        self._monitor = monitor
        self._stop = stop
        self._faults = faults
        self._user_loss = user_loss
        self._on_epoch = on_epoch
        self._log = log
        self._max_steps = max_steps
        """A dry run: one epoch of this many batches (the check before any job starts)."""
        self.per_epoch = steps_per_epoch(data.epoch_rows(), config.train.batch_size)
        """Optimizer steps (global batches) in one epoch."""
        self.position = Position()
        self.resumed_from: Position | None = None
        self.checkpoint_loaded = False
        self.saved_model: nn.Module | None = None
        self._data_seconds = 0.0

    # -- who and where ----------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        """Rank 0: the rank whose checkpoint and model are written."""
        return self.rank == 0

    @property
    def preprocess(self) -> Preprocess:
        """The feature transform fitted on the training split (``input_names``, ``classes``)."""
        return self.data.preprocess

    # -- the model ----------------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        """The model ``model`` configures (a ``model.factory``'s or a built-in one), built from
        ``seed`` so every rank starts from the same weights, on this rank's device."""
        return build_run_model(self.config, self.data).to(self.device)

    def prepare(self, module: nn.Module) -> nn.Module:
        """``module`` on this rank's device, wrapped in DistributedDataParallel when the job has
        more than one process; train the returned module, save the one you built."""
        module = module.to(self.device)
        return DistributedDataParallel(module) if self._dist.distributed else module

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The run's loss, a batch mean: ``train.loss`` when set, else cross-entropy
        (class-weighted with ``train.imbalance: class_weights``) or mean squared error."""
        summed = loss_sum(
            self.config.task, outputs, targets, self.data.class_weight, self._user_loss
        )
        return summed / max(1, len(targets))

    # -- the data -----------------------------------------------------------------------------

    def epochs(self) -> Iterator[int]:
        """The epochs left to train, counting from 0: all of ``train.epochs``, or from the
        epoch :meth:`load_checkpoint` resumed in."""
        last = 1 if self._max_steps is not None else self.config.train.epochs
        yield from range(self.position.epoch, last)

    def train_loader(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)`` of this rank's shard of each global batch of ``epoch``, on the device.

        The order is a function of (seed, epoch); each batch is augmented (``train.augment``)
        and torch is seeded from (seed, global step, rank) before it is yielded, so dropout
        draws the same numbers after a resume. Batches a resumed run already took are skipped.
        """
        resume = self.position.step if epoch == self.position.epoch else 0
        base = epoch * self.per_epoch
        shards = self.data.shards(
            epoch, rank=self.rank, world_size=self.world_size, start_step=resume
        )
        yielded_at: float | None = None
        samples = 0
        for step, shard in enumerate(shards, start=resume):
            if self._max_steps is not None and step >= self._max_steps:
                return
            fetched = time.perf_counter()
            if yielded_at is not None:
                self._step_done(epoch, fetched - yielded_at, samples)
            if self._faults.stall_fires(base + step):
                time.sleep(self._faults.stall_seconds)
            seed = step_seed(self.config, base + step, self.rank)
            seed_step(seed, self.device)
            x, y = self.data.batch(shard, seed=seed, device=self.device)
            self.position.epoch, self.position.step = epoch, step + 1
            self.position.global_step = base + step + 1
            self._data_seconds = time.perf_counter() - fetched
            samples = len(shard)
            yielded_at = time.perf_counter()
            yield x, y
        if yielded_at is not None:
            self._step_done(epoch, time.perf_counter() - yielded_at, samples)

    def _step_done(self, epoch: int, seconds: float, samples: int) -> None:
        """The monitor hears of a step once the user's code asks for the next batch (or the
        epoch's batches run out): ``seconds`` is the user's compute, plus the batch fetch."""
        self._monitor.step(
            epoch=epoch,
            global_step=self.position.global_step,
            samples=samples,
            seconds=seconds + self._data_seconds,
            data_seconds=self._data_seconds,
        )

    @property
    def checkpoint_due(self) -> bool:
        """True after the step that ``train.checkpoint_every_steps`` asks to checkpoint (never
        on an epoch's last step: ``report`` takes that one)."""
        every = self.config.train.checkpoint_every_steps
        position = self.position
        return bool(
            every
            and position.global_step % every == 0
            and 0 < position.step < self.per_epoch
            and self._max_steps is None
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """``val_loss`` (the run's loss) and, for classification, ``val_accuracy`` on the
        validation split, sharded over ranks (every rank must call it)."""
        batches = self.data.validation_batches(rank=self.rank, world_size=self.world_size)
        row = evaluate_epoch(
            model, batches, config=self.config, ctx=self._dist, user_loss=self._user_loss
        )
        model.train()
        return row

    # -- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, state: Any) -> None:
        """Keep ``state`` (tensors, numbers, strings, and dicts, lists and tuples of them, e.g.
        ``{"model": model.state_dict(), "optimizer": opt.state_dict()}``) with the loader's
        position; call it on every rank, after the optimizer step. Rank 0 writes it as one
        atomic object, so a crash leaves the previous checkpoint intact.

        Raises:
            UserCodeError: ``state`` holds something that cannot be loaded without unpickling.
        """
        _check_plain(state, "state")
        if not self.is_main:
            return
        started = time.perf_counter()
        payload = {"loop": asdict(self.position), "user": state}
        if self._store is None:  # a run that keeps none: a tuning trial, a dry run
            return
        save_checkpoint(
            self._store,
            self.position.global_step,
            payload,
            keep=self.config.train.keep_checkpoints,
        )
        self._monitor.checkpoint_seconds(time.perf_counter() - started)

    def load_checkpoint(self) -> Any | None:
        """The state of the newest checkpoint, or None on a fresh run; the loader and
        :meth:`epochs` then go on from where that checkpoint was taken."""
        self.checkpoint_loaded = True
        saved = load_latest(self._store) if self._store is not None else None
        if saved is None:
            return None
        self.position = Position(**saved["loop"])
        self.resumed_from = Position(**saved["loop"])
        self._monitor.resumed()
        if self.is_main:
            self._log(
                f"[trainpipe] resumed from checkpoint at epoch {self.position.epoch + 1} "
                f"step {self.position.global_step}"
            )
        return saved["user"]

    # -- reporting ----------------------------------------------------------------------------

    def report(self, epoch: int, *, checkpoint: Any = None, **metrics: float) -> None:
        """End ``epoch``: record ``metrics`` (``train_loss``, ``val_loss``, ``val_accuracy`` ...;
        ``tune.metric`` must be among them for tuning), then keep ``checkpoint`` as the
        end-of-epoch state. Call it on every rank, once per epoch.

        Raises:
            TrainingError: a metric is not a finite number.
            Preempted: SIGTERM arrived; ``checkpoint`` was written first.
            optuna.TrialPruned: in a tuning trial the pruner stopped this trial.
        """
        row = {"epoch": float(epoch + 1)}
        for name, value in metrics.items():
            number = float(value)
            if not math.isfinite(number):
                raise TrainingError(
                    f"train.entrypoint {self.config.train.entrypoint!r} reported {name}={number} "
                    f"at epoch {epoch + 1}: the loop diverged; lower train.learning_rate or clip "
                    "gradients (the built-in loop's rollback does not apply to a user loop)"
                )
            row[name] = number
        self.position = Position(
            epoch=epoch + 1,
            step=0,
            global_step=(epoch + 1) * self.per_epoch,
            history=[*self.position.history, row],
            sanity=self.position.sanity,
        )
        self._monitor.epoch_end(row, epoch=epoch, global_step=self.position.global_step)
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        if self._dist.all_reduce_sum([float(self._stop.requested)])[0] > 0:
            self._dist.barrier()
            kept = "checkpoint written" if checkpoint is not None else "no checkpoint passed"
            raise Preempted(f"stopped after epoch {epoch + 1} after SIGTERM ({kept})")
        if self._on_epoch is not None:
            try:
                self._on_epoch(epoch, row)
            except Exception as exc:  # the pruner's stop, or the caller's own error
                raise CallbackRaised(exc) from exc

    def save_model(self, module: nn.Module) -> None:
        """Hand over the trained model (call it once, on every rank, at the end): rank 0 writes
        it as the artifact that evaluate and register read.

        Raises:
            UserCodeError: the module's weights do not fit the architecture ``model`` builds,
                which is what a registered version is loaded into.
        """
        if isinstance(module, DistributedDataParallel):
            module = module.module
        if not isinstance(module, nn.Module):
            raise UserCodeError(
                f"train.entrypoint {self.config.train.entrypoint!r} passed a "
                f"{type(module).__name__} to ctx.save_model; pass the trained nn.Module"
            )
        expected = build_run_model(self.config, self.data).state_dict()
        got = module.state_dict()
        wrong = [
            name
            for name in sorted(set(expected) | set(got))
            if name not in expected or name not in got or expected[name].shape != got[name].shape
        ]
        if wrong:
            raise UserCodeError(
                f"train.entrypoint {self.config.train.entrypoint!r} saved a "
                f"{type(module).__name__} whose weights do not fit the model the config builds "
                f"(first differing: {', '.join(wrong[:3])}); save the module ctx.build_model() "
                "returned, since a registered version is loaded into that architecture"
            )
        self.saved_model = module


def _check_plain(value: Any, where: str) -> None:
    """Refuse what ``torch.load(weights_only=True)`` would refuse, naming where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise UserCodeError(
                    f"ctx.save_checkpoint: {where} has a key {key!r} of type "
                    f"{type(key).__name__}; use str or int keys"
                )
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise UserCodeError(
            f"ctx.save_checkpoint: {where} is a {type(value).__name__}; a checkpoint holds "
            "tensors, numbers, strings and dicts/lists of them (save model.state_dict(), "
            "not the model)"
        )

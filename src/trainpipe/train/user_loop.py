"""``train.entrypoint``: the user's training function, run under trainpipe's guarantees.

:func:`fit_user_loop` is what :func:`~trainpipe.train.loop.fit` runs when the config names an
entrypoint, so every backend that trains through ``fit`` (in-process, the job entrypoint under
torchrun, PyTorchJob and TrainJob pods, tuning trials) runs the user's function the same way:
seeded, with SIGTERM caught, the monitor started and always closed, and a
:class:`~trainpipe.train.state.FitResult` out. :func:`dry_run_entrypoint` runs it on one batch
before any job starts, so a function that does not import, raises, or never calls
``ctx.save_model`` stops the stage with its own line in the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from trainpipe.console import print_line
from trainpipe.errors import TrainingError, TrainpipeError, UserCodeError
from trainpipe.monitor.training import TrainingMonitor
from trainpipe.storage.factory import open_store
from trainpipe.train.checkpoint import list_checkpoints
from trainpipe.train.context import CallbackRaised, TrainContext
from trainpipe.train.distributed import DistContext
from trainpipe.train.faults import Faults
from trainpipe.train.guards import Preempted, StopFlag
from trainpipe.train.objective import load_user_loss
from trainpipe.train.sanity import run_sanity_checks
from trainpipe.train.seeding import configure_torch
from trainpipe.train.spec import TrainSpec
from trainpipe.train.state import EpochCallback, FailureCallback, FitResult
from trainpipe.train.training_data import TrainingData, load_training_data
from trainpipe.usercode.references import last_frame, load_reference

__all__ = ["dry_run_entrypoint", "fit_user_loop", "load_entrypoint"]

TrainFn = Callable[[TrainContext], Any]


def load_entrypoint(spec: TrainSpec) -> TrainFn:
    """The function ``train.entrypoint`` names.

    Raises:
        UserCodeError: it does not import, or is not a function of one argument (the context).
    """
    config = spec.config
    ref = config.train.entrypoint
    fn = load_reference(ref, setting="train.entrypoint", code=config.code)
    if not callable(fn):
        raise UserCodeError(
            f"train.entrypoint {ref!r} is a {type(fn).__name__}, not a function; name the "
            "function that takes the training context, e.g. 'mynet.loop:train'"
        )
    return fn


def fit_user_loop(
    spec: TrainSpec,
    ctx: DistContext,
    *,
    on_epoch: EpochCallback | None = None,
    checkpoint: bool = True,
    sanity_checks: bool = True,
    log: Callable[[str], None] = print_line,
    monitor: TrainingMonitor | None = None,
    on_failure: FailureCallback | None = None,
) -> FitResult:
    """Run ``train.entrypoint`` on this rank with a :class:`TrainContext`; the counterpart of
    :func:`~trainpipe.train.loop.fit` for a user's loop (same arguments, same result).

    The sanity checks (baselines, overfitting one batch with the configured model) run on rank
    0 before a fresh run, as in the built-in loop, so the gate can compare with the baselines;
    a run resuming from a checkpoint keeps the first result."""
    config = spec.config
    started = time.perf_counter()
    monitor = monitor or TrainingMonitor.quiet(config, run=spec.run_id, rank=ctx.rank)
    context: TrainContext | None = None
    try:
        faults = Faults.from_env()
        configure_torch(config, ctx)
        train_fn = load_entrypoint(spec)
        store = open_store(spec.checkpoint_location) if checkpoint else None
        with StopFlag().installed() as stop:
            context = TrainContext(
                config,
                ctx,
                load_training_data(
                    spec, device=ctx.device, log=log if ctx.is_main else None, ctx=ctx
                ),
                store=store,
                monitor=monitor,
                stop=stop,
                faults=faults,
                user_loss=load_user_loss(config),
                on_epoch=on_epoch,
                log=log,
            )
            fresh = store is None or not list_checkpoints(store)
            if fresh and ctx.is_main and sanity_checks and config.train.sanity_checks:
                context.position.sanity = run_sanity_checks(spec, data=context.data, log=log)
            monitor.start()
            _call(train_fn, context)
    except BaseException as exc:
        monitor.close()
        if on_failure is not None:
            history = list(context.position.history) if context is not None else []
            on_failure(exc, monitor.new_events(), history)
        raise
    finally:
        monitor.close()
    events = ctx.gather_lists(monitor.new_events())
    resources = ctx.gather_lists(monitor.resources)
    resumed = context.resumed_from
    assert context.saved_model is not None  # _call checked it
    return FitResult(
        model=context.saved_model,
        preprocess=context.data.preprocess,
        schema=context.data.schema,
        history=context.position.history,
        events=sorted(events, key=lambda e: (e["time"], e["rank"])),
        resumed_from_epoch=resumed.epoch if resumed else None,
        resumed_from_step=resumed.global_step if resumed else None,
        seconds=time.perf_counter() - started,
        resources=sorted(resources, key=lambda r: (r["seconds"], r["rank"])),
        sanity=context.position.sanity,
    )


def _call(train_fn: TrainFn, context: TrainContext) -> None:
    """Run the user's function; its own errors name the entrypoint and the line that raised."""
    ref = context.config.train.entrypoint
    try:
        train_fn(context)
    except CallbackRaised as raised:  # the pruner's TrialPruned, as the caller raised it
        raise raised.error from None
    except (Preempted, TrainpipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise TrainingError(
            f"train.entrypoint {ref!r} raised {type(exc).__name__}: {exc} at {last_frame(exc)}"
        ) from exc
    if context.saved_model is None:
        raise UserCodeError(
            f"train.entrypoint {ref!r} returned without calling ctx.save_model(model); end it "
            "with ctx.save_model(model) so evaluate and register have the trained model"
        )


def dry_run_entrypoint(
    spec: TrainSpec, *, metrics: Sequence[str] = (), data: TrainingData | None = None
) -> str:
    """Run ``train.entrypoint`` for one epoch of one batch, in this process, keeping nothing:
    it must import, run without raising, report each of ``metrics`` (tuning's objectives) and
    hand over a model with ``ctx.save_model``. ``data``: the run's data when the caller has
    read it already.

    Raises:
        UserCodeError: naming the entrypoint and what it did wrong, with its own failing line.
    """
    config = spec.config
    train_fn = load_entrypoint(spec)
    ctx = DistContext()
    configure_torch(config, ctx)
    context = TrainContext(
        config,
        ctx,
        data or load_training_data(spec, device=ctx.device),
        store=None,
        monitor=TrainingMonitor.quiet(config, run=spec.run_id),
        stop=StopFlag(),
        faults=Faults(),
        user_loss=load_user_loss(config),
        log=lambda line: None,
        max_steps=1,
    )
    try:
        _call(train_fn, context)
    except TrainingError as exc:
        raise UserCodeError(f"{exc} (a dry run on one batch, before any job started)") from exc
    reported = sorted({key for row in context.position.history for key in row} - {"epoch"})
    missing = [name for name in metrics if name not in reported]
    if missing:
        raise UserCodeError(
            f"train.entrypoint {config.train.entrypoint!r} does not report {', '.join(missing)}, "
            f"which tuning optimizes (it reported: {', '.join(reported) or 'nothing'}); pass it "
            "to ctx.report(epoch, ...) every epoch (ctx.evaluate(model) returns val_loss and "
            "val_accuracy) or set tune.metric to one it reports"
        )
    return (
        f"train.entrypoint {config.train.entrypoint} ran one batch and saved a "
        f"{type(context.saved_model).__name__}"
        + (f", reporting {', '.join(reported)}" if reported else ", reporting nothing")
    )

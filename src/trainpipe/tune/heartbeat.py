"""A running trial's heartbeat, and giving a trial back when its worker stops.

A trial beats from a thread of its own, every quarter of ``tune.stale_trial_seconds`` (at most
every 30 s), for as long as its worker process lives: an epoch or a trial job longer than the
limit is not taken for a dead worker's. A trial is stale only when its worker stopped beating,
that is, when the worker process is gone (killed, or its machine lost).

A worker stopped by SIGINT or SIGTERM gives its running trial back before it exits: the trial is
recorded as retried (``stale-trial-<number>``, as a dead worker's is), told FAIL, and its
parameters are enqueued again, so a study resumed at once still reaches ``tune.max_trials``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import optuna
from optuna.trial import TrialState

from trainpipe.tune.study import HEARTBEAT, STALE_PREFIX

MAX_INTERVAL = 30.0


class WorkerStopped(BaseException):
    """SIGTERM reached a tuning worker (SIGINT raises ``KeyboardInterrupt``)."""


def beat_interval(stale_seconds: float) -> float:
    """Seconds between two heartbeats: a quarter of the stale limit, at most 30."""
    return min(MAX_INTERVAL, max(0.05, stale_seconds / 4))


@contextlib.contextmanager
def heartbeat(trial: optuna.Trial, *, stale_seconds: float) -> Iterator[None]:
    """Beat for ``trial`` from a thread while the block runs."""
    stop = threading.Event()
    interval = beat_interval(stale_seconds)

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a storage hiccup: the next beat tries again
                trial.set_user_attr(HEARTBEAT, time.time())

    trial.set_user_attr(HEARTBEAT, time.time())
    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def give_back(study: optuna.Study, number: int, params: dict[str, object], reason: str) -> bool:
    """Record trial ``number`` as retried for ``reason``, fail it and enqueue its parameters;
    False when it had already finished."""
    study.set_user_attr(f"{STALE_PREFIX}{number}", reason)
    try:
        study.tell(number, state=TrialState.FAIL)
    except (RuntimeError, ValueError):
        return False
    if params:  # stopped before it drew its parameters: a fresh trial replaces it
        study.enqueue_trial(params, user_attrs={"retry_of": number})
    return True


@contextlib.contextmanager
def sigterm_stops_the_worker() -> Iterator[None]:
    """Turn SIGTERM into :class:`WorkerStopped` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise WorkerStopped("SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
